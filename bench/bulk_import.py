"""Import events through POST /v1/events/bulk and print events per second.

.venv/bin/python -m bench.bulk_import [--events 1000000] [--batch 10000] [--concurrency 2]
"""

import argparse
import asyncio
import json
import random
import time
from datetime import UTC, datetime, timedelta

import httpx

from bench.harness import running_service, write_results

START = datetime(2024, 1, 1, tzinfo=UTC)


def batch_body(first: int, size: int, customers: int) -> bytes:
    rng = random.Random(first)
    lines = []
    for n in range(first, first + size):
        customer = rng.randrange(customers)
        at = (START + timedelta(minutes=n)).isoformat()
        if n % 3 == 0:
            event = {
                "type": "order.placed",
                "payload": {
                    "order_id": f"SO-{n}",
                    "items": [{"sku": f"SKU-{n % 97}", "qty": 1, "unit_price": "19.90"}],
                    "total": "19.90",
                    "currency": "EUR",
                },
            }
        elif n % 3 == 1:
            event = {"type": "call.completed", "payload": {"duration_s": n % 600, "agent": "a1"}}
        else:
            event = {"type": "email.received", "payload": {"subject": f"Question {n}"}}
        event |= {
            "customer": {"email": f"customer{customer}@bench.example"},
            "occurred_at": at,
            "source": "bench",
            "source_event_id": str(n),
        }
        lines.append(json.dumps(event, separators=(",", ":")))
    return ("\n".join(lines) + "\n").encode()


async def run(events: int, batch: int, concurrency: int, customers: int) -> dict[str, object]:
    with running_service() as service:
        headers = {
            "Authorization": f"Bearer {service.admin_key}",
            "content-type": "application/x-ndjson",
        }
        starts = list(range(0, events, batch))
        queue: asyncio.Queue[int] = asyncio.Queue()
        for start in starts:
            queue.put_nowait(start)
        created = 0
        errors = 0
        async with httpx.AsyncClient(base_url=service.base_url, timeout=300) as client:

            async def worker() -> None:
                nonlocal created, errors
                while not queue.empty():
                    start = queue.get_nowait()
                    body = batch_body(start, min(batch, events - start), customers)
                    response = await client.post("/v1/events/bulk", content=body, headers=headers)
                    response.raise_for_status()
                    for line in response.text.splitlines():
                        status = json.loads(line)["status"]
                        created += status == "created"
                        errors += status == "error"

            began = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(concurrency)))
            elapsed = time.perf_counter() - began
    return {
        "events": events,
        "created": created,
        "errors": errors,
        "batch": batch,
        "concurrency": concurrency,
        "customers": customers,
        "seconds": round(elapsed, 2),
        "events_per_second": round(created / elapsed),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--customers", type=int, default=50_000)
    args = parser.parse_args()
    figures = asyncio.run(run(args.events, args.batch, args.concurrency, args.customers))
    print(f"{'metric':<20} value")
    for name, value in figures.items():
        print(f"{name:<20} {value}")
    print(f"written to {write_results('bulk_import', figures)}")


if __name__ == "__main__":
    main()
