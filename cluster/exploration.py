"""What today's schema and statements do on Citus, step by step, with Citus's own words.

`python -m cluster explore` (on a running cluster) recreates the database
`customer_history_explore` on every node, migrates it with the service's own CLI, seeds
it, then:

1. tries the placement that docs/scaling.md plans, table by table, on the schema as
   migrated, and records each refusal;
2. makes, one statement at a time, the smallest changes that let every table be placed,
   recording each (what a migration of the next step would do);
3. runs the service's hot statements under EXPLAIN and for real (rolled back): which
   are single-shard (router) plans, which fan out, which Citus refuses;
4. runs the write paths and the guards (appends, merges, the stats lock, retention,
   erasure, NOTIFY) and records what breaks.

It changes nothing but that database. The report goes to stdout and to
`.cluster/exploration.md`. The statements come from the service's modules, so a run
always explores the code as it is.
"""

import asyncio
import json
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg

from cluster import citus
from cluster.layout import PROJECT, Layout
from cluster.placement import PLACEMENTS, statement

DATABASE = "customer_history_explore"
SEED_CUSTOMERS = 1000
SEED_EVENTS = 10


@dataclass
class Report:
    """The findings, in order, as Markdown."""

    lines: list[str] = field(default_factory=list)
    failures: int = 0

    def section(self, title: str, text: str = "") -> None:
        self.lines += ["", f"## {title}", ""] + ([text, ""] if text else [])

    def outcome(self, label: str, sql: str, error: str | None, extra: str = "") -> None:
        mark = "ok" if error is None else "FAILED"
        self.failures += error is not None
        self.lines += [f"### {mark}: {label}", "", "```sql", _tidy(sql), "```", ""]
        if error is not None:
            self.lines += ["```text", error, "```", ""]
        if extra:
            self.lines += [extra, ""]

    def text(self) -> str:
        return "\n".join(self.lines).strip() + "\n"


def run(layout: Layout) -> None:
    """Explore on the running cluster; print the report and keep a copy in .cluster/."""
    started = time.monotonic()
    report = Report(["# Customer history on Citus: exploration", ""])
    url = layout.coordinator.url(DATABASE)
    asyncio.run(_fresh_database(layout))
    _cli(report, "migrate", url, ["migrate"])
    _cli(
        report,
        "seed (before distributing: plain PostgreSQL tables on the coordinator)",
        url,
        ["seed", "--customers", str(SEED_CUSTOMERS), "--events-per-customer", str(SEED_EVENTS)],
    )
    asyncio.run(_explore(url, report))
    _cli(report, "seed again, now on the distributed tables", url, ["seed", "--customers", "10"])
    report.lines.append(
        f"\n{report.failures} failed steps; explored in {time.monotonic() - started:.0f} s."
    )
    out = report.text()
    (layout.root / "exploration.md").write_text(out)
    sys.stdout.write(out)


async def _fresh_database(layout: Layout) -> None:
    for node in layout.nodes:
        conn = await asyncpg.connect(node.url("postgres"))
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        finally:
            await conn.close()
    await citus.prepare(layout, DATABASE)


