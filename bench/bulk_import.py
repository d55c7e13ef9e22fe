"""Import events through POST /v1/events/bulk and print events per second.

.venv/bin/python -m bench.bulk_import [--events 1000000] [--batch 10000] [--concurrency 2]
"""

import argparse
import asyncio
import json
import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from bench.harness import running_service, write_results

START = datetime(2024, 1, 1, tzinfo=UTC)


def batch_body(first: int, size: int, customers: int, source: str = "bench") -> bytes:
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
            "source": source,
            "source_event_id": str(n),
        }
        lines.append(json.dumps(event, separators=(",", ":")))
    return ("\n".join(lines) + "\n").encode()


async def import_events(
    base_url: str,
    key: str,
    first: int,
    events: int,
    batch: int,
    concurrency: int,
    customers: int,
    source: str = "bench",
) -> dict[str, Any]:
    """Events ``first`` .. ``first + events`` of ``source`` in batches of ``batch`` lines
    (built before the clock starts), ``concurrency`` requests in flight; what the service
    answered for each line, and the rate."""
    headers = {"Authorization": f"Bearer {key}", "content-type": "application/x-ndjson"}
    queue = [
        batch_body(start, min(batch, first + events - start), customers, source)
        for start in reversed(range(first, first + events, batch))
    ]
    answers: list[str] = []  # read after the clock stops
    async with httpx.AsyncClient(base_url=base_url, timeout=300) as client:

        async def worker() -> None:
            while queue:
                body = queue.pop()
                response = await client.post("/v1/events/bulk", content=body, headers=headers)
                response.raise_for_status()
                answers.append(response.text)

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - began
    statuses = [json.loads(line)["status"] for text in answers for line in text.splitlines()]
    created, errors = statuses.count("created"), statuses.count("error")
    return {
        "events": events,
        "created": created,
        "errors": errors,
        "seconds": round(elapsed, 2),
        "events_per_second": round(created / elapsed),
    }


async def run(events: int, batch: int, concurrency: int, customers: int) -> dict[str, object]:
    with running_service() as service:
        figures = await import_events(
            service.base_url, service.admin_key, 0, events, batch, concurrency, customers
        )
    return {**figures, "batch": batch, "concurrency": concurrency, "customers": customers}


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
