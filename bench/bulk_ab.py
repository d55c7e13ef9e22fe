"""The bulk import of several working trees side by side, each beside COPY, in one run.

.venv/bin/python -m bench.bulk_ab main=/path/to/main-tree this=. [--rounds 4] [--events 20000]

Each tree (a checkout with its own .venv) serves on one embedded PostgreSQL, migrated and
seeded once; after a warm-up import each, every round has each tree import ``--events``
new events (10,000-line requests, two in flight, 20,000 customers by email) and then
``COPY`` as many event rows (two streams), the trees' order swapped from one round to the
next, so that drift on a shared machine reaches all of them. Besides the rates, the CPU
the tree's worker and PostgreSQL (every backend) used per event, which a busy machine
moves far less than a rate.
"""

import argparse
import asyncio
import contextlib
import os
import random
import re
import statistics
import time
from pathlib import Path
from typing import Any

import asyncpg

from app.core.db import plain_url
from app.seed import HISTORY_COLUMNS, history, seed
from bench import harness
from bench.bulk_import import import_events
from bench.load import on_asyncpg

BATCH = 10_000
CONCURRENCY = 2
CUSTOMERS = 20_000


def postgres_cpu_seconds(database_url: str) -> float:
    """CPU time the embedded PostgreSQL serving ``database_url`` has used so far: the
    postmaster, the children it reaped and those alive (the pools' backends)."""
    socket_dir = re.search(r"host=([^&]+)", database_url)
    assert socket_dir, "an embedded PostgreSQL, reached by its socket directory"
    postmaster = int(Path(socket_dir.group(1), "postmaster.pid").read_text().split()[0])
    fields = Path(f"/proc/{postmaster}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = sum(int(f) for f in fields[11:15])  # utime, stime, cutime, cstime
    children = Path(f"/proc/{postmaster}/task/{postmaster}/children").read_text().split()
    for child in children:
        with contextlib.suppress(FileNotFoundError):
            fields = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


async def copy_rows(database_url: str, count: int, seed_: int) -> float:
    """``count`` event rows of seeded customers through COPY, two streams: rows/s."""
    conn = await asyncpg.connect(plain_url(database_url))
    subjects = [r[0] for r in await conn.fetch("SELECT id FROM customers LIMIT 1000")]
    await conn.close()
    rng = random.Random(seed_)
    customers = (subjects * (count // 10 // len(subjects) + 1))[: count // 10]
    rows = [row for customer in customers for row in history(rng, customer, 10, "EUR")]
    batches = [rows[i : i + BATCH] for i in range(0, len(rows), BATCH)]

    async def copy(conn: asyncpg.Connection, batch: list[tuple[Any, ...]]) -> None:
        await conn.copy_records_to_table("events", records=batch, columns=HISTORY_COLUMNS)

    began = time.perf_counter()
    await on_asyncpg(database_url, batches, CONCURRENCY, copy)
    return len(rows) / (time.perf_counter() - began)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("trees", nargs="+", help="name=path of a checkout with its .venv")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--events", type=int, default=20_000, help="per tree and round")
    args = parser.parse_args()
    trees = dict(tree.split("=", 1) for tree in args.trees)
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
    with harness.bench_database() as url, contextlib.ExitStack() as stack:
        asyncio.run(seed(url, 2000, 10))
        services = {}
        for name, tree in trees.items():
            harness.BIN = Path(tree).resolve() / ".venv/bin/customer-history"
            services[name] = stack.enter_context(
                harness.running_service(database_url=url, extra_env={"CH_DB_POOL_SIZE": "32"})
            )
        number = 0

        def imported(name: str) -> dict[str, Any]:
            nonlocal number
            service = services[name]
            first, number = number, number + args.events
            return asyncio.run(
                import_events(
                    service.base_url, service.admin_key, first, args.events, BATCH,
                    CONCURRENCY, CUSTOMERS, source=f"ab-{name}",
                )
            )  # fmt: skip

        for name in services:
            imported(name)  # the warm-up: customers created, caches filled
        for index in range(args.rounds):
            order = list(services) if index % 2 == 0 else list(reversed(services))
            for name in order:
                workers = harness.worker_pids(services[name].pid)
                worker_cpu, postgres_cpu = harness.cpu_seconds(workers), postgres_cpu_seconds(url)
                figures = imported(name)
                worker_cpu = harness.cpu_seconds(workers) - worker_cpu
                postgres_cpu = postgres_cpu_seconds(url) - postgres_cpu
                if figures["errors"]:
                    raise RuntimeError(f"the bulk import rejected lines: {figures}")
                copied = asyncio.run(copy_rows(url, args.events, number + index))
                run = {
                    "events/s": figures["events_per_second"],
                    "COPY rows/s": copied,
                    "ratio": figures["events_per_second"] / copied,
                    "worker ms/event": 1000 * worker_cpu / figures["created"],
                    "PostgreSQL ms/event": 1000 * postgres_cpu / figures["created"],
                }
                runs[name].append(run)
                shown = "  ".join(f"{k} {v:,.3f}" for k, v in run.items())
                print(f"round {index + 1} {name}: {shown}", flush=True)
    print("medians:")
    for name, taken in runs.items():
        shown = "  ".join(f"{k} {statistics.median(r[k] for r in taken):,.3f}" for k in taken[0])
        print(f"{name}: {shown}")


if __name__ == "__main__":
    main()
