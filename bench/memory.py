"""The worker's resident memory: after startup, under the read paths, and through bulk imports.

.venv/bin/python -m bench.memory [--customers 5000] [--events 40000] [--reads 2000]

Starts the service on a fresh embedded PostgreSQL (or BENCH_DATABASE_URL) with
``extra`` environment (``--env NAME=VALUE``, repeatable, e.g. MALLOC_ARENA_MAX=2), and
prints its VmRSS after /readyz answers, after ``--reads`` screen-pops, routings and
timeline pages, at its peak during the import (10,000-line requests, two in flight as in
``make bench``) and once the import is over; with ``/proc/<pid>/smaps_rollup``'s
anonymous share at each step.
"""

import argparse
import asyncio
import time
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from app.core.db import plain_url
from app.seed import seed
from bench.bulk_import import import_events
from bench.harness import (
    ResidentPeak,
    Service,
    resident_mib,
    running_service,
    worker_pids,
    write_results,
)


def anonymous_mib(pid: int) -> float:
    """The process's anonymous resident memory (the heap, not the mapped code), in MiB."""
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Anonymous:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def _targets(url: str, customers: int) -> tuple[list[str], list[str]]:
    """Seed ``customers`` with ten events each; phones on file and customers with a history."""
    await seed(url, customers, 10)
    conn = await asyncpg.connect(plain_url(url))
    try:
        phones = await conn.fetch(
            "SELECT value FROM customer_identifiers WHERE kind = 'phone' LIMIT 2000"
        )
        subjects = await conn.fetch("SELECT DISTINCT customer_id FROM events LIMIT 1000")
    finally:
        await conn.close()
    return [r["value"] for r in phones], [str(r["customer_id"]) for r in subjects]


async def _reads(service: Service, phones: list[str], subjects: list[str], count: int) -> None:
    """``count`` rounds of a screen-pop, a routing, an identify and a timeline page."""
    headers = {"Authorization": f"Bearer {service.admin_key}"}
    async with httpx.AsyncClient(base_url=service.base_url, headers=headers, timeout=60) as c:

        async def one(n: int) -> None:
            phone, subject = phones[n % len(phones)], subjects[n % len(subjects)]
            for path in (
                f"/v1/fichas/by-phone/{phone}?role=support",
                f"/v1/routing/by-phone/{phone}",
                f"/v1/identify?phone={phone}",
                f"/v1/customers/{subject}/timeline?limit=50",
            ):
                (await c.get(path)).raise_for_status()

        for start in range(0, count, 32):
            await asyncio.gather(*(one(n) for n in range(start, min(count, start + 32))))


async def run(customers: int, events: int, reads: int, extra: dict[str, str]) -> dict[str, Any]:
    figures: dict[str, Any] = {"env": extra}
    with running_service(extra_env=extra) as service:
        pid = worker_pids(service.pid)[0]

        def step(name: str) -> None:
            figures[name] = {
                "rss_mib": round(resident_mib(pid), 1),
                "anonymous_mib": round(anonymous_mib(pid), 1),
            }

        step("started")
        phones, subjects = await _targets(service.database_url, customers)
        with ResidentPeak([pid]) as peak:
            await _reads(service, phones, subjects, reads)
            step("after reads")
            figures["peak before import"] = round(peak.peak_mib, 1)
            peak.phase = "bulk import"
            began = time.perf_counter()
            imported = await import_events(
                service.base_url, service.admin_key, 0, events, 10_000, 2, 20_000
            )
            figures["import seconds"] = round(time.perf_counter() - began, 2)
            figures["import"] = imported
            step("after import")
        figures["peak"] = round(peak.peak_mib, 1)
        await asyncio.sleep(2)
        step("idle after import")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=5_000, help="seeded before the reads")
    parser.add_argument("--events", type=int, default=40_000)
    parser.add_argument("--reads", type=int, default=2_000)
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE for the server")
    args = parser.parse_args()
    extra = dict(item.split("=", 1) for item in args.env)
    figures = asyncio.run(run(args.customers, args.events, args.reads, extra))
    for name, value in figures.items():
        print(f"{name:<22} {value}")
    print(f"written to {write_results('memory', figures)}")


if __name__ == "__main__":
    main()
