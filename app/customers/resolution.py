"""Who an event is about: resolving references (ids, identifiers) to customers, creating
unverified ones for unknown identifiers, and what an owned-only key may write to."""

from collections.abc import Mapping, Sequence
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import Executor, new_id
from app.core.errors import Conflict, ProblemError
from app.core.security import Principal
from app.customers import queries
from app.customers.repository import CustomerRepository
from app.customers.schemas import CustomerStatus
from app.customers.service import CustomerNotActive, CustomerNotFound, survivor_id
from app.customers.visibility import is_visible, sees_everyone


async def owners_of(on: Executor, identifiers: Sequence[tuple[str, str]]) -> set[UUID]:
    """The customers holding any of these normalised (kind, value) identifiers; creates none."""
    return set((await queries.owners(on, list(set(identifiers)))).values())


async def writable_target(session: AsyncSession, customer_id: UUID, principal: Principal) -> UUID:
    """The customer an append to ``customer_id`` lands on (the survivor if it was merged)."""
    customer = await CustomerRepository(session).get(customer_id, principal)
    if customer is None:
        raise CustomerNotFound(customer_id)
    if customer.status == CustomerStatus.ERASED:
        raise CustomerNotActive(
            f"Customer {customer_id} was erased; nothing more is recorded on it."
        )
    if customer.status == CustomerStatus.MERGED:
        if customer.id not in await visible_ids(session, [customer.id], principal):
            raise CustomerNotFound(customer_id)  # its history lives on one the key cannot see
        return await survivor_id(session, customer.id)
    return customer.id


class NoWritableCustomer(CustomerNotFound):
    """What an owned-only key hears whether the identifiers name another owner's customer
    or nobody: the two must not be told apart, or the key could probe for customers."""

    def __init__(self) -> None:
        ProblemError.__init__(
            self,
            "The identifiers name no customer this key may write; "
            "an owned-only key writes only to its own customers and creates none.",
        )


async def visible_ids(
    on: Executor, customer_ids: Sequence[UUID], principal: Principal
) -> set[UUID]:
    """Those of ``customer_ids`` the caller may see, and the survivor their history now
    lives on as well (an owned-only key must not learn of another owner's customer)."""
    if sees_everyone(principal):
        return set(customer_ids)
    owners = await queries.chain_owners(on, customer_ids)
    return {
        cid
        for cid, (own, survivor) in owners.items()
        if is_visible(own, principal) and is_visible(survivor, principal)
    }


async def resolve_customers(
    on: Executor,
    refs: list[tuple[UUID | None, list[tuple[str, str]], str | None]],
    principal: Principal,
    held_by: Mapping[tuple[str, str], UUID] | None = None,
) -> list[tuple[UUID, bool] | ProblemError]:
    """Who each reference names: (customer id, created) or the reason it cannot be resolved.

    A reference is an explicit id or identifiers (normalised). The first identifier that
    names a customer wins; when none does, a new ``unverified`` customer is created with
    all of them (once per batch, however many references name it). ``held_by``: who holds
    each of the identifiers, looked up already in this transaction (``owners``).
    """
    owners = (
        dict(held_by)
        if held_by is not None
        else await queries.owners(on, list({i for _, idents, _ in refs for i in idents}))
    )
    explicit = await queries.existing(on, [cid for cid, _, _ in refs if cid is not None])
    visible = await visible_ids(on, list({*explicit, *owners.values()}), principal)
    created: dict[tuple[str, str], UUID] = {}
    new_customers: list[tuple[UUID, str]] = []
    new_identifiers: list[tuple[UUID, str, str]] = []
    results: list[tuple[UUID, bool] | ProblemError] = []
    for customer_id, identifiers, display_name in refs:
        if customer_id is not None:
            status, _ = explicit.get(customer_id, (None, None))
            if status is None or customer_id not in visible:
                results.append(CustomerNotFound(customer_id))
            elif status == CustomerStatus.ERASED:
                results.append(Conflict(f"Customer {customer_id} was erased."))
            else:
                results.append((customer_id, False))
            continue
        known = next((owners[i] for i in identifiers if i in owners), None)
        if known is not None:
            if known not in visible:
                results.append(NoWritableCustomer())
            else:
                results.append((known, False))
            continue
        fresh = next((created[i] for i in identifiers if i in created), None)
        if fresh is not None:
            results.append((fresh, False))
            continue
        if not sees_everyone(principal):  # it could not tell a hidden holder from nobody
            results.append(NoWritableCustomer())
            continue
        new = new_id()
        new_customers.append((new, (display_name or identifiers[0][1])[:300]))
        for identifier in identifiers:
            if identifier not in created:
                created[identifier] = new
                new_identifiers.append((new, *identifier))
        results.append((new, True))
    if new_customers:
        taken = await queries.create_unverified(on, new_customers, new_identifiers)
        # A concurrent writer created some of the same customers first: use theirs.
        lost = {c for c, kind, value in new_identifiers if (kind, value) not in taken}
        lost -= {c for c, kind, value in new_identifiers if (kind, value) in taken}
        if lost:
            owners = await queries.owners(on, [(k, v) for c, k, v in new_identifiers if c in lost])
            winner = {c: owners[(k, v)] for c, k, v in new_identifiers if (k, v) in owners}
            results = [
                (winner[r[0]], False) if isinstance(r, tuple) and r[0] in winner else r
                for r in results
            ]
            await queries.delete_customers(on, list(lost))
    return results
