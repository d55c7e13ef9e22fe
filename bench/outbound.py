"""Outbound webhooks: ingest throughput with 3 active subscriptions against none, and the
rate the sender delivers to a local receiver.

.venv/bin/python -m bench.outbound [--deliveries 3000] [--concurrency 32]

Each run is its own service on a fresh embedded PostgreSQL: the signed Shopify and Twilio
mix of bench/webhooks.py, first with no subscription, then with three subscriptions to
`call.*` and `order.*` pointed at a receiver on 127.0.0.1 that answers 200 at once, the
sender running meanwhile in the same process (as in production). The delivery rate is
the receiver's: deliveries received over the time from its first to its last.
"""

import argparse
import asyncio
import json
import time
import urllib.request

from bench.harness import running_service, write_results
from bench.load import fire
from bench.webhooks import SECRETS, deliveries

SUBSCRIPTIONS = 3


class Receiver:
    """Counts POSTs and answers 200 at once (keep-alive)."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.port = 0

    async def start(self) -> asyncio.Server:
        server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        return server

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
        except (
            asyncio.IncompleteReadError,
            ConnectionError,
            StopIteration,
            asyncio.CancelledError,
        ):
            writer.close()


def subscribe(base: str, key: str, url: str) -> None:
    request = urllib.request.Request(
        f"{base}/v1/webhook-subscriptions",
        data=json.dumps({"url": url, "kinds": ["call.*", "order.*"]}).encode(),
        headers={"Authorization": f"Bearer {key}", "content-type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.status == 201


async def drained(receiver: Receiver) -> dict[str, object]:
    """Wait until nothing more arrives for 3 s (3 min at most); the receiver's rate."""
    last, deadline = -1, time.perf_counter() + 180
    while time.perf_counter() < deadline:
        await asyncio.sleep(3)
        if len(receiver.times) == last:
            break
        last = len(receiver.times)
    sent = len(receiver.times)
    span = receiver.times[-1] - receiver.times[0] if sent > 1 else 0
    return {"deliveries": sent, "per_second": round(sent / span, 1) if span else None}


async def ingest(
    count: int, concurrency: int, receiver: Receiver | None, sending: bool
) -> dict[str, object]:
    """Ingest throughput; with a receiver, three subscriptions to it, and the delivery
    rate: of the sender running meanwhile (``sending``), else of one started afterwards on
    the same database (so that the ingest figure is the outbox's cost alone)."""
    poll = {"CH_OUTBOUND_POLL_SECONDS": "1" if sending else "0"}
    local = {"CH_OUTBOUND_PRIVATE_NETWORKS": "true"}  # the receiver is on 127.0.0.1
    env = {**SECRETS, "CH_DB_POOL_SIZE": str(max(10, concurrency)), **poll, **local}
    with running_service(extra_env=env) as service:
        if receiver is not None:
            for _ in range(SUBSCRIPTIONS):
                subscribe(service.base_url, service.admin_key, f"http://127.0.0.1:{receiver.port}/")
        outcome = await fire(service.base_url, deliveries(service.base_url, 0, count), concurrency)
        figures: dict[str, object] = {"ingest": outcome.summary()}
        if receiver is not None and sending:
            figures["outbound"] = await drained(receiver)
        elif receiver is not None:
            sender_env = {**env, "CH_OUTBOUND_POLL_SECONDS": "0.2"}
            with running_service(extra_env=sender_env, database_url=service.database_url):
                figures["outbound"] = await drained(receiver)
    return figures


async def run(count: int, concurrency: int) -> dict[str, object]:
    none = await ingest(count, concurrency, None, sending=False)
    figures: dict[str, object] = {
        "deliveries": count,
        "concurrency": concurrency,
        "no_subscription": none["ingest"],
    }
    for name, sending in (("sender_apart", False), ("sender_in_process", True)):
        receiver = Receiver()
        server = await receiver.start()
        try:
            three = await ingest(count, concurrency, receiver, sending)
        finally:
            server.close()
        figures[f"three_subscriptions_{name}"] = three["ingest"]
        figures[f"outbound_{name}"] = three["outbound"]
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--deliveries", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    figures = asyncio.run(run(args.deliveries, args.concurrency))
    print(json.dumps(figures, indent=2, default=str))
    print(f"written to {write_results('outbound', figures)}")


if __name__ == "__main__":
    main()
