"""The screen-pop by phone through the real server, next to the bare lookup on asyncpg.

    .venv/bin/python -m bench.screen_pop [--customers 1000000] [--events-per-customer 10]
    BENCH_DATABASE_URL=postgresql://... .venv/bin/python -m bench.screen_pop --seeded

Customers and their histories are loaded with `customer-history seed` (COPY; the bulk
import API runs at ~5,000 events/s, so ten million events would take over half an hour),
unless --seeded says the database at BENCH_DATABASE_URL already holds them. Callers are
drawn at random from the phones on file.
"""

import argparse
import asyncio
import time

import asyncpg

from app.core.db import plain_url
from app.seed import seed
from bench.harness import running_service, write_results
from bench.load import build, fire
from bench.routing import ceiling


async def run(
    customers: int, per_customer: int, seeded: bool, requests: int, concurrency: int
) -> dict[str, object]:
    with running_service(extra_env={"CH_DB_POOL_SIZE": str(concurrency)}) as service:
        auth = {"Authorization": f"Bearer {service.admin_key}"}
        seed_seconds = None
        if not seeded:
            began = time.perf_counter()
            await seed(service.database_url, customers, per_customer)
            seed_seconds = round(time.perf_counter() - began, 1)
        conn = await asyncpg.connect(plain_url(service.database_url))
        held = await conn.fetchval("SELECT count(*) FROM customers")
        events = await conn.fetchval("SELECT count(*) FROM events")
        numbers = [
            r["value"]
            for r in await conn.fetch(
                "SELECT value FROM customer_identifiers TABLESAMPLE SYSTEM (5) "
                "WHERE kind = 'phone' LIMIT $1",
                requests,
            )
        ]
        await conn.close()
        numbers = (numbers * (requests // max(len(numbers), 1) + 1))[:requests]
        pops = [
            build(service.base_url, "GET", f"/v1/fichas/by-phone/%2B{n[1:]}?role=support", auth)
            for n in numbers
        ]
        await fire(service.base_url, pops[:500], concurrency)  # warm up
        outcome = await fire(service.base_url, pops, concurrency)
        bare = await ceiling(service.database_url, numbers, concurrency)
        logged = await ceiling(service.database_url, numbers, concurrency, log_access=True)
    return {
        "customers": held,
        "events": events,
        "seed_seconds": seed_seconds,
        "concurrency": concurrency,
        "screen_pop": outcome.summary(),
        "asyncpg_ceiling": bare.summary(),
        "asyncpg_ceiling_with_access_log": logged.summary(),
        "rps_ratio": round(outcome.per_second / bare.per_second, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--events-per-customer", type=int, default=10)
    parser.add_argument("--seeded", action="store_true", help="the database is already seeded")
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    figures = asyncio.run(
        run(
            args.customers,
            args.events_per_customer,
            args.seeded,
            args.requests,
            args.concurrency,
        )
    )
    print(f"{'metric':<18} value")
    for name, value in figures.items():
        print(f"{name:<18} {value}")
    print(f"written to {write_results('screen_pop', figures)}")


if __name__ == "__main__":
    main()
