"""Through the database: the stats kept by appends equal a rebuild, over random histories."""

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import asyncpg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.clock import SYSTEM_CLOCK
from app.core.config import Settings
from app.core.db import Database, plain_url
from app.core.migrations import upgrade_to_head
from app.core.security import Principal, Role
from app.customers.models import Customer
from app.indicators import service as indicators
from app.text.service import RulesCache
from app.timeline import bulk, flows
from app.timeline import service as timeline
from app.timeline.schemas import EventIn
from tests.support.clock import ControlledClock
from tests.support.facts import facts
from tests.support.server import run_cli

# The settings of the environment, which the command line reads too.
SETTINGS = Settings()
ADMIN = Principal(key_id=UUID(int=1), role=Role.ADMIN, agent_id="tester")


def event_in(fact: Any, originals: dict[str, str]) -> EventIn:
    payload = dict(fact.payload)
    if fact.type == "event.corrected":
        payload["corrects_event_id"] = originals[fact.corrects_id]
    return EventIn(
        type=fact.type,
        occurred_at=fact.occurred_at,
        payload=payload,
        source="prop",
        source_event_id=fact.id,
    )


def import_line(fact: Any, customer_id: UUID) -> bytes:
    """A fact as a line of the bulk import, naming its customer by id."""
    line = event_in(fact, {}).model_dump(mode="json", exclude_none=True)
    return json.dumps({**line, "customer": {"id": str(customer_id)}}).encode()


async def stored(session: AsyncSession, customer_id: UUID, alert_limit: int = 0) -> Any:
    """The stats as stored (a key that sees everyone reads them so)."""
    policy = indicators.value_policy(SETTINGS)
    return await indicators.snapshot(
        session, customer_id, alert_limit, ADMIN, SYSTEM_CLOCK.now(), policy
    )


async def stored_state(session: AsyncSession, customer_id: UUID) -> dict[str, Any]:
    state: dict[str, Any] = (await stored(session, customer_id))["state"]
    return state


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    history=facts(),
    merge_at=st.integers(min_value=0, max_value=30),
    unmerge=st.booleans(),
    split=st.integers(0, 3),
    b_in_org=st.booleans(),
)
async def test_incremental_stats_equal_a_rebuild(
    session: AsyncSession,
    clock: ControlledClock,
    history: list[Any],
    merge_at: int,
    unmerge: bool,
    split: int,
    b_in_org: bool,
) -> None:
    """A and B are contact persons (B of the same organisation or of none), and some
    events are the organisation's own: its stats count theirs, kept equal to a rebuild."""
    savepoint = await session.begin_nested()
    try:
        org = Customer(kind="organization", display_name="O")
        session.add(org)
        await session.flush()
        a = Customer(kind="person", display_name="A", tier="vip", organization_id=org.id)
        b = Customer(kind="person", display_name="B", organization_id=org.id if b_in_org else None)
        session.add_all([a, b])
        await session.flush()
        originals: dict[str, str] = {}
        holder: dict[str, UUID] = {}
        merged = False
        for index, fact in enumerate(history):
            if index == merge_at and not merged:
                await flows.merge(session, a.id, b.id, False, ADMIN, SETTINGS, clock)
                merged = True
            target = b.id if (index % 4 < split and not merged) else a.id
            if index % 7 == 6:
                target = org.id
            if fact.corrects_id:  # a correction goes where its original is
                original = holder[fact.corrects_id]
                target = a.id if merged and original != org.id else original
            holder[fact.id] = target
            event, _ = await timeline.append(
                session,
                target,
                timeline.prepare_event(event_in(fact, originals), ADMIN),
                ("prop", fact.id),
                ADMIN,
                SETTINGS,
                clock,
                RulesCache(None),
            )
            originals[fact.id] = str(event.id)
        if merged and unmerge:
            await flows.unmerge(session, a.id, b.id, ADMIN, SETTINGS, clock)
        for customer in (a.id, b.id, org.id):
            incremental = await stored_state(session, customer)
            await indicators.rebuild(session, [customer], SETTINGS, clock)
            assert incremental == await stored_state(session, customer)
    finally:
        await savepoint.rollback()


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    history=facts(),
    cuts=st.sets(st.integers(min_value=1, max_value=24), max_size=4),
    owners=st.lists(st.booleans(), min_size=25, max_size=25),
)
async def test_bulk_imported_stats_equal_a_rebuild(
    session: AsyncSession,
    clock: ControlledClock,
    history: list[Any],
    cuts: set[int],
    owners: list[bool],
) -> None:
    """The bulk import folds each customer's lines of a batch at once: its stats, flags and
    open alerts equal a rebuild's, however the history is cut into batches and shared
    between two customers (corrections are appended one at a time, as the import asks)."""
    savepoint = await session.begin_nested()
    try:
        a = Customer(kind="person", display_name="A", tier="vip")
        b = Customer(kind="person", display_name="B")
        session.add_all([a, b])
        await session.flush()
        originals: dict[str, str] = {}
        holder: dict[str, UUID] = {}
        batch: list[Any] = []

        async def flush() -> None:
            lines = [import_line(fact, holder[fact.id]) for fact in batch]
            results = await bulk.import_bulk(
                session, lines, ADMIN, SETTINGS, clock, RulesCache(None)
            )
            assert [r.status for r in results] == ["created"] * len(batch), results
            originals.update((f.id, str(r.event_id)) for f, r in zip(batch, results, strict=True))
            batch.clear()

        for index, fact in enumerate(history):
            if index in cuts or fact.corrects_id:
                await flush()
            if fact.corrects_id:
                holder[fact.id] = holder[fact.corrects_id]
                new = timeline.prepare_event(event_in(fact, originals), ADMIN)
                event, _ = await timeline.append(
                    session,
                    holder[fact.id],
                    new,
                    ("prop", fact.id),
                    ADMIN,
                    SETTINGS,
                    clock,
                    RulesCache(None),
                )
                originals[fact.id] = str(event.id)
                continue
            holder[fact.id] = a.id if owners[index] else b.id
            batch.append(fact)
        await flush()
        for customer in (a.id, b.id):
            incremental = await stored(session, customer, 100)
            await indicators.rebuild(session, [customer], SETTINGS, clock)
            rebuilt = await stored(session, customer, 100)
            assert incremental["state"] == rebuilt["state"]
            assert incremental["flags"] == rebuilt["flags"]
            assert {x.rule for x in incremental["alerts"]} == {x.rule for x in rebuilt["alerts"]}
    finally:
        await savepoint.rollback()


