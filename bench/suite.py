"""Every hot-path target with its ratio to a ceiling measured in the same run.

    make bench      # = .venv/bin/python -m bench [--customers 100000] [--seconds 10]
                    #   [--rounds 3] [--workers 1] [--seeded]
    BENCH_DATABASE_URL=postgresql://... .venv/bin/python -m bench --seeded

One database (BENCH_DATABASE_URL, else an embedded PostgreSQL for the run) is seeded
through COPY. For each worker count the real server and the bare endpoints of
``bench/ceiling_app.py`` are started on it, each under uvicorn as its own process with
that many workers, and driven by wrk (32 keep-alive connections, one wrk thread; one
connection for the one-caller figures) with pre-built requests: phones rotating over the
seeded customers, pre-signed webhook deliveries each sent once. The driver ceilings
(the statement alone on asyncpg, COPY) run in this process. Each round takes every
figure once, a service figure beside its ceiling, so drift on a shared machine touches
both; the table gives the median of the rounds:

- screen-pop by phone (support ficha), routing by phone, identify / the bare lookup
  endpoint, and it / the lookup on asyncpg;
- ``/healthz`` / a bare ``/ping``;
- signed Shopify and Twilio deliveries / the bare insert endpoint, and it / a
  single-row INSERT on asyncpg;
- the same deliveries with three active subscriptions / with none, taken one after the
  other in each round, and the rate the sender (a process of its own) drains what they
  queued to a local receiver (``bench/outbound.py``);
- signed generic deliveries of e-mails with 1 KB of customer text, received (analysed at
  ingestion) / sent (stored, not analysed), one after the other in each round
  (``bench/text_ingest.py``);
- a timeline page of 50 events / the page's SQL on asyncpg;
- bulk import (NDJSON, 10,000 lines a request) / COPY of as many event rows;
- the resident memory of the service's worker at its peak during the run.

Prints the table of targets and writes bench/results/suite.json. Never part of the
test pass/fail.
"""

import argparse
import asyncio
import functools
import json
import os
import platform
import random
import statistics
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from app.core.db import plain_url
from app.seed import HISTORY_COLUMNS, history, seed
from bench import wrk
from bench.bulk_import import import_events
from bench.ceiling_app import DELIVERIES_TABLE, CallerLookup
from bench.harness import (
    ResidentPeak,
    Service,
    bench_database,
    cpu_seconds,
    running_ceiling,
    running_service,
    worker_pids,
    write_results,
)
from bench.load import Outcome, build, on_asyncpg
from bench.outbound import (
    SENDER_POLL_SECONDS,
    SUBSCRIPTIONS,
    Receiver,
    drain,
    subscribe,
    unsubscribe,
)
from bench.text_ingest import SECRET as TEXT_SECRET
from bench.text_ingest import deliveries as text_deliveries
from bench.webhooks import SECRETS, bare_deliveries, deliveries

PAGE = 50
BATCH = 10_000  # NDJSON lines per bulk request, and rows per COPY
IMPORT_CONCURRENCY = 2  # bulk requests (and COPY streams) in flight
CALLERS = 4000  # phones the read paths rotate over
WARM_UP_SECONDS = 3
# Webhook deliveries are each sent once, so a run needs more than it can send: half as
# many again as the fastest rate seen so far (at first these), and a run that spends them
# all is taken again with twice as many (wrk times it to the end of its duration).
FIRST_DELIVERY_RATES = {
    "webhooks": 500.0,
    "webhooks, 3 subscriptions": 500.0,
    "bare insert endpoint": 4_000.0,
    "webhooks, text stored": 500.0,
    "webhooks, text analysed": 500.0,
}

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

# The figures of a round, by name: what is measured and in which unit it is counted.
UNITS = {
    "screen-pop": "req/s",
    "routing": "req/s",
    "identify": "req/s",
    "bare lookup endpoint": "req/s",
    "lookup on asyncpg": "q/s",
    "screen-pop, one caller": "req/s",
    "bare lookup endpoint, one caller": "req/s",
    "healthz": "req/s",
    "bare /ping": "req/s",
    "webhooks": "req/s",
    "webhooks, 3 subscriptions": "req/s",
    "webhooks, text stored": "req/s",
    "webhooks, text analysed": "req/s",
    "outbound deliveries": "deliveries/s",
    "bare insert endpoint": "req/s",
    "single-row INSERT on asyncpg": "q/s",
    "timeline page": "req/s",
    "timeline SQL on asyncpg": "q/s",
    "bulk import": "events/s",
    "COPY into events": "rows/s",
}


