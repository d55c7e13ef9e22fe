"""Merging two customers and undoing it, as far as the customers themselves go (the
timeline's flows record it and join the histories)."""

import json
from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import invalid_field
from app.core.security import Principal
from app.customers import queries
from app.customers.models import Customer
from app.customers.repository import CustomerRepository
from app.customers.schemas import CustomerStatus, IdentifierOut
from app.customers.service import (
    PROFILE_FIELDS,
    CustomerNotActive,
    CustomerNotFound,
    contacts_changed,
    identifier_out,
)


async def _locked(
    repo: CustomerRepository, one: UUID, other: UUID, principal: Principal
) -> dict[UUID, Customer]:
    """Those of the two customers the caller may see, locked in id order (two merges of
    the same pair wait for each other, never deadlock)."""
    locked = [await repo.get(c, principal, for_update=True) for c in sorted([one, other])]
    return {c.id: c for c in locked if c}


async def merge_preview(
    session: AsyncSession, survivor: UUID, absorbed: UUID, principal: Principal
) -> tuple[Customer, Customer, list[IdentifierOut], list[dict[str, Any]]]:
    """Both customers (locked), the identifiers that would move and the fields that differ."""
    repo = CustomerRepository(session)
    if survivor == absorbed:
        raise invalid_field("body.source_customer_id", "a customer cannot be merged into itself")
    locked = await _locked(repo, survivor, absorbed, principal)
    if survivor not in locked:
        raise CustomerNotFound(survivor)
    if absorbed not in locked:
        raise invalid_field("body.source_customer_id", f"customer {absorbed} not found")
    target, source = locked[survivor], locked[absorbed]
    for customer in (target, source):
        if customer.status != CustomerStatus.ACTIVE:
            raise CustomerNotActive(
                f"Customer {customer.id} is {customer.status}; only active customers merge."
            )
    identifiers = (await repo.identifiers_of([source.id]))[source.id]
    conflicts = [
        {"field": name, "survivor": getattr(target, name), "absorbed": getattr(source, name)}
        for name in PROFILE_FIELDS
        if name not in {"tags", "attributes", "unverified"}
        and getattr(source, name) not in (None, "")
        and getattr(target, name) not in (None, "")
        and getattr(source, name) != getattr(target, name)
    ]
    # An organisation the caller may not see is reported as differing, never named.
    seen = await repo.visible_among(
        [c.organization_id for c in (target, source) if c.organization_id], principal
    )
    for conflict in conflicts:
        if conflict["field"] == "organization_id":
            for side in ("survivor", "absorbed"):
                conflict[side] = conflict[side] if conflict[side] in seen else None
    return target, source, [identifier_out(i) for i in identifiers], _jsonable(conflicts)


def merged_under(top: UUID, links: dict[UUID, UUID]) -> list[UUID]:
    """Among a family's members, each with the one it was merged into, those merged into
    ``top``, directly or not."""
    below: dict[UUID, list[UUID]] = {}
    for member, into in links.items():
        below.setdefault(into, []).append(member)
    found: list[UUID] = []
    level = below.get(top, [])
    while level:
        found += level
        level = [member for above in level for member in below.get(above, [])]
    return found


def _jsonable(value: Any) -> Any:
    """Plain JSON values (UUIDs as strings) for problem and preview documents."""
    return json.loads(json.dumps(value, default=str))


async def absorb(session: AsyncSession, target: Customer, source: Customer) -> list[UUID]:
    """Move every identifier of ``source`` to ``target`` and mark ``source`` merged, its
    family now ``target``'s (``target`` is active: its own root).

    ``source`` takes ``target``'s owner: its history is the survivor's now, and whoever
    may see one sees the other (customers merged into ``source`` follow, by trigger).
    """
    repo = CustomerRepository(session)
    moved = await queries.move_identifiers(session, source.id, target.id, None)
    await queries.move_family(session, source.id, target.id)
    source.status = CustomerStatus.MERGED
    source.merged_into = target.id
    source.merge_root = target.id
    source.owner_id = target.owner_id
    if source.unverified is False and target.unverified:
        target.unverified = False
    await repo.touch(source)
    await repo.touch(target)
    await contacts_changed(session, source.organization_id, target.organization_id)
    return moved


async def lock_pair(
    session: AsyncSession, target_id: UUID, source_id: UUID, principal: Principal
) -> tuple[Customer, Customer]:
    """Both customers of a merge, locked in id order; 404 when the caller cannot see
    either (before anything about the merge itself is looked at)."""
    locked = await _locked(CustomerRepository(session), target_id, source_id, principal)
    if target_id not in locked or source_id not in locked:
        raise CustomerNotFound()
    return locked[target_id], locked[source_id]


async def restore(
    session: AsyncSession,
    target: Customer,
    source: Customer,
    identifier_ids: list[UUID],
    owner_id: str | None,
) -> int:
    """Undo :func:`absorb` on a pair from :func:`lock_pair`: ``source`` active again with
    exactly the identifiers it brought and the owner it had, the root of what was merged
    into it again."""
    repo = CustomerRepository(session)
    if target.status != CustomerStatus.ACTIVE:
        raise CustomerNotActive(
            f"Customer {target.id} is {target.status}; undo its own merge first."
        )
    moved = await queries.move_identifiers(session, target.id, source.id, identifier_ids)
    # What was merged into ``source`` leaves with it.
    links = await queries.family_links(session, target.id)
    await queries.root_at(session, merged_under(source.id, links), source.id)
    source.status = CustomerStatus.ACTIVE
    source.merged_into = None
    source.merge_root = None
    source.owner_id = owner_id
    await repo.touch(source)
    await repo.touch(target)
    await contacts_changed(session, source.organization_id, target.organization_id)
    return len(moved)
