"""ORM queries on customers, identifiers and consents, and the search statement."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sqlalchemy import (
    ColumnElement,
    CompoundSelect,
    Numeric,
    Select,
    func,
    literal,
    not_,
    select,
    tuple_,
    union_all,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.security import Principal
from app.customers.identifiers import IdentifierKind
from app.customers.models import Consent, Customer, CustomerIdentifier, PastIdentifier
from app.customers.schemas import CustomerKind, CustomerStatus, Tier
from app.customers.visibility import sees_every_contact, visible_to


@dataclass(frozen=True, slots=True)
class SearchFilters:
    words: Sequence[str] = ()
    q_identifiers: Sequence[tuple[str, str]] = ()  # (kind, value) alternatives for `q`
    q_email_prefix: str | None = None
    identifiers: Sequence[tuple[str, str]] = ()  # all must belong to the customer
    owner_id: str | None = None
    tier: Tier | None = None
    tag: str | None = None
    kind: CustomerKind | None = None
    status: CustomerStatus | None = CustomerStatus.ACTIVE


class CustomerRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(
        self, customer_id: UUID, principal: Principal, *, for_update: bool = False
    ) -> Customer | None:
        statement = select(Customer).where(Customer.id == customer_id, visible_to(principal))
        if for_update:
            statement = statement.with_for_update()
        return (await self.session.scalars(statement)).one_or_none()

    async def visible_among(self, customer_ids: Sequence[UUID], principal: Principal) -> set[UUID]:
        """Those of ``customer_ids`` that ``principal`` may see."""
        if not customer_ids:
            return set()
        statement = select(Customer.id).where(
            Customer.id.in_(list(customer_ids)), visible_to(principal)
        )
        return set((await self.session.scalars(statement)).all())

    async def hiding_contacts(
        self, customer_ids: Sequence[UUID], principal: Principal
    ) -> set[UUID]:
        """Those of ``customer_ids`` some of whose live contact persons ``principal`` cannot
        see."""
        # Their own rows say so (``contact_owners``): read by id, on their shards on Citus.
        statement = select(Customer.id).where(
            Customer.id.in_(list(customer_ids)), not_(sees_every_contact(principal))
        )
        return set((await self.session.scalars(statement)).all())

    async def add(self, customer: Customer) -> Customer:
        self.session.add(customer)
        await self.session.flush()
        return customer

    async def add_identifiers(self, customer_id: UUID, values: Sequence[tuple[str, str]]) -> None:
        """Insert identifiers; the unique (kind, value) constraint decides any race."""
        async with self.session.begin_nested():
            for kind, value in values:
                self.session.add(
                    CustomerIdentifier(customer_id=customer_id, kind=kind, value=value)
                )
            await self.session.flush()

    async def holders_of(
        self, values: Sequence[tuple[str, str]], principal: Principal
    ) -> dict[tuple[str, str], tuple[UUID, bool]]:
        """The customer holding each of these identifiers, and whether the caller sees it:
        the identifiers, then their holders (spread by value and by id on Citus, the two
        are read apart)."""
        if not values:
            return {}
        rows = await self.session.execute(
            select(
                CustomerIdentifier.kind, CustomerIdentifier.value, CustomerIdentifier.customer_id
            ).where(tuple_(CustomerIdentifier.kind, CustomerIdentifier.value).in_(list(values)))
        )
        held = {(kind, value): holder for kind, value, holder in rows}
        seen = await self.visible_among(list(set(held.values())), principal)
        return {pair: (holder, holder in seen) for pair, holder in held.items()}

    async def identifiers_of(
        self, customer_ids: Sequence[UUID]
    ) -> dict[UUID, list[CustomerIdentifier]]:
        found: dict[UUID, list[CustomerIdentifier]] = {cid: [] for cid in customer_ids}
        if not customer_ids:
            return found
        rows = await self.session.scalars(
            select(CustomerIdentifier)
            .where(CustomerIdentifier.customer_id.in_(customer_ids))
            .order_by(CustomerIdentifier.kind, CustomerIdentifier.created_at)
        )
        for identifier in rows:
            found[identifier.customer_id].append(identifier)
        return found

    async def get_identifier(
        self, customer_id: UUID, identifier_id: UUID
    ) -> CustomerIdentifier | None:
        return (
            await self.session.scalars(
                select(CustomerIdentifier).where(
                    CustomerIdentifier.id == identifier_id,
                    CustomerIdentifier.customer_id == customer_id,
                )
            )
        ).one_or_none()

    async def delete_identifier(self, identifier: CustomerIdentifier) -> None:
        """Detach an identifier, keeping it among the customer's past identifiers."""
        self.session.add(
            PastIdentifier(
                customer_id=identifier.customer_id,
                kind=identifier.kind,
                value=identifier.value,
                created_at=identifier.created_at,
            )
        )
        await self.session.delete(identifier)
        await self.session.flush()

    async def contacts_of(
        self, organization_id: UUID, principal: Principal, *, limit: int, after: UUID | None = None
    ) -> Sequence[Customer]:
        statement = (
            select(Customer)
            .where(
                Customer.organization_id == organization_id,
                Customer.status == CustomerStatus.ACTIVE,
                visible_to(principal),
            )
            .order_by(Customer.id)
            .limit(limit)
        )
        if after is not None:
            statement = statement.where(Customer.id > after)
        return (await self.session.scalars(statement)).all()

    async def touch(self, customer: Customer) -> None:
        """Record a change to the aggregate: a new version and updated_at."""
        customer.version += 1
        customer.updated_at = func.now()
        await self.session.flush()
        await self.session.refresh(customer, ["updated_at"])

    async def update_profile(
        self, customer_id: UUID, expected_version: int, values: dict[str, Any]
    ) -> bool:
        """Compare-and-set on version: False when another writer got there first."""
        result = await self.session.execute(
            update(Customer)
            .where(Customer.id == customer_id, Customer.version == expected_version)
            .values(**values, version=Customer.version + 1, updated_at=func.now())
            .returning(Customer.id)
            .execution_options(synchronize_session=False)
        )
        return result.first() is not None

    async def add_consent(self, consent: Consent) -> Consent:
        self.session.add(consent)
        await self.session.flush()
        await self.session.refresh(consent, ["recorded_at"])
        return consent

    async def consent_history(
        self, customer_id: UUID, *, limit: int, before: UUID | None = None
    ) -> Sequence[Consent]:
        statement = (
            select(Consent)
            .where(Consent.customer_id == customer_id)
            .order_by(Consent.id.desc())
            .limit(limit)
        )
        if before is not None:
            statement = statement.where(Consent.id < before)
        return (await self.session.scalars(statement)).all()

    async def search(
        self,
        filters: SearchFilters,
        principal: Principal,
        *,
        limit: int,
        after: tuple[float | None, UUID] | None,
    ) -> list[tuple[Customer, float | None]]:
        """One page of customers matching every filter, best match (or newest) first."""
        statement = search_statement(filters, principal, limit=limit, after=after)
        rows = await self.session.execute(statement)
        return [(customer, None if r is None else float(r)) for customer, r in rows]