@dataclass(frozen=True)
class Target:
    """One row of the table: a service figure against its ceiling (or, without one, a
    bound of its own), and the bound the issue sets; a row without a bound is context."""

    path: str
    figure: str
    ceiling: str | None
    measure: str  # per_second, p50_ms, p99_ms or peak_mib
    bound: float | None = None
    at_least: bool = True

    def judge(self, value: float) -> str:
        if self.bound is None:
            return ""
        return "pass" if (value >= self.bound if self.at_least else value <= self.bound) else "miss"

    def describe(self) -> str:
        if self.bound is None:
            return ""
        sign = ">=" if self.at_least else "<="
        if self.ceiling is not None:
            return f"{sign} {self.bound:g}x"
        unit = "MiB" if self.measure == "peak_mib" else UNITS[self.figure]
        return f"{sign} {self.bound:,.0f} {unit}"


TARGETS = (
    Target("screen-pop by phone, support ficha", "screen-pop", "bare lookup endpoint",
           "per_second", 0.5),
    Target("screen-pop p99", "screen-pop", "bare lookup endpoint", "p99_ms", 2, False),
    Target("screen-pop, one caller, p50", "screen-pop, one caller",
           "bare lookup endpoint, one caller", "p50_ms", 2, False),
    Target("routing by phone", "routing", "bare lookup endpoint", "per_second", 0.7),
    Target("identify", "identify", "bare lookup endpoint", "per_second", 0.7),
    Target("/healthz (the middleware stack)", "healthz", "bare /ping", "per_second", 0.8),
    Target("signed webhook delivery", "webhooks", "bare insert endpoint", "per_second", 0.3),
    Target(f"webhooks, {SUBSCRIPTIONS} active subscriptions",
           f"webhooks, {SUBSCRIPTIONS} subscriptions", "webhooks", "per_second", 0.9),
    Target("webhooks, 1 KB e-mails analysed at ingestion", "webhooks, text analysed",
           "webhooks, text stored", "per_second", 0.9),
    Target("outbound, sender to a local receiver", "outbound deliveries", None, "per_second"),
    Target(f"timeline page of {PAGE}", "timeline page", "timeline SQL on asyncpg",
           "per_second", 0.4),
    Target("bulk import, 10,000-line requests", "bulk import", "COPY into events",
           "per_second", 0.4),
    Target("bulk import, 10,000-line requests", "bulk import", None, "per_second", 30_000),
    Target("memory: RSS of one worker at its peak", "memory", None, "peak_mib", 200, False),
    Target("bare lookup endpoint", "bare lookup endpoint", "lookup on asyncpg", "per_second"),
    Target("bare insert endpoint", "bare insert endpoint", "single-row INSERT on asyncpg",
           "per_second"),
)  # fmt: skip


@dataclass
class Plan:
    customers: int
    events_per_customer: int
    seeded: bool
    workers: list[int]
    connections: int
    seconds: int
    rounds: int
    import_events: int
    sender_in_process: bool = False


@dataclass
class Figures:
    """Every run of every figure, one summary per round, in the order taken."""

    runs: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))

    def add(self, name: str, summary: dict[str, Any]) -> None:
        self.runs[name].append(summary)

    def median(self, name: str, measure: str) -> float:
        return float(statistics.median(run[measure] for run in self.runs[name]))


