"""Outbound webhooks in the suite: a local receiver that answers 200 at once, three
subscriptions to it, and the sender draining what ingestion queued.

By default the serving process the suite measures never sends
(``CH_OUTBOUND_POLL_SECONDS=0``), so its worker CPU per delivery is ingestion's alone,
outbox row included. The sender runs apart, as the one process of a deployment that
leads sending: ``drain`` starts it on the same database once a round's deliveries are
in, and times it from the moment it is up until nothing is left to send. With
``--sender-in-process`` the serving process sends, as in a one-process deployment: it
sends while it ingests, and ``drain`` waits for it to finish.
"""

import asyncio
import contextlib
import time
from typing import Any

import asyncpg
import httpx

from app.core.db import plain_url
from bench.harness import Service, cpu_seconds, running_service, worker_pids

SUBSCRIPTIONS = 3
KINDS = ["call.*", "order.*"]  # what the Shopify and Twilio mix appends
SENDER_POLL_SECONDS = "0.1"
LEFT_TO_SEND = (
    "SELECT (SELECT count(*) FROM outbox) "
    "+ (SELECT count(*) FROM outbound_deliveries WHERE status = 'pending')"
)


class Receiver:
    """Counts POSTs and answers 200 at once (keep-alive), on 127.0.0.1 in the bench's own
    event loop."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.port = 0
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> "Receiver":
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._server is not None:
            self._server.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(line.split(b":", 1)[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                await reader.readexactly(length)
                self.times.append(time.perf_counter())
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, StopIteration):
            writer.close()


async def subscribe(service: Service, url: str) -> list[str]:
    """``SUBSCRIPTIONS`` subscriptions of ``url`` to the mix's kinds; their ids."""
    auth = {"Authorization": f"Bearer {service.admin_key}"}
    async with httpx.AsyncClient(base_url=service.base_url, headers=auth) as http:
        ids = []
        for _ in range(SUBSCRIPTIONS):
            answer = await http.post("/v1/webhook-subscriptions", json={"url": url, "kinds": KINDS})
            answer.raise_for_status()
            ids.append(answer.json()["id"])
        return ids


async def unsubscribe(service: Service, ids: list[str]) -> None:
    """Delete the subscriptions, their deliveries with them: the next round starts with none."""
    auth = {"Authorization": f"Bearer {service.admin_key}"}
    async with httpx.AsyncClient(base_url=service.base_url, headers=auth) as http:
        for id_ in ids:
            (await http.delete(f"/v1/webhook-subscriptions/{id_}")).raise_for_status()


async def drain(
    database_url: str, receiver: Receiver, env: dict[str, str], sender: Service | None = None
) -> dict[str, Any]:
    """Wait until the outbox and the pending deliveries are empty, with ``sender`` sending
    (the serving process), else a sender started apart on ``database_url``; deliveries per
    second from the moment it was up to the last one received, and its CPU per delivery."""
    conn = await asyncpg.connect(plain_url(database_url))
    try:
        with contextlib.ExitStack() as stack:
            if sender is None:
                apart = {
                    **env,
                    "CH_OUTBOUND_POLL_SECONDS": SENDER_POLL_SECONDS,
                    "CH_MAINTENANCE_SECONDS": "0",
                }
                # Started on a thread: the receiver answers in this event loop meanwhile.
                sender = await asyncio.to_thread(
                    stack.enter_context, running_service(extra_env=apart, database_url=database_url)
                )
            pids = worker_pids(sender.pid)
            cpu, began, before = cpu_seconds(pids), time.perf_counter(), len(receiver.times)
            deadline = began + 600
            while await conn.fetchval(LEFT_TO_SEND):
                if time.perf_counter() > deadline:
                    raise RuntimeError("the sender did not drain in 10 minutes")
                await asyncio.sleep(0.1)
            cpu = cpu_seconds(pids) - cpu
            await asyncio.to_thread(stack.close)
    finally:
        await conn.close()
    count = len(receiver.times) - before
    seconds = (receiver.times[-1] - began) if count else 0.0
    return {
        "count": count,
        "seconds": round(seconds, 3),
        "per_second": round(count / seconds, 1) if seconds else 0.0,
        "worker_cpu_ms": round(cpu * 1000 / max(count, 1), 3),
    }
