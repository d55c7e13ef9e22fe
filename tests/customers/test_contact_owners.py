"""An organisation's ``contact_owners`` (what every "does this key miss a contact person"
reads: app/customers/visibility.py) is, after any sequence of the changes that touch it,
what its contact persons give: the owners of those with its id as ``organization_id`` and
not merged, each once, sorted, an ownerless one as a NULL last."""

import asyncio
import random
from collections import Counter
from typing import Any
from uuid import UUID

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import Database
from app.customers import service as customers
from tests.support.api import new_customer

OWNERS = (None, "agent-1", "agent-2", "agent-3")
# Each change as often as it is named; an erasure ends a customer's changes, so seldom.
STEPS = ("create",) * 3 + ("organisation", "owner", "merge", "unmerge") * 2 + ("erase",)
_ROWS = text("SELECT id, organization_id, owner_id, merged_into, contact_owners FROM customers")


def _expected(rows: list[Any], customer: UUID) -> list[str | None]:
    """The oracle: the contact persons' owners, gathered in Python from every row."""
    owners = {r.owner_id for r in rows if r.organization_id == customer and r.merged_into is None}
    named = sorted(o for o in owners if o is not None)
    return [*named, None] if None in owners else named


async def _check(session: AsyncSession) -> int:
    """Every row's stored owners against the oracle; how many organisations have some."""
    rows = list(await session.execute(_ROWS))
    for row in rows:
        assert row.contact_owners == _expected(rows, row.id), row.id
    return sum(1 for r in rows if r.contact_owners)


async def _patch(
    client: httpx.AsyncClient, admin: dict[str, str], customer: UUID, patch: dict[str, Any]
) -> int:
    url = f"/v1/customers/{customer}"
    etag = (await client.get(url, headers=admin)).headers["etag"]
    headers = {**admin, "content-type": "application/merge-patch+json", "If-Match": etag}
    return (await client.patch(url, json=patch, headers=headers)).status_code


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_an_organisations_contact_owners_are_what_its_contact_persons_give(
    live: tuple[httpx.AsyncClient, dict[str, str]], session: AsyncSession, seed: int
) -> None:
    # Committed: an erasure commits in transactions of its own (docs/privacy.md).
    client, admin = live
    draw = random.Random(seed)
    organizations = [
        UUID(await new_customer(client, admin, kind="organization", display_name=f"O{n}"))
        for n in range(3)
    ]
    people: list[UUID] = []
    merged: list[tuple[UUID, UUID]] = []  # (survivor, absorbed) not undone yet
    erased: set[UUID] = set()
    done: Counter[str] = Counter()
    for _ in range(40):
        absorbed = {a for _, a in merged}
        active = [p for p in people if p not in absorbed and p not in erased]
        step = draw.choice(STEPS) if len(active) >= 2 else draw.choice(["create", "unmerge"])
        if step == "create":
            organization = draw.choice([*organizations, None])
            body = {"display_name": f"P{len(people)}", "owner_id": draw.choice(OWNERS)}
            if organization is not None:
                body["organization_id"] = str(organization)
            people.append(UUID(await new_customer(client, admin, **body)))
        elif step == "organisation":
            moved = draw.choice([*organizations, None])
            patch = {"organization_id": str(moved) if moved else None}
            assert await _patch(client, admin, draw.choice(active), patch) == 200
        elif step == "owner":
            patch = {"owner_id": draw.choice(OWNERS)}
            assert await _patch(client, admin, draw.choice(active), patch) == 200
        elif step == "merge":
            survivor, source = draw.sample(active, 2)
            answer = await client.post(
                f"/v1/customers/{survivor}/merge",
                json={"source_customer_id": str(source)},
                headers=admin,
            )
            assert answer.status_code == 200, answer.text
            merged.append((survivor, source))
        elif step == "unmerge":
            if not merged:
                continue
            survivor, source = draw.choice(merged)
            answer = await client.post(
                f"/v1/customers/{survivor}/unmerge",
                json={"source_customer_id": str(source)},
                headers=admin,
            )
            # Only a survivor still active undoes its merges (409 otherwise).
            assert answer.status_code in (200, 409), answer.text
            if answer.status_code != 200:
                continue
            merged.remove((survivor, source))
        else:
            customer = draw.choice(active)
            answer = await client.post(
                f"/v1/customers/{customer}/erasure",
                json={"reason": "asked", "requested_at": "2026-11-20T09:00:00Z"},
                headers=admin,
            )
            assert answer.status_code == 200, answer.text
            erased.add(customer)
        done[step] += 1
        await _check(session)
    # The walk is worth something: every change was made, and some organisation ended
    # with contact persons.
    assert set(done) == set(STEPS), done
    assert await _check(session) > 0


async def _hand_over(session: AsyncSession, contact: str, owner: str, organization: str) -> None:
    """A contact person's owner changed, and its organisation's list kept, in ``session``."""
    await session.execute(
        text("UPDATE customers SET owner_id = :owner WHERE id = :id"),
        {"owner": owner, "id": contact},
    )
    await customers.contacts_changed(session, UUID(organization))


async def test_two_contact_persons_changed_at_once_both_count(
    live: tuple[httpx.AsyncClient, dict[str, str]], database: Database
) -> None:
    """The second writer reads its contact persons after the first commits (it waits for
    the organisation's row), so neither change is lost."""
    client, admin = live
    org = await new_customer(client, admin, kind="organization", display_name="O")
    ana, bob = [
        await new_customer(client, admin, display_name=n, organization_id=org, owner_id="agent-1")
        for n in ("Ana", "Bob")
    ]

    async def second() -> None:
        async with database.sessionmaker() as session, session.begin():
            await session.execute(text("SET LOCAL lock_timeout = '10s'"))  # fails, not hangs
            await _hand_over(session, bob, "agent-3", org)

    async with database.sessionmaker() as first, first.begin():
        await _hand_over(first, ana, "agent-2", org)
        later = asyncio.create_task(second())
        await asyncio.sleep(1)
        assert not later.done(), "the second writer waits for the first"
    await asyncio.wait_for(later, 10)
    async with database.sessionmaker() as session:
        stored = await session.scalar(
            text("SELECT contact_owners FROM customers WHERE id = :id"), {"id": org}
        )
    assert stored == ["agent-2", "agent-3"]
