"""Every hot path next to its ceiling, both measured in the same run, at 1 and 2 workers.

    make bench                  # or: .venv/bin/python -m bench [--customers 100000] ...
    BENCH_DATABASE_URL=postgresql://... .venv/bin/python -m bench --seeded

One database (BENCH_DATABASE_URL, else an embedded PostgreSQL for the run) is seeded
through COPY, then for each worker count the real server is started on it and driven
from this process on 127.0.0.1 (keep-alive HTTP/1.1 on asyncio streams), each figure
followed by its ceiling on asyncpg directly:

- screen-pop by phone (support ficha) / the identify-and-stats lookup;
- signed webhook deliveries, Shopify and Twilio alternately / a bare single-row INSERT;
- a timeline page of 50 events / the page's SQL;
- bulk import (NDJSON, 10,000 lines a request) / COPY of as many event rows.

Prints a table and writes bench/results/suite.json. Never part of the test pass/fail.
"""

import argparse
import asyncio
import json
import os
import platform
import random
import time
import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg

from app.core.db import plain_url
from app.seed import HISTORY_COLUMNS, history, seed
from bench.bulk_import import import_events
from bench.harness import Service, bench_database, running_service, write_results
from bench.load import Outcome, build, fire, on_asyncpg
from bench.routing import ceiling
from bench.webhooks import SECRETS, deliveries

PAGE = 50
BATCH = 10_000  # NDJSON lines per bulk request, and rows per COPY
IMPORT_CONCURRENCY = 2  # bulk requests (and COPY streams) in flight

# The SQL behind one timeline page (the ORM's statement, newest first, one more than
# shown to know whether there is a next page).
PAGE_SQL = (
    "SELECT * FROM events WHERE customer_id = ANY($1::uuid[]) AND type <> 'event.corrected' "
    "ORDER BY occurred_at DESC, id DESC LIMIT $2"
)
SINGLE_ROWS = (
    "CREATE TABLE IF NOT EXISTS bench_single_rows "
    "(id uuid PRIMARY KEY, received_at timestamptz NOT NULL DEFAULT now(), body jsonb NOT NULL)"
)
SINGLE_ROW = "INSERT INTO bench_single_rows (id, body) VALUES ($1, $2::jsonb)"


@dataclass
class Line:
    """One row of the table: a figure of the API and its ceiling from the same run."""

    workers: int
    path: str
    api: Outcome
    ceiling_name: str
    ceiling: Outcome
    unit: str = "req/s"

    def as_dict(self) -> dict[str, Any]:
        return {
            "workers": self.workers,
            "path": self.path,
            "unit": self.unit,
            "api": self.api.summary(),
            "ceiling": {"what": self.ceiling_name, **self.ceiling.summary()},
            "ratio": round(self.api.per_second / self.ceiling.per_second, 3),
        }


@dataclass
class Plan:
    customers: int
    events_per_customer: int
    seeded: bool
    workers: list[int]
    concurrency: int
    requests: int
    import_events: int


async def prepare(url: str, plan: Plan) -> dict[str, Any]:
    """Seed the database unless it already is, and pick callers and timeline subjects."""
    facts: dict[str, Any] = {}
    if not plan.seeded:
        report = await seed(url, plan.customers, plan.events_per_customer)
        facts["seed"] = {
            "customers": report.customers,
            "events": report.events,
            "seconds": report.seconds,
            "events_per_second": round(report.events / report.seconds),
        }
    conn = await asyncpg.connect(plain_url(url))
    try:
        subjects = await _subjects(conn)
        if len(subjects) < 1000:  # customers with a page and more of history
            await seed(url, 1000, PAGE + 10, seed_=2)
            subjects = await _subjects(conn)
        await conn.execute("ANALYZE")
        await conn.execute(SINGLE_ROWS)
        facts |= {
            "customers": await conn.fetchval("SELECT count(*) FROM customers"),
            "events": await conn.fetchval("SELECT count(*) FROM events"),
            "postgresql": await conn.fetchval("SHOW server_version"),
            "phones": [
                r["value"]
                for r in await conn.fetch(
                    "SELECT value FROM customer_identifiers TABLESAMPLE SYSTEM (5) "
                    "WHERE kind = 'phone' LIMIT $1",
                    plan.requests,
                )
            ],
            "subjects": subjects,
            # Deliveries and imported events must be new in every run, also on a
            # database reused with --seeded: number them past every key taken so far.
            "offset": await conn.fetchval("SELECT count(*) FROM event_keys"),
        }
    finally:
        await conn.close()
    return facts