def _cli(report: Report, label: str, url: str, args: list[str]) -> None:
    """Run the service's own CLI against the exploration database."""
    env = {**os.environ, "DATABASE_URL": url, "PYTHONWARNINGS": "ignore", "COLUMNS": "200"}
    done = subprocess.run(
        [str(PROJECT / ".venv" / "bin" / "customer-history"), *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    error = None
    if done.returncode != 0:
        # The CLI prints a rich traceback: keep the service's deepest frame and the error.
        frames = re.findall(r"(app/[\w/]+\.py:\d+ in \w+)", done.stderr)
        tail = [line.strip("│╰─╯ ") for line in done.stderr.strip().splitlines()[-3:]]
        error = "\n".join([*(f"at {frames[-1]}" for _ in frames[-1:]), *filter(None, tail)])
    report.outcome(label, f"-- customer-history {' '.join(args)}", error)


# 1. The placement cluster/placement.py decides (docs/scaling.md explains it), in its
# order: the anchor of the co-location group first, the tables that follow it, the tables
# with keys of their own, then the small global tables. The local tables stay plain
# tables on the coordinator.
BY_CUSTOMER = tuple(p.table for p in PLACEMENTS if p.colocate_with == "customers")
REFERENCE = tuple(p.table for p in PLACEMENTS if p.kind == "reference")
LOCAL = tuple(p.table for p in PLACEMENTS if p.kind == "local")
PLAN = [(p.table, statement(p)) for p in PLACEMENTS if p.kind != "local"]
PLACE = dict(PLAN)

# 2. The smallest changes that place every table, in an order that works. Each is what
# the next step's migration would do (or replace with a better design: docs/scaling.md);
# the statements of one step run in one transaction. A table with triggers is placed
# without them and given them again, as the migrations made them (read from the catalog).
_UNSAFE_TRIGGERS = "SET LOCAL citus.enable_unsafe_triggers = on"
_SESSION_TOKENS_KEY = (
    "ALTER TABLE session_tokens ADD CONSTRAINT fk_session_tokens_key_id_api_keys "
    "FOREIGN KEY (key_id) REFERENCES api_keys (id)"
)
TRIGGERS = (
    "SELECT c.relname, t.tgname, pg_get_triggerdef(t.oid) FROM pg_trigger t "
    "JOIN pg_class c ON c.oid = t.tgrelid "
    "WHERE NOT t.tgisinternal AND c.relnamespace = 'public'::regnamespace ORDER BY 1, 2"
)
Step = tuple[str, tuple[str, ...]]
Triggers = dict[str, list[tuple[str, str]]]


def _placed(table: str, triggers: Triggers, *before: Step) -> list[Step]:
    """The steps that place a table: as planned, and when it has triggers, without them
    and then with them again (plainly, then under citus.enable_unsafe_triggers);
    ``before``, the steps tried once its triggers are gone, just before it is placed."""
    own = triggers.get(table, [])
    if not own:
        return [*before, (table, (PLACE[table],))]
    again = tuple(definition for _, definition in own)
    return [
        (f"{table}, triggers and all", (PLACE[table],)),
        (
            f"{table}: drop its triggers",
            tuple(f"DROP TRIGGER {name} ON {table}" for name, _ in own),
        ),
        *before,
        (table, (PLACE[table],)),
        (f"{table}: its triggers again", again),
        (
            f"{table}: its triggers again, with citus.enable_unsafe_triggers",
            (_UNSAFE_TRIGGERS, *again),
        ),
    ]


def changes(triggers: Triggers) -> list[Step]:
    """Section 2's steps, in order, for the schema whose triggers are ``triggers``."""
    # The foreign keys Citus refuses are gone since migration 0029, the NOTIFY triggers
    # since 0031: customer_identifiers and customer_merges place as planned.
    return [
        *_placed("customers", triggers),
        *(step for t in BY_CUSTOMER for step in _placed(t, triggers)),
        *(
            step
            for t in ("customer_identifiers", "delivery_identifiers", "webhook_deliveries")
            for step in _placed(t, triggers)
        ),
        *_placed("event_keys", triggers),
        *_placed(
            "session_tokens",
            triggers,
            (
                "session_tokens, its foreign key to the local api_keys and all",
                (PLACE["session_tokens"],),
            ),
            (
                "session_tokens: drop its foreign key to api_keys",
                ("ALTER TABLE session_tokens DROP CONSTRAINT fk_session_tokens_key_id_api_keys",),
            ),
        ),
        *(step for t in REFERENCE for step in _placed(t, triggers)),
        (
            "session_tokens: its foreign key to api_keys again (distributed to reference)",
            (_SESSION_TOKENS_KEY,),
        ),
        (
            "every placed table: drop the copies of its rows left on the coordinator",
            (
                "SELECT truncate_local_data_after_distributing_table(logicalrelid) "
                "FROM pg_dist_partition",
            ),
        ),
        (
            "the same, past the events guard (its privileged switch on)",
            (
                "SET LOCAL ch.privileged_maintenance = on",
                "SELECT truncate_local_data_after_distributing_table(logicalrelid) "
                "FROM pg_dist_partition",
            ),
        ),
    ]


FOREIGN_KEYS = (
    "SELECT conrelid::regclass, conname, pg_get_constraintdef(oid) FROM pg_constraint "
    "WHERE contype = 'f' AND connamespace = 'public'::regnamespace ORDER BY 1, 2"
)
TABLES = "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"
PLACEMENT = (
    "SELECT table_name, citus_table_type, distribution_column, colocation_id, shard_count "
    "FROM citus_tables ORDER BY colocation_id, table_name"
)


async def _explore(url: str, report: Report) -> None:
    conn = await asyncpg.connect(url)
    try:
        report.section(
            "1. The plan of docs/scaling.md on the schema as migrated",
            "Each placement tried on its own and rolled back; the local tables stay on the "
            f"coordinator: {', '.join(LOCAL)}.",
        )
        tables = {r[0] for r in await conn.fetch(TABLES)}
        unplaced = sorted(tables - set(PLACE) - set(LOCAL))
        report.outcome(
            "every migrated table has its place in the plan",
            TABLES,
            f"not in the plan: {', '.join(unplaced)}" if unplaced else None,
        )
        for table, sql in PLAN:
            report.outcome(table, sql, await _step_error(conn, (sql,), keep=False))
        report.section(
            "2. The changes that place every table",
            "Applied one step at a time, in this order; a step that succeeds is kept.",
        )
        triggers: Triggers = {}
        for r in await conn.fetch(TRIGGERS):
            triggers.setdefault(r[0], []).append((r[1], r[2]))
        for label, statements in changes(triggers):
            report.outcome(label, ";\n".join(statements), await _step_error(conn, statements))
        report.lines += ["Placement reached:", "", "```text"]
        report.lines += [_row(r) for r in await conn.fetch(PLACEMENT)]
        report.lines += ["```", "", "Foreign keys Citus keeps:", "", "```text"]
        report.lines += [_row(r) for r in await conn.fetch(FOREIGN_KEYS)]
        report.lines += ["```"]
        sample = await _sample(conn)
        report.section(
            "3. The hot statements",
            "EXPLAIN with real parameters, then run for real in a transaction rolled back. "
            "`router` is one task on one node: the whole statement ran where the data is.",
        )
        for probe in _hot_statements(sample):
            await _probe(conn, report, probe)
        report.section(
            "4. Write paths and guards",
            "Planned, then run for real in a transaction rolled back (unless it says committed).",
        )
        for probe in _writes(sample):
            await _probe(conn, report, probe)
        report.section(
            "5. Shapes that keep the hot paths on one shard",
            "The redesign docs/scaling.md proposes, tried on this database only: the tables "
            "and columns it adds, then the statements that would replace today's.",
        )
        for label, statements in REDESIGN:
            report.outcome(label, ";\n".join(statements), await _step_error(conn, statements))
        for probe in _redesigned(sample):
            await _probe(conn, report, probe)
        await _notifications(url, report, sample)
    finally:
        await conn.close()


async def _step_error(
    conn: asyncpg.Connection, statements: Sequence[str], *, keep: bool = True
) -> str | None:
    """Run the statements in one transaction, committed when ``keep``; the error, if any."""
    transaction = conn.transaction()
    await transaction.start()
    try:
        for sql in statements:
            await conn.execute(sql)
    except asyncpg.PostgresError as error:
        await transaction.rollback()
        return _describe(error)
    await (transaction.commit() if keep else transaction.rollback())
    return None


async def _error_of(
    conn: asyncpg.Connection,
    sql: str,
    *args: Any,
    rollback: bool = False,
    before: Sequence[str] = (),
) -> str | None:
    """Run ``sql``; None when it succeeded, else Citus's (or PostgreSQL's) exact error."""
    try:
        if rollback:
            transaction = conn.transaction()
            await transaction.start()
            try:
                for setting in before:
                    await conn.execute(setting)
                await (conn.fetch(sql, *args) if args else conn.execute(sql))
            finally:
                await transaction.rollback()
        elif args:
            await conn.fetch(sql, *args)
        else:
            await conn.execute(sql)
    except asyncpg.PostgresError as error:
        return _describe(error)
    return None


def _describe(error: asyncpg.PostgresError) -> str:
    parts = [f"ERROR:  {error.sqlstate}: {error.args[0] if error.args else error}"]
    for name in ("detail", "hint"):
        value = getattr(error, name, None)
        if value:
            parts.append(f"{name.upper()}:  {value}")
    return "\n".join(parts)


@dataclass(frozen=True)
class Sample:
    """Real rows to run the statements with."""

    customer_id: uuid.UUID
    other_id: uuid.UUID
    phone: str
    email: str
    event_id: uuid.UUID
    key_scope: str
    key: str


async def _sample(conn: asyncpg.Connection) -> Sample:
    # Two reads, not a join: identifiers are spread by value, not by customer.
    row = await conn.fetchrow(
        "SELECT customer_id, value AS phone FROM customer_identifiers "
        "WHERE kind = 'phone' ORDER BY value LIMIT 1"
    )
    if row is None:  # the seed did not run: the exploration still shows the plans
        row = {"customer_id": uuid.uuid4(), "phone": "+34600000000"}
    email = await conn.fetchval(
        "SELECT value FROM customer_identifiers WHERE kind = 'email' AND customer_id = $1",
        row["customer_id"],
    )
    other = await conn.fetchval(
        "SELECT id FROM customers WHERE id <> $1 ORDER BY id LIMIT 1", row["customer_id"]
    )
    event = await conn.fetchval(
        "SELECT id FROM events WHERE customer_id = $1 LIMIT 1", row["customer_id"]
    )
    return Sample(
        customer_id=row["customer_id"],
        other_id=other or uuid.uuid4(),
        phone=row["phone"],
        email=email or "x@example.com",
        event_id=event or uuid.uuid4(),
        key_scope="explore",
        key=f"explore-{uuid.uuid4()}",
    )


@dataclass(frozen=True)
class Probe:
    """A statement to plan and run: ``refused`` names the SQLSTATE a guard must answer
    with; ``before`` holds settings made first, in the same transaction."""

    label: str
    sql: str
    args: Sequence[Any] = ()
    refused: str | None = None
    before: Sequence[str] = ()


def _hot_statements(s: Sample) -> list[Probe]:
    """The service's read paths, as its modules hold them today."""
    from app.auth import queries as auth
    from app.customers import queries as customers
    from app.fichas import queries as fichas
    from app.indicators import queries as indicators
    from app.tasks import queries as tasks
    from app.timeline import queries as timeline

    wants = json.dumps([{"patterns": [], "pinned": False}])
    # Who reads, as fichas.queries binds it: (key, agent, role, what).
    access = (uuid.uuid4(), None, "support", "screen-pop:support")
    # The queries module's own constants, no input.
    page = timeline.page_sql(
        "customer_id = ANY($1::uuid[]) AND type <> 'event.corrected'",
        "$2::integer",
        auth.access_insert_sql("$3", "$4", "$5", "$6", "$7", "$8"),
    )
    return [
        Probe("identify by phone, 1/2: who holds the number (customers.queries._HOLDING_SQL)",
         customers._HOLDING_SQL, ("phone", [s.phone])),
        Probe("identify by phone, 2/2: the customer (customers.queries._IDENTIFIED_SQL)",
         customers._IDENTIFIED_SQL, ([s.customer_id], False, None)),
        Probe("screen-pop, one statement: callers, card, stats, alerts, recent events and "
              "the access-log row (fichas.queries._screen_pop)",
         fichas._screen_pop(1),
         (s.phone, False, None, None, uuid.uuid4(), *access, 5, wants, 10)),
        Probe("screen-pop, its callers and card alone (customers.queries.CALLER_CARDS_SQL)",
         customers.CALLER_CARDS_SQL, (s.phone, False, None, None)),
        Probe("ficha: card by id (customers.queries._CARD)",
         customers._CARD, (s.customer_id, False, None)),
        Probe("ficha, one statement: stats, alerts, recent events and the access-log row "
              "(fichas.queries._reads)",
         fichas._reads(1), (s.customer_id, 5, uuid.uuid4(), *access, wants, False, None, 10)),
        Probe("ficha: template (fichas.queries._TEMPLATE, cached per process)",
         fichas._TEMPLATE, ("support",)),
        Probe("ficha, its parts: stats and open alerts (indicators.queries._SNAPSHOT)",
         indicators._SNAPSHOT, (s.customer_id, 5, False, None)),
        Probe("ficha, its parts: recent events of the merge family (timeline.queries.recent_sql)",
         timeline.recent_sql("$1", "$2", "false", "NULL", ["$3"]), (s.customer_id, wants, 10)),
        Probe("ficha, its parts: access log row (auth.queries._RECORD_ACCESS)",
         auth._RECORD_ACCESS, (uuid.uuid4(), s.customer_id, *access)),
        Probe("ficha: open tasks (tasks.queries._OPEN)",
         tasks._OPEN, (s.customer_id, _now(), 10, True)),
        Probe("timeline: the merge family (customers.queries._FAMILY_SQL)",
         customers._FAMILY_SQL, (s.customer_id,)),
        Probe("timeline: page of 50 of one customer (timeline.queries.page_rows)",
         page, ([s.customer_id], 51, uuid.uuid4(), s.customer_id, *access)),
        Probe("timeline: page of 50 of a merge family of two",
         page, ([s.customer_id, s.other_id], 51, uuid.uuid4(), s.customer_id, *access)),
        Probe("where a merged customer's history lives (customers.queries._SURVIVORS_SQL)",
         customers._SURVIVORS_SQL, ([s.customer_id],)),
        Probe("routing and appends: the policies (indicators.queries._POLICIES)",
         indicators._POLICIES, ()),
    ]  # fmt: skip


def _writes(s: Sample) -> list[Probe]:
    """The service's write paths and guards, as its modules hold them today."""
    from app.customers import queries as customers
    from app.indicators import queries as indicators
    from app.ingest import queries as ingest
    from app.privacy import queries as privacy
    from app.text import queries as text
    from app.timeline import queries as timeline
    from app.timeline.queries import EventRow

    note = EventRow(
        uuid.uuid4(), s.customer_id, "note.added", _now(), "api", None, "explore", None,
        None, "A note", {}, None, None,
    )  # fmt: skip
    event = note.values()
    pair = sorted([s.customer_id, s.other_id])
    unknown = uuid.uuid4()
    delivery = uuid.uuid4()
    # A delivery's statements, as ingest.service sends them: recorded with the holders of
    # its identifiers, its events stored (keys, texts, outbox, stats lock), finished.
    stored = (
        *([v] for v in event), [s.key_scope], [s.key], ["0" * 64], *text.arrays([]),
    )  # fmt: skip
    finished = ingest.finishing(
        delivery, "processed", None, 1, None, [(s.key_scope, s.key)], [s.customer_id]
    ).args
    return [
        Probe("a delivery, 1/3: recorded, with who holds its identifiers (ingest.queries._RECORD)",
         ingest._RECORD, (delivery, "explore", f"explore-{delivery}", "/webhooks/explore", "{}",
                          b"{}", ["phone"], [s.phone])),
        Probe("a delivery, 2/3: its events stored with their keys, texts and outbox rows, "
              "their stats locked (timeline.queries._STORE)",
         timeline._STORE, stored),
        Probe("a delivery, 3/3: finished, linked to its customers (ingest.queries._FINISH)",
         ingest._FINISH, finished),
        Probe("a failed delivery: the identifiers it names (ingest.queries._NAME)",
         ingest._NAME, (delivery, [0], ["phone"], [s.phone])),
        Probe("append one event with its NOTIFY and outbox row (timeline.queries._INSERT)",
         timeline._INSERT, event),
        Probe("find one idempotency key (timeline.queries._FIND_KEY)",
         timeline._FIND_KEY, (s.key_scope, s.key)),
        Probe("claim an idempotency key (timeline.queries._CLAIM_KEY)",
         timeline._CLAIM_KEY, (s.key_scope, s.key, uuid.uuid4(), "0" * 64)),
        Probe("look keys up with their events (timeline.queries._FIND_KEYS)",
         timeline._FIND_KEYS, ([s.key_scope], [s.key])),
        Probe("lock one customer's stats, made when missing (indicators.queries._LOCK, one id)",
         indicators._LOCK, ([s.customer_id],)),
        Probe("save one customer's stats (indicators.queries._SAVE: every append)",
         indicators._SAVE, _stats_row([s.customer_id])),
        Probe("lock a batch of customers' stats (indicators.queries._LOCK, two ids: "
         "bulk import, seed, rebuild)",
         indicators._LOCK, (pair,)),
        Probe("save a batch of customers' stats (indicators.queries._SAVE, two ids)",
         indicators._SAVE, _stats_row(pair)),
        Probe("read a batch's histories for a rebuild (indicators.queries._HISTORIES)",
         indicators._HISTORIES, ([s.customer_id, s.other_id],)),
        Probe("unknown callers: new customers and their identifiers, ON CONFLICT "
              "(customers.queries._CREATE_UNVERIFIED)",
         customers._CREATE_UNVERIFIED,
         ([unknown], ["Unknown caller"], [uuid.uuid4(), uuid.uuid4()], [unknown, unknown],
          ["phone", "phone"], [s.phone, "+34699999999"])),
        Probe("identifier owners in bulk (customers.queries._OWNERS_SQL)",
         customers._OWNERS_SQL, (["phone", "email"], [s.phone, s.email])),
        Probe("merge: move identifiers (customers.queries._MOVE_IDENTIFIERS)",
         customers._MOVE_IDENTIFIERS, (s.other_id, s.customer_id)),
        Probe("merge: its family joins the survivor's (customers.queries.move_family)",
         "UPDATE customers SET merge_root = $2 WHERE merge_root = $1",
         (s.other_id, s.customer_id)),
        Probe("merge: mark the absorbed customer (as the ORM writes it)",
         "UPDATE customers SET status = 'merged', merged_into = $2, merge_root = $2 "
         "WHERE id = $1", (s.other_id, s.customer_id)),
        Probe("merge, owner change: the family follows its root's owner, notified "
              "(customers.queries._ACCESS_CHANGED)",
         customers._ACCESS_CHANGED, ([s.other_id], s.customer_id, "explore")),
        Probe("a failed delivery replayed: its row locked (ingest.repository.get_for_update)",
         "UPDATE webhook_deliveries SET attempts = attempts WHERE id = $1 RETURNING *",
         (delivery,)),
        Probe("maintenance: failed deliveries whose awaited event arrived (ingest.queries._FREED)",
         ingest._FREED, (None, 10)),
        Probe("retention: expire raw deliveries (privacy.queries._EXPIRE_DELIVERIES)",
         privacy._EXPIRE_DELIVERIES, (_now(), 10)),
        Probe("retention: expire access-log rows (privacy.queries._EXPIRE_ACCESS_LOG)",
         privacy._EXPIRE_ACCESS_LOG, (_now(), 10)),
        Probe("the append-only guard refuses an UPDATE of an event",
         "UPDATE events SET summary = 'changed' WHERE customer_id = $1 AND id = $2",
         (s.customer_id, s.event_id), refused="42501"),
        Probe("retention: expire events of a type (ch_expire_events)",
         "SELECT * FROM ch_expire_events('call.completed', now(), 10)", ()),
        Probe("erasure (ch_erase_customer)",
         "SELECT ch_erase_customer($1, $2, 'explore', now())",
         (s.customer_id, uuid.uuid4())),
    ]  # fmt: skip


def _stats_row(customer_ids: Sequence[uuid.UUID]) -> tuple[Any, ...]:
    """The arguments of ``_SAVE`` for empty stats of these customers, evaluated as of
    now and due again never."""
    n = len(customer_ids)
    return (
        list(customer_ids), ["{}"] * n, ["{}"] * n, [0] * n, [0] * n, [0] * n, [None] * n,
        ["none"] * n, ["low"] * n, ["[]"] * n, datetime.now(UTC), [None] * n,
    )  # fmt: skip


async def _probe(conn: asyncpg.Connection, report: Report, probe: "Probe") -> None:
    """The plan of a statement, then the statement run for real; both rolled back.

    A probe with ``refused`` passes when a guard answers it with that SQLSTATE."""
    shown = ";\n".join([*probe.before, probe.sql])
    transaction = conn.transaction()
    await transaction.start()
    try:
        for setting in probe.before:
            await conn.execute(setting)
        explained = await conn.fetch(f"EXPLAIN (COSTS OFF) {probe.sql}", *probe.args)
    except asyncpg.PostgresError as refusal:
        report.outcome(probe.label, shown, _describe(refusal))
        return
    finally:
        await transaction.rollback()
    plan = "\n".join(r[0] for r in explained)
    summary = f"**{_plan_kind(plan)}**\n\n```text\n{plan}\n```"
    error = await _error_of(conn, probe.sql, *probe.args, rollback=True, before=probe.before)
    if probe.refused is None:
        report.outcome(probe.label, shown, error, summary)
    elif error is not None and f"{probe.refused}:" in error:
        report.outcome(
            probe.label, shown, None, f"Refused, as it must be:\n\n```text\n{error}\n```"
        )
    else:
        report.outcome(probe.label, shown, error or f"not refused with {probe.refused}", summary)


def _plan_kind(plan: str) -> str:
    """router: one task on one node; else the tasks, scans and sub-plans it takes."""
    tasks = [int(n) for n in re.findall(r"Task Count: (\d+)", plan)]
    subplans = len(re.findall(r"Distributed Subplan", plan))
    method = re.search(r"INSERT/SELECT method: (.+)", plan)
    if method:
        return f"INSERT ... SELECT, {method.group(1).strip()}; {subplans} sub-plans"
    if not tasks:
        return "no Citus scan: a function, whose statements are planned as they run"
    if tasks == [1] and not subplans:
        return "router (one task, one node)"
    return f"{sum(tasks)} tasks in {len(tasks)} distributed scans, {subplans} sub-plans"


# 5. The redesign, on the exploration database only.
REDESIGN: list[Step] = [
    (
        "identifier_owners: who holds each (kind, value), spread by value (the unique key)",
        (
            "CREATE TABLE identifier_owners (kind varchar(16) NOT NULL, "
            "value varchar(320) NOT NULL, customer_id uuid NOT NULL, PRIMARY KEY (kind, value))",
            "SELECT create_distributed_table('identifier_owners', 'value', "
            "colocate_with => 'none')",
            "INSERT INTO identifier_owners SELECT kind, value, customer_id "
            "FROM customer_identifiers",
        ),
    ),
    (
        "customer_identifiers: re-keyed by customer and co-located with customers",
        (
            "ALTER TABLE customer_identifiers DROP CONSTRAINT pk_customer_identifiers",
            "ALTER TABLE customer_identifiers ADD CONSTRAINT pk_customer_identifiers "
            "PRIMARY KEY (customer_id, kind, value)",
            "SELECT alter_distributed_table('customer_identifiers', "
            "distribution_column => 'customer_id', colocate_with => 'customers')",
            "ALTER TABLE customer_identifiers ADD CONSTRAINT "
            "fk_customer_identifiers_customer_id_customers "
            "FOREIGN KEY (customer_id) REFERENCES customers (id)",
        ),
    ),
    (
        "merge families: the members beside the root (customers.merge_root is migrated)",
        (
            "CREATE TABLE merge_members (root_id uuid NOT NULL REFERENCES customers (id), "
            "member_id uuid NOT NULL, PRIMARY KEY (root_id, member_id))",
            "SELECT create_distributed_table('merge_members', 'root_id', "
            "colocate_with => 'customers')",
        ),
    ),
    (
        "event_keys: the customer of the keyed event",
        ("ALTER TABLE event_keys ADD COLUMN customer_id uuid",),
    ),
]


_PRIVILEGED = (
    # Propagated to the workers with the statements that follow, unlike set_config().
    "SET LOCAL citus.propagate_set_commands = 'local'",
    "SET LOCAL ch.privileged_maintenance = on",
)


def _redesigned(s: Sample) -> list[Probe]:
    """Today's hot statements reshaped so that each names the shard it needs."""
    from app.customers import queries as customers
    from app.indicators import queries as indicators
    from app.timeline import queries as timeline

    family = [s.customer_id]
    pair = sorted([s.customer_id, s.other_id])
    wants = json.dumps([{"patterns": [], "pinned": False}])
    # The family as a parameter instead of the CTE (and no reader hidden from).
    recent = _swapped(
        _swapped(
            timeline.recent_sql("$1", "$2", "false", "NULL", ["$3"]).split(")\nSELECT", 1)[-1],
            "customer_id IN (SELECT id FROM family)",
            "customer_id = ANY($1::uuid[])",
        ),
        "customer_id IN (SELECT id FROM hiding)",
        "false",
    )
    recent = "SELECT" + recent
    # indicators.queries.locking for one customer by equality, then with the alerts'
    # sub-query naming it too; a batch's rows read after an UPDATE took their locks.
    lock_one = "WITH " + indicators.locking("SELECT $1::uuid")
    lock_one_named = _swapped(lock_one, "a.customer_id = c.id", "a.customer_id = $1")
    _, read = indicators._LOCK.split("RETURNING customer_id, state, flags), ", 1)
    read_batch = (
        "WITH locked AS (SELECT customer_id, state, flags FROM customer_stats "
        "WHERE customer_id = ANY($1::uuid[])), " + read
    )
    return [
        Probe("identify, 1/2: the owner of the value (identifier_owners)",
              "SELECT customer_id FROM identifier_owners WHERE kind = $1 AND value = $2",
              ("phone", s.phone)),
        Probe("identify, 2/2: the customer (as in section 3)",
              "SELECT id, status, unverified, owner_id FROM customers WHERE id = $1",
              (s.customer_id,)),
        Probe("the card (customers.queries._CARD), identifiers co-located",
              customers._CARD, (s.customer_id, False, None)),
        Probe("merge: move identifiers, now that customer_id is their shard key",
              "UPDATE customer_identifiers SET customer_id = $2 WHERE customer_id = $1",
              (s.other_id, s.customer_id)),
        Probe("merge: move identifiers as a delete and an insert, in one statement",
              "WITH moved AS (DELETE FROM customer_identifiers WHERE customer_id = $1 "
              "RETURNING id, kind, value, created_at) INSERT INTO customer_identifiers "
              "(id, customer_id, kind, value, created_at) SELECT id, $2, kind, value, "
              "created_at FROM moved", (s.other_id, s.customer_id)),
        Probe("merge: move identifiers, 1/2: delete them from the absorbed customer",
              "DELETE FROM customer_identifiers WHERE customer_id = $1 "
              "RETURNING id, kind, value, created_at", (s.other_id,)),
        Probe("merge: move identifiers, 2/2: insert them on the survivor",
              "INSERT INTO customer_identifiers (id, customer_id, kind, value) "
              "VALUES ($1, $2, 'phone', '+34699999998'), ($3, $2, 'phone', '+34699999997')",
              (uuid.uuid4(), s.customer_id, uuid.uuid4())),
        Probe("an organisation's contacts (a second statement, only for organisations)",
              "SELECT id, display_name, job_title FROM customers WHERE organization_id = $1 "
              "AND status = 'active' ORDER BY id LIMIT 100", (s.customer_id,)),
        Probe("merge family: the members, beside the root",
              "SELECT member_id FROM merge_members WHERE root_id = $1", (s.customer_id,)),
        Probe("merge family: where a customer's history lives now (its merge_root)",
              "SELECT coalesce(merge_root, id) FROM customers WHERE id = $1", (s.customer_id,)),
        Probe("recent events (timeline.queries.recent_sql), family of one as a parameter",
              recent, (family, wants, 10)),
        Probe("recent events, family of two as a parameter",
              recent, (pair, wants, 10)),
        Probe("recent events, family of two: one top-N statement per want",
              "SELECT id, type, occurred_at, channel, direction, summary, actor FROM events "
              "WHERE customer_id = ANY($1::uuid[]) AND type <> 'event.corrected' "
              "ORDER BY occurred_at DESC, id DESC LIMIT $2", (pair, 10)),
        Probe("lock one customer's stats by equality (indicators.queries.locking)",
              lock_one, (s.customer_id,)),
        Probe("lock one customer's stats by equality, the alerts' sub-query naming $1",
              lock_one_named, (s.customer_id,)),
        Probe("lock a batch's stats: an UPDATE takes the row locks on every shard",
              "UPDATE customer_stats SET updated_at = updated_at "
              "WHERE customer_id = ANY($1::uuid[]) RETURNING customer_id", (pair,)),
        Probe("read a batch's stats after that (indicators.queries._LOCK without the upsert)",
              read_batch, (pair,)),
        Probe("save one customer's stats by equality (_SAVE for one row)",
              "UPDATE customer_stats SET state = $2::jsonb, indicators = $3::jsonb, "
              "lifetime_value_base = $4, order_count = $5, open_orders = $6, "
              "last_purchase_at = $7, value_segment = $8, churn_risk = $9, flags = $10, "
              "updated_at = now() WHERE customer_id = $1",
              (s.customer_id, "{}", "{}", 0, 0, 0, None, "none", "low", [])),
        Probe("look keys up, the event's customer kept on the key",
              "SELECT k.scope, k.key, k.event_id, k.request_hash, k.customer_id "
              "FROM event_keys k JOIN unnest($1::text[], $2::text[]) AS w(scope, key) "
              "ON k.scope = w.scope AND k.key = w.key", ([s.key_scope], [s.key])),
        Probe("a privileged change past the append-only guard: SET LOCAL, propagated",
              "UPDATE events SET summary = 'redacted' WHERE customer_id = $1",
              (s.customer_id,), before=_PRIVILEGED),
        Probe("retention, 1/2: the expired events, read without a lock",
              "SELECT customer_id, id FROM events WHERE type = $1 AND occurred_at < now() "
              "LIMIT $2", ("call.completed", 100)),
        Probe("retention, 2/2: deleted customer by customer",
              "DELETE FROM events WHERE customer_id = $1 AND id = ANY($2::uuid[])",
              (s.customer_id, [s.event_id]), before=_PRIVILEGED),
    ]  # fmt: skip


async def _notifications(url: str, report: Report, s: Sample) -> None:
    """Whether a LISTEN on the coordinator hears what the service relies on (committed)."""
    from app.fichas.queries import NOTIFY_CHANNEL as TEMPLATES
    from app.timeline import queries as timeline

    heard: list[str] = []
    listener = await asyncpg.connect(url)
    writer = await asyncpg.connect(url)
    try:
        for channel in (TEMPLATES, timeline.NOTIFY_CHANNEL):
            await listener.add_listener(channel, _collect(heard))
        checks: list[tuple[str, str, Sequence[Any], str]] = [
            (
                "a template change as the repository makes it, its NOTIFY after it in its "
                "transaction (committed)",
                "UPDATE ficha_templates SET updated_at = now() WHERE role = 'support'; "
                f"SELECT pg_notify('{TEMPLATES}', '')",
                (),
                TEMPLATES,
            ),
            (
                "the same change with the NOTIFY sent by the statement itself (committed)",
                "WITH changed AS (UPDATE ficha_templates SET updated_at = now() "
                f"WHERE role = 'support' RETURNING role) SELECT pg_notify('{TEMPLATES}', '') "
                "FROM changed",
                (),
                TEMPLATES,
            ),
            (
                "an appended event's NOTIFY reaches LISTEN on the coordinator (committed)",
                timeline._INSERT,
                (
                    uuid.uuid4(), s.customer_id, "note.added", _now(), "api", None, "explore",
                    None, None, "Heard?", "{}", None, None,
                ),
                timeline.NOTIFY_CHANNEL,
            ),
        ]  # fmt: skip
        for label, sql, args, channel in checks:
            heard.clear()
            error = await _error_of(writer, sql, *args)
            await asyncio.sleep(0.5)
            got = [h for h in heard if h.startswith(channel)]
            if error is None and not got:
                error = f"no notification on {channel!r} within 0.5 s"
            report.outcome(label, sql, error, f"heard: {got}")
    finally:
        await writer.close()
        await listener.close()


def _collect(heard: list[str]) -> Callable[..., None]:
    def on_notify(_conn: Any, _pid: int, channel: str, payload: str) -> None:
        heard.append(f"{channel}:{payload}")

    return on_notify


def _now() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)


def _swapped(sql: str, old: str, new: str) -> str:
    """``sql`` with ``old`` replaced: a statement that no longer holds ``old`` is a reshape
    that no longer applies, said rather than explored unchanged."""
    if old not in sql:
        raise ValueError(f"the statement no longer holds {old!r}")
    return sql.replace(old, new)


def _row(record: asyncpg.Record) -> str:
    return " | ".join(str(v) for v in record.values())


def _tidy(sql: str) -> str:
    return "\n".join(line.rstrip() for line in sql.strip().splitlines())
