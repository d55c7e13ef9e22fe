"""The screen-pop by phone through the real server, next to the bare lookup on asyncpg.

    .venv/bin/python -m bench.screen_pop [--customers 1000000] [--events-per-customer 10]

Customers and their histories are loaded through POST /v1/events/bulk (the import path),
each customer named by its phone.
"""

import argparse
import asyncio
import json
import random
import time
from datetime import UTC, datetime, timedelta

from bench.harness import running_service, write_results
from bench.load import build, fire
from bench.routing import ceiling

TYPES = [
    ("call.completed", lambda n: {"duration_s": n % 900, "agent": f"agent-{n % 20}"}),
    ("email.received", lambda n: {"subject": f"Question {n}"}),
    (
        "order.placed",
        lambda n: {
            "order_id": f"SO-{n}",
            "total": f"{10 + n % 200}.90",
            "currency": "EUR",
            "items": [{"sku": f"SKU-{n % 50}", "qty": 1}],
        },
    ),
    (
        "ticket.opened",
        lambda n: {"ticket_id": f"T-{n}", "category": ["delivery", "billing", "product"][n % 3]},
    ),
    ("survey.answered", lambda n: {"csat": 1 + n % 5}),
]


def phone(n: int) -> str:
    return f"+3461{n:07d}"


def import_batches(customers: int, per_customer: int, batch: int = 10_000) -> list[bytes]:
    start = datetime(2025, 1, 1, tzinfo=UTC)
    lines, bodies = [], []
    for c in range(customers):
        for k in range(per_customer):
            n = c * per_customer + k
            type_, payload = TYPES[n % len(TYPES)]
            lines.append(
                json.dumps(
                    {
                        "customer": {"phone": phone(c), "display_name": f"Cliente {c}"},
                        "type": type_,
                        "occurred_at": (start + timedelta(minutes=n)).isoformat(),
                        "source": "seed",
                        "source_event_id": str(n),
                        "payload": payload(n),
                    },
                    separators=(",", ":"),
                )
            )
            if len(lines) == batch:
                bodies.append(("\n".join(lines) + "\n").encode())
                lines = []
    if lines:
        bodies.append(("\n".join(lines) + "\n").encode())
    return bodies


async def run(
    customers: int, per_customer: int, requests: int, concurrency: int
) -> dict[str, object]:
    with running_service(extra_env={"CH_DB_POOL_SIZE": str(concurrency)}) as service:
        auth = {"Authorization": f"Bearer {service.admin_key}"}
        bodies = import_batches(customers, per_customer)
        began = time.perf_counter()
        loads = [
            build(
                service.base_url,
                "POST",
                "/v1/events/bulk",
                {**auth, "Content-Type": "application/x-ndjson"},
                body,
            )
            for body in bodies
        ]
        seeded = await fire(service.base_url, loads, 2, seconds=3600)
        seed_seconds = time.perf_counter() - began
        rng = random.Random(3)
        numbers = [phone(rng.randrange(customers)) for _ in range(requests)]
        pops = [
            build(service.base_url, "GET", f"/v1/fichas/by-phone/%2B{n[1:]}?role=support", auth)
            for n in numbers
        ]
        await fire(service.base_url, pops[:500], concurrency)  # warm up
        outcome = await fire(service.base_url, pops, concurrency)
        bare = await ceiling(service.database_url, numbers, concurrency)
    api = outcome.summary()
    return {
        "customers": customers,
        "events": customers * per_customer,
        "seed_statuses": seeded.statuses,
        "seed_seconds": round(seed_seconds, 1),
        "concurrency": concurrency,
        "screen_pop": api,
        "asyncpg_ceiling": bare,
        "rps_ratio": round(int(api["requests_per_second"]) / int(bare["requests_per_second"]), 3),  # type: ignore[call-overload]
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--events-per-customer", type=int, default=10)
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    figures = asyncio.run(
        run(args.customers, args.events_per_customer, args.requests, args.concurrency)
    )
    print(f"{'metric':<18} value")
    for name, value in figures.items():
        print(f"{name:<18} {value}")
    print(f"written to {write_results('screen_pop', figures)}")


if __name__ == "__main__":
    main()