async def _subjects(conn: asyncpg.Connection) -> list[uuid.UUID]:
    rows = await conn.fetch(
        "SELECT customer_id FROM events GROUP BY customer_id HAVING count(*) > $1 LIMIT 1000",
        PAGE,
    )
    return [r["customer_id"] for r in rows]


def _cycle(items: list[Any], count: int) -> list[Any]:
    return (items * (count // max(len(items), 1) + 1))[:count]


async def screen_pop(service: Service, phones: list[str], plan: Plan, workers: int) -> Line:
    auth = {"Authorization": f"Bearer {service.admin_key}"}
    numbers = _cycle(phones, plan.requests)
    pops = [
        build(service.base_url, "GET", f"/v1/fichas/by-phone/%2B{n[1:]}?role=support", auth)
        for n in numbers
    ]
    await fire(service.base_url, pops[:500], plan.concurrency)  # warm up
    api = await fire(service.base_url, pops, plan.concurrency)
    bare = await ceiling(service.database_url, numbers, plan.concurrency)
    return Line(workers, "screen-pop by phone", api, "identify + stats lookup", bare)


async def webhooks(service: Service, first: int, plan: Plan, workers: int) -> Line:
    api = await fire(
        service.base_url, deliveries(service.base_url, first, plan.requests), plan.concurrency
    )
    body = json.dumps({"id": 1, "email": "buyer@bench.example", "total_price": "47.00"})

    async def insert(conn: asyncpg.Connection, _: int) -> None:
        await conn.execute(SINGLE_ROW, uuid.uuid4(), body)

    bare = await on_asyncpg(
        service.database_url, list(range(plan.requests)), plan.concurrency, insert
    )
    return Line(workers, "webhook (Shopify, Twilio)", api, "single-row INSERT", bare)


async def timeline(service: Service, subjects: list[uuid.UUID], plan: Plan, workers: int) -> Line:
    auth = {"Authorization": f"Bearer {service.admin_key}"}
    chosen = _cycle(random.Random(3).sample(subjects, len(subjects)), plan.requests)
    pages = [
        build(service.base_url, "GET", f"/v1/customers/{c}/timeline?limit={PAGE}", auth)
        for c in chosen
    ]
    await fire(service.base_url, pages[:300], plan.concurrency)  # warm up
    api = await fire(service.base_url, pages, plan.concurrency)

    async def page(conn: asyncpg.Connection, customer: uuid.UUID) -> None:
        await conn.fetch(PAGE_SQL, [customer], PAGE + 1)

    bare = await on_asyncpg(service.database_url, chosen, plan.concurrency, page)
    return Line(workers, f"timeline page ({PAGE} events)", api, "the page's SQL", bare)


async def bulk_import(
    service: Service, first: int, subjects: list[uuid.UUID], plan: Plan, workers: int
) -> Line:
    figures = await import_events(
        service.base_url,
        service.admin_key,
        first,
        plan.import_events,
        BATCH,
        IMPORT_CONCURRENCY,
        customers=20_000,
    )
    if figures["errors"]:
        raise RuntimeError(f"the bulk import rejected lines: {figures}")
    api = Outcome(seconds=float(figures["seconds"]), count=int(figures["created"]))
    rng = random.Random(first)
    rows = [
        row
        for customer in _cycle(subjects, plan.import_events // 10)
        for row in history(rng, customer, 10, "EUR")
    ]
    batches = [rows[i : i + BATCH] for i in range(0, len(rows), BATCH)]

    async def copy(conn: asyncpg.Connection, batch: list[tuple[Any, ...]]) -> None:
        await conn.copy_records_to_table("events", records=batch, columns=HISTORY_COLUMNS)

    began = time.perf_counter()
    await on_asyncpg(service.database_url, batches, IMPORT_CONCURRENCY, copy)
    bare = Outcome(seconds=time.perf_counter() - began, count=len(rows))
    return Line(workers, "bulk import", api, "COPY into events", bare, unit="events/s")


async def measure(url: str, facts: dict[str, Any], plan: Plan, workers: int) -> list[Line]:
    env = {**SECRETS, "CH_DB_POOL_SIZE": str(max(10, plan.concurrency // workers))}
    first = workers * 10_000_000 + facts["offset"]
    with running_service(workers=workers, extra_env=env, database_url=url) as service:
        return [
            await screen_pop(service, facts["phones"], plan, workers),
            await webhooks(service, first, plan, workers),
            await timeline(service, facts["subjects"], plan, workers),
            await bulk_import(service, first, facts["subjects"], plan, workers),
        ]


def table(lines: list[Line]) -> str:
    head = (
        f"{'workers':>7}  {'path':<27} {'rate':>9} {'p50 ms':>8} {'p99 ms':>8}   "
        f"{'ceiling':<24} {'rate':>9} {'p50 ms':>8} {'p99 ms':>8}  {'ratio':>6}"
    )
    rows = [head, "-" * len(head)]
    for line in lines:
        figure = line.as_dict()
        api, bare = figure["api"], figure["ceiling"]
        rows.append(
            f"{line.workers:>7}  {line.path:<27} {api['per_second']:>9,} "
            f"{_ms(api, 'p50_ms')} {_ms(api, 'p99_ms')}   "
            f"{line.ceiling_name:<24} {bare['per_second']:>9,} "
            f"{_ms(bare, 'p50_ms')} {_ms(bare, 'p99_ms')}  {figure['ratio']:>6.3f}"
        )
    rows.append("rates in requests/s, bulk import and COPY in events/s")
    for line in lines:
        failed = {s: n for s, n in line.api.statuses.items() if not 200 <= s < 300}
        if failed:
            rows.append(f"NOT ALL ANSWERED 2xx: {line.path} at {line.workers} workers {failed}")
    return "\n".join(rows)


def _ms(figures: dict[str, Any], key: str) -> str:
    return f"{figures[key]:>8.2f}" if key in figures else f"{'-':>8}"


async def run(url: str, plan: Plan) -> dict[str, Any]:
    facts = await prepare(url, plan)
    lines = [line for w in plan.workers for line in await measure(url, facts, plan, w)]
    conn = await asyncpg.connect(plain_url(url))
    await conn.execute("DROP TABLE bench_single_rows")
    await conn.close()
    print(table(lines))
    return {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "database": {
            "postgresql": facts["postgresql"],
            "server": "BENCH_DATABASE_URL" if "BENCH_DATABASE_URL" in os.environ else "embedded",
            "customers": facts["customers"],
            "events": facts["events"],
            **({"seed": facts["seed"]} if "seed" in facts else {}),
        },
        "concurrency": plan.concurrency,
        "lines": [line.as_dict() for line in lines],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--events-per-customer", type=int, default=10)
    parser.add_argument("--seeded", action="store_true", help="the database is already seeded")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--concurrency", type=int, default=32, help="connections at once")
    parser.add_argument("--requests", type=int, default=4000, help="per HTTP figure")
    parser.add_argument("--import-events", type=int, default=100_000)
    args = parser.parse_args()
    plan = Plan(
        args.customers,
        args.events_per_customer,
        args.seeded,
        args.workers,
        args.concurrency,
        args.requests,
        args.import_events,
    )
    with bench_database() as url:
        figures = asyncio.run(run(url, plan))
    print(f"written to {write_results('suite', figures)}")


if __name__ == "__main__":
    main()