def search_statement(
    filters: SearchFilters,
    principal: Principal,
    *,
    limit: int,
    after: tuple[float | None, UUID] | None = None,
) -> Select[Any]:
    """The search query (its own function, so that a test can read its plan)."""
    conditions: list[ColumnElement[bool]] = [visible_to(principal)]
    if filters.status:
        conditions.append(Customer.status == filters.status)
    for column, value in (
        (Customer.owner_id, filters.owner_id),
        (Customer.tier, filters.tier),
        (Customer.kind, filters.kind),
    ):
        if value is not None:
            conditions.append(column == value)
    if filters.tag is not None:
        conditions.append(Customer.tags.contains([filters.tag]))
    for kind, value in filters.identifiers:
        conditions.append(_has_identifier(CustomerIdentifier.value == value, kind))

    rank: ColumnElement[Any] | None = None
    if filters.words:
        phrase = func.ch_unaccent(func.lower(" ".join(filters.words)))
        rank = func.round(func.word_similarity(phrase, Customer.search_text).cast(Numeric()), 6)
    matching = _q_matches(filters)
    if matching is not None:
        conditions.append(Customer.id.in_(matching))

    statement: Select[Any]
    if rank is None:
        statement = select(Customer, literal(None)).order_by(Customer.id.desc())  # type: ignore[assignment]
        if after is not None:
            conditions.append(Customer.id < after[1])
    else:
        statement = select(Customer, rank).order_by(rank.desc(), Customer.id.desc())
        if after is not None:
            conditions.append(tuple_(rank, Customer.id) < tuple_(after[0], after[1]))
    return statement.where(*conditions).limit(limit)


def _q_matches(filters: SearchFilters) -> CompoundSelect | Select[Any] | None:
    """The ids that ``q`` matches, one indexed branch per way it can match (the name's
    trigrams, an identifier, an email prefix), united. As one OR of a trigram LIKE and
    correlated EXISTS it could use no index: PostgreSQL scanned every customer, slowest
    right after a bulk import left the statistics stale (docs/performance.md)."""
    branches: list[Select[Any]] = []
    if filters.words:
        normalised = [func.ch_unaccent(func.lower(word)) for word in filters.words]
        branches.append(
            select(Customer.id).where(*(Customer.search_text.contains(w) for w in normalised))
        )
    for kind, value in filters.q_identifiers:
        branches.append(
            select(CustomerIdentifier.customer_id).where(
                CustomerIdentifier.kind == kind, CustomerIdentifier.value == value
            )
        )
    if filters.q_email_prefix:  # never empty: it holds the '@'
        # A range in byte order (the pattern operators), on the text_pattern_ops index
        # made for it: LIKE 'prefix%' with a bound prefix could use no index.
        prefix = filters.q_email_prefix
        after_prefix = prefix[:-1] + chr(ord(prefix[-1]) + 1)
        email = CustomerIdentifier.value
        branches.append(
            select(CustomerIdentifier.customer_id).where(
                CustomerIdentifier.kind == IdentifierKind.EMAIL,
                email.op("~>=~", is_comparison=True)(prefix),
                email.op("~<~", is_comparison=True)(after_prefix),
            )
        )
    if not branches:
        return None
    return branches[0] if len(branches) == 1 else union_all(*branches)


def _has_identifier(match: ColumnElement[bool], kind: str) -> ColumnElement[bool]:
    # Not a correlated EXISTS: on Citus the identifiers live by value, not by customer, and
    # a join on customer_id needs repartitioning; the ids read first are planned apart
    # (one PostgreSQL plans both as the same semi-join).
    holders = select(CustomerIdentifier.customer_id).where(CustomerIdentifier.kind == kind, match)
    return Customer.id.in_(holders)