@dataclass
class Bench:
    """The two servers of one worker count, what they are sent, and what was measured."""

    service: Service
    bare: Service
    facts: dict[str, Any]
    plan: Plan
    memory: ResidentPeak
    receiver: Receiver
    env: dict[str, str]  # the service's settings, which the sender started apart shares
    figures: Figures = field(default_factory=Figures)
    numbered: int = 0  # deliveries and imported events numbered so far in this run
    delivery_rates: dict[str, float] = field(default_factory=lambda: dict(FIRST_DELIVERY_RATES))
    peak_before_import_mib: float | None = None  # the worker's RSS before the first import
    # Rounds done. Every other round takes each pair of service runs compared with each
    # other in the other order: what the first run leaves PostgreSQL to do (a checkpoint,
    # autovacuum of the rows it wrote) falls on each alike.
    rounds_done: int = 0

    def __post_init__(self) -> None:
        auth = {"Authorization": f"Bearer {self.service.admin_key}"}
        phones = [f"%2B{p[1:]}" for p in self.facts["phones"]]
        subjects = random.Random(3).sample(self.facts["subjects"], len(self.facts["subjects"]))

        def requests(server: Service, paths: list[str]) -> list[bytes]:
            return [build(server.base_url, "GET", path, auth) for path in paths]

        self.reads = {
            "screen-pop": requests(
                self.service, [f"/v1/fichas/by-phone/{p}?role=support" for p in phones]
            ),
            "routing": requests(self.service, [f"/v1/routing/by-phone/{p}" for p in phones]),
            "identify": requests(self.service, [f"/v1/identify?phone={p}" for p in phones]),
            "bare lookup endpoint": requests(self.bare, [f"/lookup/{p}" for p in phones]),
            "healthz": requests(self.service, ["/healthz"]),
            "bare /ping": requests(self.bare, ["/ping"]),
            "timeline page": requests(
                self.service, [f"/v1/customers/{c}/timeline?limit={PAGE}" for c in subjects]
            ),
        }

    def _numbers(self, count: int) -> int:
        """The first of ``count`` numbers no delivery or import of this run has used."""
        first = self.numbered
        self.numbered += count
        return first

    async def wrk(
        self,
        name: str,
        requests: list[bytes],
        *,
        seconds: int = 0,
        connections: int = 0,
        once: bool = False,
    ) -> dict[str, Any]:
        """One wrk run of ``requests`` against the server ``name`` belongs to: its figures,
        with the CPU time its workers spent per request."""
        server = self.bare if name.startswith("bare") else self.service
        workers = worker_pids(server.pid)
        self.memory.phase = name
        cpu = cpu_seconds(workers)
        run = await asyncio.to_thread(
            wrk.run,
            server.base_url,
            requests,
            seconds or self.plan.seconds,
            connections or self.plan.connections,
            once=once,
        )
        cpu = cpu_seconds(workers) - cpu
        self.memory.phase = "idle"
        if run.failed:
            raise RuntimeError(f"{name}: {run.failed} requests failed ({run.summary()})")
        return run.summary() | _cpu_per(cpu, run.requests)

    async def read(self, name: str) -> None:
        one = name.endswith(", one caller")
        requests = self.reads[name.removesuffix(", one caller")]
        self.figures.add(name, await self.wrk(name, requests, connections=1 if one else 0))

    @property
    def swapped(self) -> bool:
        """Whether this round takes each pair of compared runs in the other order."""
        return self.rounds_done % 2 == 1

    async def webhooks(self, *, warm_up: bool = False) -> None:
        """Pre-signed deliveries through the service with no subscription and with three
        (the sender then draining what they queued), in turns (``swapped``), then unsigned
        ones through the bare insert endpoint; each delivery new, each sent once."""
        if not self.swapped:
            await self.deliveries("webhooks", deliveries, self.service, warm_up)
        subscriptions = await subscribe(self.service, self.receiver.url)
        name = f"webhooks, {SUBSCRIPTIONS} subscriptions"
        await self.deliveries(name, deliveries, self.service, warm_up)
        in_process = self.service if self.plan.sender_in_process else None
        drained = await drain(self.service.database_url, self.receiver, self.env, in_process)
        await unsubscribe(self.service, subscriptions)
        if not warm_up:
            self.figures.add("outbound deliveries", drained)
        if self.swapped:
            await self.deliveries("webhooks", deliveries, self.service, warm_up)
        await self.deliveries("bare insert endpoint", bare_deliveries, self.bare, warm_up)

    async def text_ingest(self, *, warm_up: bool = False) -> None:
        """Signed e-mails of 1 KB of customer text through the generic webhook: sent ones
        (stored as they are) and received ones (analysed at ingestion), in turns
        (``swapped``)."""
        kinds = [("webhooks, text stored", False), ("webhooks, text analysed", True)]
        if self.swapped:
            kinds.reverse()
        for name, analysed in kinds:
            make = functools.partial(text_deliveries, analysed=analysed)
            await self.deliveries(name, make, self.service, warm_up)

    async def deliveries(
        self, name: str, make: Callable[..., list[bytes]], server: Service, warm_up: bool
    ) -> None:
        """One run of new deliveries: as many as it could send, taken again with twice as
        many when it sent them all before its time was up."""
        seconds = WARM_UP_SECONDS if warm_up else self.plan.seconds
        while True:
            count = round(self.delivery_rates[name] * 1.5 * seconds) + 500
            first = self.facts["stamp"] + self._numbers(count)
            requests = make(server.base_url, first, count)
            figures = await self.wrk(name, requests, seconds=seconds, once=True)
            if not figures.get("spent"):
                break
            self.delivery_rates[name] *= 2
        self.delivery_rates[name] = max(self.delivery_rates[name], figures["per_second"])
        if not warm_up:
            self.figures.add(name, figures)

    async def warm_up(self) -> None:
        for name, requests in self.reads.items():
            await self.wrk(name, requests, seconds=WARM_UP_SECONDS)
        await self.webhooks(warm_up=True)
        await self.text_ingest(warm_up=True)

    async def on_driver(self, name: str, items: list[Any], call: Callable[..., Any]) -> None:
        outcome = await on_asyncpg(
            self.service.database_url, items, self.plan.connections, call, self.plan.seconds
        )
        self.figures.add(name, outcome.summary())

    async def bulk_import(self) -> None:
        """NDJSON through the service, then as many event rows through COPY."""
        if self.peak_before_import_mib is None:
            self.peak_before_import_mib = self.memory.peak_mib
        self.memory.phase = "bulk import"
        workers = worker_pids(self.service.pid)
        cpu = cpu_seconds(workers)
        figures = await import_events(
            self.service.base_url,
            self.service.admin_key,
            self._numbers(self.plan.import_events),
            self.plan.import_events,
            BATCH,
            IMPORT_CONCURRENCY,
            customers=20_000,
            source=f"bench-{self.facts['stamp']}",
        )
        cpu = cpu_seconds(workers) - cpu
        self.memory.phase = "idle"
        if figures["errors"]:
            raise RuntimeError(f"the bulk import rejected lines: {figures}")
        imported = Outcome(seconds=float(figures["seconds"]), count=int(figures["created"]))
        self.figures.add("bulk import", imported.summary() | _cpu_per(cpu, imported.count or 1))
        rng = random.Random(self.numbered)
        rows = [
            row
            for customer in _cycle(self.facts["subjects"], self.plan.import_events // 10)
            for row in history(rng, customer, 10, "EUR")
        ]
        batches = [rows[i : i + BATCH] for i in range(0, len(rows), BATCH)]

        async def copy(conn: asyncpg.Connection, batch: list[tuple[Any, ...]]) -> None:
            await conn.copy_records_to_table("events", records=batch, columns=HISTORY_COLUMNS)

        began = time.perf_counter()
        await on_asyncpg(self.service.database_url, batches, IMPORT_CONCURRENCY, copy)
        copied = Outcome(seconds=time.perf_counter() - began, count=len(rows))
        self.figures.add("COPY into events", copied.summary())

    async def round(self) -> None:
        """Every figure once, each service figure beside its ceiling."""
        await self.read("bare lookup endpoint")
        await self.read("screen-pop")
        await self.read("routing")
        await self.read("identify")
        await self.on_driver("lookup on asyncpg", self.facts["phones"], self.facts["lookup"])
        await self.read("screen-pop, one caller")
        await self.read("bare lookup endpoint, one caller")
        await self.read("healthz")
        await self.read("bare /ping")
        await self.webhooks()
        await self.text_ingest()
        await self.on_driver("single-row INSERT on asyncpg", [None], _insert)
        await self.read("timeline page")
        await self.on_driver("timeline SQL on asyncpg", self.facts["subjects"], _page)
        await self.bulk_import()
        self.rounds_done += 1


def _cpu_per(seconds: float, count: int) -> dict[str, float]:
    """The workers' CPU time per request (or event), in ms: unlike a rate, it hardly moves
    when other work on the machine takes the cores."""
    return {"worker_cpu_ms": round(seconds * 1000 / max(count, 1), 3)}


_ROW_BODY = json.dumps({"id": 1, "email": "buyer@bench.example", "total_price": "47.00"})


async def _insert(conn: asyncpg.Connection, _: None) -> None:
    await conn.execute(SINGLE_ROW, uuid.uuid4(), _ROW_BODY)


async def _page(conn: asyncpg.Connection, customer: uuid.UUID) -> None:
    await conn.fetch(PAGE_SQL, [customer], PAGE + 1)


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
        await conn.execute(DELIVERIES_TABLE)
        await conn.execute("TRUNCATE bench_single_rows, bench_deliveries")
        facts |= {
            "customers": await conn.fetchval("SELECT count(*) FROM customers"),
            "events": await conn.fetchval("SELECT count(*) FROM events"),
            "postgresql": await conn.fetchval("SHOW server_version"),
            "phones": [
                r["value"]
                for r in await conn.fetch(
                    "SELECT value FROM customer_identifiers TABLESAMPLE SYSTEM (5) "
                    "WHERE kind = 'phone' LIMIT $1",
                    CALLERS,
                )
            ],
            "subjects": subjects,
            "lookup": await CallerLookup.on(conn),
            # Deliveries and imported events must be new in every run, also on a database
            # reused with --seeded: their ids start from the run's start in microseconds.
            "stamp": time.time_ns() // 1000,
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


async def measure(url: str, facts: dict[str, Any], plan: Plan, workers: int) -> dict[str, Any]:
    """Every round at ``workers`` workers; the runs, the medians and the targets."""
    pool = max(10, plan.connections // workers)
    # The outbound receiver is on 127.0.0.1, which subscriptions may reach only when let.
    env = {
        **SECRETS,
        "CH_WEBHOOK_GENERIC_SECRETS": TEXT_SECRET,
        "CH_DB_POOL_SIZE": str(pool),
        "CH_OUTBOUND_PRIVATE_NETWORKS": "true",
    }
    # The serving process sends only when asked to; else a sender runs apart
    # (bench/outbound.py).
    poll = SENDER_POLL_SECONDS if plan.sender_in_process else "0"
    serving = {**env, "CH_OUTBOUND_POLL_SECONDS": poll}
    async with Receiver() as receiver:
        with (
            running_service(workers=workers, extra_env=serving, database_url=url) as service,
            running_ceiling(workers, url, pool) as bare,
            ResidentPeak(worker_pids(service.pid)) as memory,
        ):
            bench = Bench(service, bare, facts, plan, memory, receiver, env)
            await bench.warm_up()
            for number in range(plan.rounds):
                print(f"workers {workers}, round {number + 1} of {plan.rounds} ...", flush=True)
                await bench.round()
    figures = bench.figures
    memory_figure = {
        "peak_mib": round(memory.peak_mib, 1),
        "during": memory.peak_phase,
        "peak_before_import_mib": round(bench.peak_before_import_mib or 0, 1),
    }
    rows = [_row(target, figures, memory_figure) for target in TARGETS]
    return {
        "workers": workers,
        "targets": rows,
        "memory": memory_figure,
        "medians": {
            name: {
                measure: figures.median(name, measure)
                for measure in ("per_second", "p50_ms", "p99_ms", "worker_cpu_ms")
                if measure in runs[0]
            }
            for name, runs in figures.runs.items()
        },
        "runs": figures.runs,
    }


def _row(target: Target, figures: Figures, memory: dict[str, Any]) -> dict[str, Any]:
    if target.figure == "memory":
        value = memory["peak_mib"]
    else:
        value = figures.median(target.figure, target.measure)
    row: dict[str, Any] = {
        "path": target.path,
        "figure": target.figure,
        "measure": target.measure,
        "value": value,
    }
    judged = value
    if target.ceiling is not None:
        bound = figures.median(target.ceiling, target.measure)
        judged = value / bound
        row |= {"ceiling": target.ceiling, "ceiling_value": bound, "ratio": round(judged, 3)}
        if target.measure == "per_second" and "worker_cpu_ms" in figures.runs[target.ceiling][0]:
            # What the rate ratio would be if both were bound by their worker's CPU alone.
            cpu = figures.median(target.figure, "worker_cpu_ms")
            row["cpu_ratio"] = round(figures.median(target.ceiling, "worker_cpu_ms") / cpu, 3)
    if target.bound is not None:
        row |= {"target": target.describe(), "result": target.judge(judged)}
    return row


def _quantity(figure: str, measure: str, value: float) -> str:
    if measure == "per_second":
        return f"{value:,.0f} {UNITS[figure]}"
    if measure == "peak_mib":
        return f"{value:,.0f} MiB"
    return f"{value:,.2f} ms"


def table(measured: dict[str, Any]) -> str:
    """The targets, then every figure's medians, as printed."""
    head = (
        f"{'path':<37} {'service':>14}   {'ceiling':<33} {'':>13} {'ratio':>6}  "
        f"{'target':<18} {'result':<6}  {'CPU ratio':>9}"
    )
    lines = [head, "-" * len(head)]
    for row in measured["targets"]:
        value = _quantity(row["figure"], row["measure"], row["value"])
        ceiling_part = f"{'':<33} {'':>13} {'':>6}"
        if "ceiling" in row:
            bound = _quantity(row["ceiling"], row["measure"], row["ceiling_value"])
            ceiling_part = f"{row['ceiling']:<33} {bound:>13} {row['ratio']:>6.3f}"
        cpu_ratio = f"{row['cpu_ratio']:>9.3f}" if "cpu_ratio" in row else ""
        lines.append(
            f"{row['path']:<37} {value:>14}   {ceiling_part}  "
            f"{row.get('target', ''):<18} {row.get('result', ''):<6}  {cpu_ratio}".rstrip()
        )
    memory = measured["memory"]
    lines.append(
        f"(the memory peak came during: {memory['during']}; before the first bulk import "
        f"the worker had reached {memory['peak_before_import_mib']:,.0f} MiB)"
    )
    lines.append("")
    lines.append(
        f"{'figure, median of the rounds':<34} {'rate':>14} {'p50 ms':>9} {'p99 ms':>9} "
        f"{'worker CPU ms':>14}"
    )
    for name, medians in measured["medians"].items():
        rate = _quantity(name, "per_second", medians["per_second"])
        numbers = [
            f"{medians[key]:>{width}.{digits}f}" if key in medians else f"{'-':>{width}}"
            for key, width, digits in (("p50_ms", 9, 2), ("p99_ms", 9, 2), ("worker_cpu_ms", 14, 3))
        ]
        lines.append(f"{name:<34} {rate:>14} {' '.join(numbers)}")
    lines.append(
        "worker CPU: user and system time of the serving process per request (per event for"
        " the bulk import); CPU ratio: the ceiling's worker CPU per request over the service's,"
        " the rate ratio two CPU-bound workers would show on otherwise idle cores"
    )
    return "\n".join(lines)


async def run(url: str, plan: Plan) -> dict[str, Any]:
    facts = await prepare(url, plan)
    measured = []
    for workers in plan.workers:
        measured.append(await measure(url, facts, plan, workers))
        print(f"\n{workers} worker(s), {plan.connections} connections, wrk, "
              f"{plan.rounds} rounds of {plan.seconds} s a figure")  # fmt: skip
        print(table(measured[-1]))
    conn = await asyncpg.connect(plain_url(url))
    await conn.execute("DROP TABLE bench_single_rows, bench_deliveries")
    await conn.close()
    return {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "database": {
            "postgresql": facts["postgresql"],
            "server": "BENCH_DATABASE_URL" if "BENCH_DATABASE_URL" in os.environ else "embedded",
            "customers": facts["customers"],
            "events": facts["events"],
            **({"seed": facts["seed"]} if "seed" in facts else {}),
        },
        "load": {
            "client": "wrk",
            "connections": plan.connections,
            "seconds": plan.seconds,
            "rounds": plan.rounds,
            "import_events": plan.import_events,
            "sender_in_process": plan.sender_in_process,
        },
        "measured": measured,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--events-per-customer", type=int, default=10)
    parser.add_argument("--seeded", action="store_true", help="the database is already seeded")
    parser.add_argument("--workers", type=int, nargs="+", default=[1])
    parser.add_argument("--connections", type=int, default=32, help="wrk's, and the pools'")
    parser.add_argument("--seconds", type=int, default=10, help="per figure and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--import-events", type=int, default=60_000, help="per round")
    parser.add_argument(
        "--sender-in-process",
        action="store_true",
        help="the serving process sends the outbound webhooks (else a process apart)",
    )
    args = parser.parse_args()
    wrk.require()
    plan = Plan(
        args.customers,
        args.events_per_customer,
        args.seeded,
        args.workers,
        args.connections,
        args.seconds,
        args.rounds,
        args.import_events,
        args.sender_in_process,
    )
    with bench_database() as url:
        figures = asyncio.run(run(url, plan))
    print(f"written to {write_results('suite', figures)}")


if __name__ == "__main__":
    main()