def test_stats_rebuild_command_restores_what_appends_computed(scratch_url: str) -> None:
    """`customer-history stats rebuild`, run as a process on committed data, gives back
    exactly the stats the appends kept, after they were lost, for one customer or all."""
    upgrade_to_head(scratch_url)
    customers = [uuid4(), uuid4()]

    async def append_orders() -> None:
        database = Database(scratch_url)
        try:
            async with database.sessionmaker() as session, session.begin():
                t0 = datetime(2026, 1, 1, tzinfo=UTC)
                for customer_id in customers:
                    session.add(Customer(id=customer_id, kind="person", display_name="C"))
                    await session.flush()
                    for n, total in enumerate(["10.00", "20.00", "30.00"]):
                        data = EventIn(
                            type="order.placed",
                            occurred_at=t0 + timedelta(days=n),
                            payload={
                                "order_id": f"{customer_id}-{n}",
                                "total": total,
                                "currency": "EUR",
                            },
                        )
                        new = timeline.prepare_event(data, None)
                        # The command compared with rebuilds on the system clock too.
                        await timeline.append(
                            session, customer_id, new, None, None, SETTINGS, SYSTEM_CLOCK, None
                        )
        finally:
            await database.dispose()

    async def stats(sql: str = "") -> dict[UUID, tuple[str, str]]:
        conn = await asyncpg.connect(plain_url(scratch_url))
        try:
            if sql:
                await conn.execute(sql)
            rows = await conn.fetch(
                "SELECT customer_id, state::text, indicators::text FROM customer_stats"
            )
        finally:
            await conn.close()
        return {r["customer_id"]: (r["state"], r["indicators"]) for r in rows}

    asyncio.run(append_orders())
    kept = asyncio.run(stats())
    assert set(kept) == set(customers)
    assert all('"60.00"' in indicators_json for _, indicators_json in kept.values())
    lost = "UPDATE customer_stats SET state = '{}', indicators = '{}'"

    asyncio.run(stats(lost))
    one = run_cli(scratch_url, "stats", "rebuild", "--customer", str(customers[0]))
    assert one.returncode == 0, one.stderr
    after_one = asyncio.run(stats())
    assert after_one[customers[0]] == kept[customers[0]]
    assert after_one[customers[1]] != kept[customers[1]], "only the one named is rebuilt"

    every = run_cli(scratch_url, "stats", "rebuild", "--batch", "1")
    assert every.returncode == 0, every.stderr
    assert "rebuilt 2 customers" in every.stdout
    assert asyncio.run(stats()) == kept
