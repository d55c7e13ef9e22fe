"""A merged customer keeps the root of its family (where its history lives now): after any
sequence of merges and unmerges it is what walking ``merged_into`` finds, and a family read
by its root is what walking down from the root finds."""

import random
from pathlib import Path
from uuid import UUID, uuid4

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.security import Principal, Role
from app.customers import service as customers
from tests.support.api import new_customer

# The walks the stored root replaces, kept here as the oracle: every customer's
# ``merged_into`` read once and walked in Python (Citus plans no recursive query over a
# distributed table unless it filters on the shard column, which a walk cannot).
_MERGED_INTO = text("SELECT id, merged_into FROM customers")
# What no foreign key holds any more (migration 0029), held by merges and unmerges.
_DANGLING = text(
    "SELECT c.id FROM customers c WHERE c.merged_into IS NOT NULL"
    " AND c.merged_into NOT IN (SELECT id FROM customers)"
    " UNION ALL SELECT m.id FROM customer_merges m"
    " WHERE m.survivor_id NOT IN (SELECT id FROM customers)"
    " OR m.absorbed_id NOT IN (SELECT id FROM customers)"
    " UNION ALL SELECT i.id FROM customer_identifiers i"
    " WHERE i.customer_id NOT IN (SELECT id FROM customers)"
)


def _walked_root(merged_into: dict[UUID, UUID | None], customer: UUID) -> UUID:
    """Where following ``merged_into`` from a customer ends."""
    while (survivor := merged_into[customer]) is not None:
        customer = survivor
    return customer


def _walked_family(merged_into: dict[UUID, UUID | None], root: UUID) -> set[UUID]:
    """The root and every customer whose ``merged_into`` leads to it."""
    family, frontier = {root}, {root}
    while frontier:
        frontier = {c for c, s in merged_into.items() if s in frontier} - family
        family |= frontier
    return family


async def _check_roots(session: AsyncSession, ids: list[UUID]) -> int:
    """Compare the stored roots and families with the walks; the largest family's size."""
    merged_into = {r[0]: r[1] for r in await session.execute(_MERGED_INTO)}
    walked = {customer: _walked_root(merged_into, customer) for customer in ids}
    for customer in ids:
        assert await customers.survivor_id(session, customer) == walked[customer], customer
    assert await customers.survivors(session, ids) == set(walked.values())
    assert (await session.execute(_DANGLING)).all() == []
    largest = 0
    for root in set(walked.values()):
        down = _walked_family(merged_into, root)
        assert set(await customers.family(session, root)) == down, root
        largest = max(largest, len(down))
    return largest


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_the_stored_root_is_where_walking_the_merges_ends(
    client: httpx.AsyncClient, admin: dict[str, str], session: AsyncSession, seed: int
) -> None:
    draw = random.Random(seed)
    ids = [UUID(await new_customer(client, admin, display_name=f"C{n}")) for n in range(7)]
    merged: list[tuple[UUID, UUID]] = []  # (survivor, absorbed) not undone yet
    largest, families_split = 0, 0
    for _ in range(24):
        live = [c for c in ids if not any(c == absorbed for _, absorbed in merged)]
        if merged and (len(live) < 2 or draw.random() < 0.4):
            survivor, absorbed = draw.choice(merged)
            answer = await client.post(
                f"/v1/customers/{survivor}/unmerge",
                json={"source_customer_id": str(absorbed)},
                headers=admin,
            )
            # Only a survivor still active undoes its merges (409 otherwise).
            assert answer.status_code in (200, 409), answer.text
            if answer.status_code == 200:
                merged.remove((survivor, absorbed))
                families_split += any(s == absorbed for s, _ in merged)
        else:
            survivor, absorbed = draw.sample(live, 2)
            answer = await client.post(
                f"/v1/customers/{survivor}/merge",
                json={"source_customer_id": str(absorbed)},
                headers=admin,
            )
            assert answer.status_code == 200, answer.text
            merged.append((survivor, absorbed))
        largest = max(largest, await _check_roots(session, ids))
    # The draw is worth something: chains of merges, and a customer given back with
    # customers merged into it.
    assert largest >= 3 and families_split, (largest, families_split)


async def test_no_statement_walks_merges_recursively(session: AsyncSession) -> None:
    """Citus plans no recursive query over distributed tables: the service's statements and
    its database functions read families by their root."""
    app = Path(__file__).resolve().parents[2] / "app"
    walking = [str(p) for p in app.rglob("*.py") if "WITH RECURSIVE" in p.read_text().upper()]
    functions = await session.execute(
        text(
            "SELECT proname FROM pg_proc WHERE pronamespace = 'public'::regnamespace "
            "AND prosrc ILIKE '%with recursive%'"
        )
    )
    assert walking == []
    assert functions.all() == []


async def test_an_organisations_contacts_bring_everyone_merged_into_them(
    client: httpx.AsyncClient, admin: dict[str, str], session: AsyncSession
) -> None:
    """An organisation's history read with its contact persons holds every customer
    merged into one of them: eight, so that on Citus (32 shards a table) some sit on
    another shard than their contact person's."""
    org = UUID(await new_customer(client, admin, kind="organization", display_name="Acme"))
    contact = UUID(
        await new_customer(client, admin, display_name="Marta", organization_id=str(org))
    )
    absorbed = [UUID(await new_customer(client, admin, display_name=f"M{n}")) for n in range(8)]
    for member in absorbed:
        answer = await client.post(
            f"/v1/customers/{contact}/merge",
            json={"source_customer_id": str(member)},
            headers=admin,
        )
        assert answer.status_code == 200, answer.text
    principal = Principal(uuid4(), Role.SUPPORT)
    _, family = await customers.readable_family(session, org, principal, contacts=True)
    assert sorted(family) == sorted([org, contact, *absorbed])
