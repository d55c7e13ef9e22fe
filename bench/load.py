"""A small keep-alive HTTP/1.1 load generator on asyncio streams.

httpx costs more CPU per request than the service it measures; this client only writes
pre-built requests and reads status lines and bodies, so the figures are the server's.
"""

import asyncio
import statistics
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit


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
    seconds: float
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)

    def summary(self) -> dict[str, object]:
        ordered = sorted(self.latencies)
        count = len(ordered)
        return {
            "requests": count,
            "statuses": dict(sorted(self.statuses.items())),
            "requests_per_second": round(count / self.seconds),
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
