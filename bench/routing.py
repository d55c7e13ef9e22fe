"""Routing by phone (IVR / ACD) at 100,000 customers, next to the bare lookup on asyncpg.

.venv/bin/python -m bench.routing [--customers 100000] [--requests 20000] [--concurrency 32]
"""

import argparse
import asyncio
import random
import time

import asyncpg

from app.core.db import plain_url
from bench.ceiling_app import LOOKUP
from bench.harness import running_service, write_results
from bench.load import Outcome, build, fire, on_asyncpg

SEED = """
INSERT INTO customers (id, kind, display_name, tier, preferred_language)
SELECT gen_random_uuid(), 'person', 'Bench ' || n,
       (ARRAY['standard', 'standard', 'standard', 'premium', 'vip'])[1 + n % 5],
       (ARRAY['es', 'pt', 'fr', 'en'])[1 + n % 4]
FROM generate_series(1, $1) AS n;
"""
SEED_PHONES = """
INSERT INTO customer_identifiers (id, customer_id, kind, value)
SELECT gen_random_uuid(), id, 'phone',
       '+3461' || lpad((row_number() OVER (ORDER BY id))::text, 7, '0')
FROM customers WHERE display_name LIKE 'Bench %';
"""
SEED_STATS = """
INSERT INTO customer_stats (customer_id, state, indicators, flags)
SELECT id, '{}'::jsonb, '{}'::jsonb,
       CASE WHEN random() < 0.05 THEN ARRAY['open_dispute'] ELSE '{}'::text[] END
FROM customers WHERE display_name LIKE 'Bench %' ON CONFLICT DO NOTHING;
"""


def phones(customers: int, count: int) -> list[str]:
    rng = random.Random(7)
    # 90% known callers, 10% unknown numbers
    return [
        f"+3461{rng.randrange(1, customers + 1):07d}"
        if rng.random() < 0.9
        else f"+3469{rng.randrange(10**7):07d}"
        for _ in range(count)
    ]


# What the access log adds to a read: one insert per lookup, as the fichas write it.
ACCESS_LOG = (
    "INSERT INTO access_log (id, customer_id, key_id, role, what) "
    "VALUES (gen_random_uuid(), $1, gen_random_uuid(), 'support', 'screen-pop:support')"
)


async def ceiling(
    url: str,
    numbers: list[str],
    concurrency: int,
    *,
    log_access: bool = False,
    seconds: float | None = None,
) -> Outcome:
    """The same lookup on asyncpg alone (prepared, one pool): the ceiling of the API's
    figure; with ``log_access`` each lookup also writes its access-log row. Each number
    once, or round and round them for ``seconds``."""

    async def lookup(conn: asyncpg.Connection, number: str) -> None:
        row = await conn.fetchrow(LOOKUP, number)
        if log_access and row is not None:
            await conn.execute(ACCESS_LOG, row["id"])

    return await on_asyncpg(url, numbers, concurrency, lookup, seconds)


async def run(customers: int, requests: int, concurrency: int, workers: int) -> dict[str, object]:
    env = {"CH_DB_POOL_SIZE": str(max(10, concurrency // workers))}
    with running_service(workers=workers, extra_env=env) as service:
        conn = await asyncpg.connect(plain_url(service.database_url))
        began = time.perf_counter()
        await conn.execute(SEED, customers)
        await conn.execute(SEED_PHONES)
        await conn.execute(SEED_STATS)
        await conn.execute("ANALYZE")
        await conn.close()
        seeded = time.perf_counter() - began
        numbers = phones(customers, requests)
        headers = {"Authorization": f"Bearer {service.admin_key}"}
        raw = [
            build(service.base_url, "GET", f"/v1/routing/by-phone/%2B{n[1:]}", headers)
            for n in numbers
        ]
        await fire(service.base_url, raw[:1000], concurrency)  # warm up
        outcome = await fire(service.base_url, raw, concurrency)
        bare = await ceiling(service.database_url, numbers, concurrency)
    return {
        "customers": customers,
        "workers": workers,
        "concurrency": concurrency,
        "seed_seconds": round(seeded, 1),
        "api": outcome.summary(),
        "asyncpg_ceiling": bare.summary(),
        "api_vs_ceiling_rps": round(outcome.per_second / bare.per_second, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    figures = asyncio.run(run(args.customers, args.requests, args.concurrency, args.workers))
    print(f"{'metric':<22} value")
    for name, value in figures.items():
        print(f"{name:<22} {value}")
    print(f"written to {write_results(f'routing_{args.workers}w', figures)}")


if __name__ == "__main__":
    main()
