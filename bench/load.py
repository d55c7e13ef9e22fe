"""A small keep-alive HTTP/1.1 load generator on asyncio streams.

httpx costs more CPU per request than the service it measures; this client only writes
pre-built requests and reads status lines and bodies, so the figures are the server's.
"""

import asyncio
import itertools
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar
from urllib.parse import urlsplit

import asyncpg

from app.core.db import plain_url, plan_once

Item = TypeVar("Item")


def build(
    base_url: str, method: str, path: str, headers: dict[str, str], body: bytes = b""
) -> bytes:
    """One serialised request (Host and Content-Length are added)."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {urlsplit(base_url).netloc}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


@dataclass
class Outcome:
    """What a run did: one latency per request, or only a ``count`` (of events in whole
    batches) when single latencies mean nothing."""

    seconds: float
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    count: int | None = None

    @property
    def per_second(self) -> int:
        count = len(self.latencies) if self.count is None else self.count
        return round(count / self.seconds)

    def summary(self) -> dict[str, object]:
        if self.count is not None:
            return {
                "count": self.count,
                "seconds": round(self.seconds, 2),
                "per_second": self.per_second,
            }
        ordered = sorted(self.latencies)
        count = len(ordered)
        return {
            "requests": count,
            **({"statuses": dict(sorted(self.statuses.items()))} if self.statuses else {}),
            "per_second": self.per_second,
            "p50_ms": round(statistics.median(ordered) * 1000, 2),
            "p99_ms": round(ordered[max(0, int(count * 0.99) - 1)] * 1000, 2),
        }


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    if length:
        await reader.readexactly(length)
    return status


async def fire(
    base_url: str, requests: list[bytes], concurrency: int, seconds: float = 120
) -> Outcome:
    """Send every request once over ``concurrency`` connections, bounded in time."""
    target = urlsplit(base_url)
    queue = list(reversed(requests))
    outcome = Outcome(seconds=0)
    deadline = time.perf_counter() + seconds

    async def connection() -> None:
        reader, writer = await asyncio.open_connection(target.hostname, target.port)
        try:
            while queue and time.perf_counter() < deadline:
                request = queue.pop()
                began = time.perf_counter()
                writer.write(request)
                status = await _read_response(reader)
                outcome.latencies.append(time.perf_counter() - began)
                outcome.statuses[status] = outcome.statuses.get(status, 0) + 1
        finally:
            writer.close()

    began = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(concurrency)))
    outcome.seconds = time.perf_counter() - began
    return outcome


async def on_asyncpg(
    database_url: str,
    items: list[Item],
    concurrency: int,
    call: Callable[[asyncpg.Connection, Item], Awaitable[object]],
    seconds: float | None = None,
) -> Outcome:
    """``call`` once per item, or round and round the items for ``seconds``, over
    ``concurrency`` pooled connections: the ceiling of an API figure (asyncpg prepares and
    caches each statement on first use)."""
    pool = await asyncpg.create_pool(
        plain_url(database_url),
        min_size=concurrency,
        max_size=concurrency,
        init=plan_once,
        reset=plan_once,  # asyncpg's own reset (RESET ALL) would undo it
    )
    if seconds is not None:
        # Round and round: every connection makes the call once before the clock starts,
        # as the service's pool is warm when it is measured; on Citus a connection's first
        # statement also opens its connections to the workers (seconds for 32 at once).
        connections = [await pool.acquire() for _ in range(concurrency)]
        await asyncio.gather(*(call(conn, items[0]) for conn in connections))
        for conn in connections:
            await pool.release(conn)
    source = iter(items) if seconds is None else itertools.cycle(items)
    outcome = Outcome(seconds=0)
    began = time.perf_counter()
    deadline = began + (seconds or 0)

    async def worker() -> None:
        async with pool.acquire() as conn:
            for item in source:
                start = time.perf_counter()
                await call(conn, item)
                outcome.latencies.append(time.perf_counter() - start)
                if seconds is not None and time.perf_counter() >= deadline:
                    break

    try:
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    finally:
        outcome.seconds = time.perf_counter() - began
        await pool.close()
    return outcome
