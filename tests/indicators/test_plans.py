"""Routing, segments and an incident's count read indexes: each was rewritten so that a
Citus cluster plans it (docs/scaling.md), and on one PostgreSQL it must stay index probes
where it was."""

import re
from uuid import uuid4

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.security import Principal, Role
from app.incidents import queries as incidents
from app.routing import queries as routing
from app.segments import queries as segments
from tests.support.plans import plans_of

PEOPLE, ORGANIZATIONS = 3000, 300
INCIDENT = uuid4()


@pytest.fixture
async def book(session: AsyncSession) -> None:
    """3,000 contact persons of 300 organisations, each person with a phone, an e-mail, a
    marketing consent by e-mail and stats; one in fifty flagged by the incident."""
    for statement in (
        "INSERT INTO customers (id, kind, display_name, tier) SELECT "
        "('00000000-0000-0000-0000-' || lpad(n::text, 12, '0'))::uuid, 'organization', "
        f"'Org ' || n, 'premium' FROM generate_series(1, {ORGANIZATIONS}) n",
        "INSERT INTO customers (id, kind, display_name, organization_id) SELECT "
        "gen_random_uuid(), 'person', 'Cliente ' || n, "
        "('00000000-0000-0000-0000-' || lpad((n % :orgs + 1)::text, 12, '0'))::uuid "
        f"FROM generate_series(1, {PEOPLE}) n",
        "INSERT INTO customer_identifiers (id, customer_id, kind, value) "
        "SELECT gen_random_uuid(), id, 'phone', '+3461' || lpad(substr(display_name, 9), 7, '0') "
        "FROM customers WHERE kind = 'person' UNION ALL "
        "SELECT gen_random_uuid(), id, 'email', md5(id::text) || '@example.com' "
        "FROM customers WHERE kind = 'person'",
        "INSERT INTO customer_consents (id, customer_id, channel, purpose, granted, source) "
        "SELECT gen_random_uuid(), id, 'email', 'marketing', true, 'form' FROM customers "
        "WHERE kind = 'person'",
        "INSERT INTO customer_stats (customer_id, state, indicators, flags) "
        "SELECT id, '{}', '{}', CASE WHEN kind <> 'person' THEN '{}' "
        "WHEN substr(display_name, 9)::int % 50 = 0 THEN ARRAY['incident:' || :incident] "
        "ELSE '{}' END FROM customers",
    ):
        await session.execute(text(statement), {"orgs": ORGANIZATIONS, "incident": str(INCIDENT)})
    # At this size a scan is often cheaper (for the statements before their rewrite too),
    # and the rows of the test's own transaction are not in the statistics: with scans
    # priced out, a shape without an index path still shows one. On Citus the setting
    # goes to the workers, whose shards are planned there.
    await session.execute(text("SET LOCAL citus.propagate_set_commands = 'local'"))
    await session.execute(text("SET LOCAL enable_seqscan = off"))


def scans(plans: list[str], *tables: str) -> list[str]:
    """The sequential scans of ``tables`` (or of their shards, on Citus) in ``plans``."""
    names = "|".join(tables)
    return [m for plan in plans for m in re.findall(rf"Seq Scan on (?:{names})(?:_\d+)?\b", plan)]


@pytest.mark.usefixtures("book")
async def test_routing_a_contact_person_reads_indexes(session: AsyncSession) -> None:
    principal = Principal(uuid4(), Role.SUPPORT)
    plans = await plans_of(session, lambda: routing.route(session, ["+34610000042"], principal))
    rows = await routing.route(session, ["+34610000042"], principal)
    assert [(r["display_name"], r["organization_name"]) for r in rows] == [("Cliente 42", "Org 43")]
    assert len(plans) == 1
    assert not scans(plans, "customers", "customer_identifiers", "customer_stats"), plans
    assert "pk_customer_identifiers" in plans[0], plans


@pytest.mark.usefixtures("book")
async def test_a_segment_reads_its_members_identifiers_and_consents_by_index(
    session: AsyncSession,
) -> None:
    principal = Principal(uuid4(), Role.SUPPORT)
    # Persons of the premium tier: none (organisations only), so everyone is read; by
    # e-mail, for marketing.
    args = [None] * 12 + ["email", "marketing"]
    page = await segments.segment(session, args, principal, None, 10)
    assert len(page) == 10 and all(r["contact"].endswith("@example.com") for r in page)
    plans = await plans_of(session, lambda: segments.segment(session, args, principal, None, 10))
    plans += await plans_of(session, lambda: segments.segment_counts(session, args, principal))
    # The segment itself is every active customer: its members are a scan of customers.
    assert not scans(plans, "customer_identifiers", "customer_consents"), plans


@pytest.mark.usefixtures("book")
async def test_an_incidents_count_reads_the_flags_index(session: AsyncSession) -> None:
    principal = Principal(uuid4(), Role.SUPPORT)
    other = uuid4()
    counted = await incidents.affected(session, [INCIDENT, other], principal)
    assert counted == {INCIDENT: PEOPLE // 50, other: 0}
    # Index scans (and index-only ones) priced out as well: the flags' GIN index is read by a bitmap, and with
    # the statistics taking the tables for empty (whole runs of the suite, twice) a walk of
    # a primary key with a filter looked as cheap. A statement whose shape leaves the
    # flags index no path has then no plan that is not priced out.
    await session.execute(text("SET LOCAL enable_indexscan = off"))
    await session.execute(text("SET LOCAL enable_indexonlyscan = off"))
    plans = await plans_of(session, lambda: incidents.affected(session, [INCIDENT], principal))
    assert not scans(plans, "customers", "customer_stats"), plans
    assert all("ix_customer_stats_flags" in plan for plan in plans), plans
