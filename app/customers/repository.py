"""All queries on customers, identifiers and consents."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sqlalchemy import (
    ColumnElement,
    CompoundSelect,
    Numeric,
    Select,
    exists,
    func,
    literal,
    select,
    tuple_,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import Executor, driver_connection, new_id
from app.core.security import Principal
from app.customers.models import Consent, Customer, CustomerIdentifier, PastIdentifier
from app.customers.visibility import visibility_args, visible_sql, visible_to

# The identify fast path: two unique-index probes, prepared once per connection; a
# customer the caller may not see is not found.
_IDENTIFY_SQL = (
    "SELECT c.id, c.status, c.unverified, c.owner_id "
    "FROM customer_identifiers i JOIN customers c ON c.id = i.customer_id "
    "WHERE i.kind = $1 AND i.value = $2 AND " + visible_sql("c", "$3", "$4")
)


@dataclass(frozen=True, slots=True)
class Identified:
    customer_id: UUID
    status: str
    unverified: bool
    owner_id: str | None


@dataclass(frozen=True, slots=True)
class SearchFilters:
    words: Sequence[str] = ()
    q_identifiers: Sequence[tuple[str, str]] = ()  # (kind, value) alternatives for `q`
    q_email_prefix: str | None = None
    identifiers: Sequence[tuple[str, str]] = ()  # all must belong to the customer
    owner_id: str | None = None
    tier: str | None = None
    tag: str | None = None
    kind: str | None = None
    status: str | None = "active"


async def identified(
    on: Executor, kind: str, value: str, principal: Principal
) -> Identified | None:
    conn = await driver_connection(on)
    row = await conn.fetchrow(_IDENTIFY_SQL, kind, value, *visibility_args(principal))
    if row is None:
        return None
    return Identified(row["id"], row["status"], row["unverified"], row["owner_id"])


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
        """The customer holding each of these identifiers, and whether the caller sees it."""
        if not values:
            return {}
        rows = await self.session.execute(
            select(
                CustomerIdentifier.kind,
                CustomerIdentifier.value,
                CustomerIdentifier.customer_id,
                visible_to(principal),
            )
            .join(Customer, Customer.id == CustomerIdentifier.customer_id)
            .where(tuple_(CustomerIdentifier.kind, CustomerIdentifier.value).in_(list(values)))
        )
        return {(kind, value): (holder, bool(seen)) for kind, value, holder, seen in rows}

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
                Customer.status == "active",
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

    async def current_consents(self, customer_id: UUID) -> Sequence[Consent]:
        statement = (
            select(Consent)
            .where(Consent.customer_id == customer_id)
            .ext(distinct_on(Consent.channel, Consent.purpose))
            .order_by(
                Consent.channel, Consent.purpose, Consent.recorded_at.desc(), Consent.id.desc()
            )
        )
        return (await self.session.scalars(statement)).all()

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
                CustomerIdentifier.kind == "email",
                email.op("~>=~", is_comparison=True)(prefix),
                email.op("~<~", is_comparison=True)(after_prefix),
            )
        )
    if not branches:
        return None
    return branches[0] if len(branches) == 1 else union_all(*branches)


def _has_identifier(match: ColumnElement[bool], kind: str) -> ColumnElement[bool]:
    return exists().where(
        CustomerIdentifier.customer_id == Customer.id, CustomerIdentifier.kind == kind, match
    )


_FAMILY_SQL = (
    "WITH RECURSIVE family(id) AS ("
    " SELECT $1::uuid"
    " UNION SELECT c.id FROM customers c JOIN family f ON c.merged_into = f.id"
    ") SELECT id FROM family"
)
_SURVIVORS_SQL = (
    "WITH RECURSIVE chain(id, merged_into, depth) AS ("
    " SELECT id, merged_into, 0 FROM customers WHERE id = ANY($1::uuid[])"
    " UNION ALL SELECT c.id, c.merged_into, chain.depth + 1"
    " FROM customers c JOIN chain ON c.id = chain.merged_into WHERE chain.depth < 100"
    ") SELECT DISTINCT id FROM chain WHERE merged_into IS NULL"
)
_OWNERS_SQL = (
    "SELECT i.kind, i.value, i.customer_id FROM customer_identifiers i "
    "JOIN unnest($1::text[], $2::text[]) AS wanted(kind, value) "
    "ON i.kind = wanted.kind AND i.value = wanted.value"
)


async def family_ids(on: Executor, customer_id: UUID) -> list[UUID]:
    """The customer and every customer merged into it, directly or not."""
    conn = await driver_connection(on)
    return [row["id"] for row in await conn.fetch(_FAMILY_SQL, customer_id)]


async def survivors_of(on: Executor, customer_ids: Sequence[UUID]) -> set[UUID]:
    """The active ends of these customers' merge chains (a customer not merged is its own)."""
    conn = await driver_connection(on)
    return {UUID(str(r["id"])) for r in await conn.fetch(_SURVIVORS_SQL, list(customer_ids))}


async def survivor_of(on: Executor, customer_id: UUID) -> UUID | None:
    """The active end of a merge chain (the customer itself when not merged)."""
    found = await survivors_of(on, [customer_id])
    return next(iter(found), None)


# Each customer's owner and the owner of the customer its history now lives on.
_CHAIN_OWNERS_SQL = (
    "WITH RECURSIVE chain(start, id, merged_into, depth) AS ("
    " SELECT id, id, merged_into, 0 FROM customers WHERE id = ANY($1::uuid[])"
    " UNION ALL SELECT chain.start, c.id, c.merged_into, chain.depth + 1"
    " FROM customers c JOIN chain ON c.id = chain.merged_into WHERE chain.depth < 100"
    ") SELECT chain.start, own.owner_id, survivor.owner_id AS survivor_owner_id FROM chain"
    " JOIN customers own ON own.id = chain.start JOIN customers survivor ON survivor.id = chain.id"
    " WHERE chain.merged_into IS NULL"
)


async def chain_owners(
    on: Executor, customer_ids: Sequence[UUID]
) -> dict[UUID, tuple[str | None, str | None]]:
    """For each id that exists: its owner and its survivor's owner."""
    conn = await driver_connection(on)
    rows = await conn.fetch(_CHAIN_OWNERS_SQL, list(customer_ids))
    return {r["start"]: (r["owner_id"], r["survivor_owner_id"]) for r in rows}


class CustomerGraphRepository:
    """Bulk identifier lookups and merges, on prepared asyncpg statements."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def owners(self, values: Sequence[tuple[str, str]]) -> dict[tuple[str, str], UUID]:
        if not values:
            return {}
        conn = await driver_connection(self.session)
        rows = await conn.fetch(_OWNERS_SQL, [k for k, _ in values], [v for _, v in values])
        return {(r["kind"], r["value"]): r["customer_id"] for r in rows}

    async def create_unverified(
        self, customers: Sequence[tuple[UUID, str]], identifiers: Sequence[tuple[UUID, str, str]]
    ) -> set[tuple[str, str]]:
        """Insert unverified customers and their identifiers; returns the identifiers taken.

        A concurrent writer may have claimed a value meanwhile: it keeps it. Rows go in
        sorted order so that two concurrent imports wait for each other, never deadlock.
        """
        conn = await driver_connection(self.session)
        await conn.execute(
            "INSERT INTO customers (id, kind, display_name, unverified) "
            "SELECT id, 'person', name, true FROM unnest($1::uuid[], $2::text[]) AS n(id, name)",
            [c for c, _ in customers],
            [name for _, name in customers],
        )
        ordered = sorted(identifiers, key=lambda i: (i[1], i[2]))
        rows = await conn.fetch(
            "INSERT INTO customer_identifiers (id, customer_id, kind, value) "
            "SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[]) "
            "ON CONFLICT (kind, value) DO NOTHING RETURNING kind, value",
            [new_id() for _ in ordered],
            [c for c, _, _ in ordered],
            [k for _, k, _ in ordered],
            [v for _, _, v in ordered],
        )
        return {(r["kind"], r["value"]) for r in rows}

    async def delete_customers(self, customer_ids: Sequence[UUID]) -> None:
        """Remove customers created in this transaction that turned out to exist already."""
        conn = await driver_connection(self.session)
        await conn.execute("DELETE FROM customers WHERE id = ANY($1::uuid[])", list(customer_ids))

    async def existing(self, customer_ids: Sequence[UUID]) -> dict[UUID, tuple[str, str | None]]:
        """Status and owner of each id that exists."""
        if not customer_ids:
            return {}
        conn = await driver_connection(self.session)
        rows = await conn.fetch(
            "SELECT id, status, owner_id FROM customers WHERE id = ANY($1::uuid[])",
            list(customer_ids),
        )
        return {r["id"]: (r["status"], r["owner_id"]) for r in rows}

    async def move_identifiers(
        self, from_id: UUID, to_id: UUID, only: Sequence[UUID] | None
    ) -> list[UUID]:
        conn = await driver_connection(self.session)
        if only is None:
            rows = await conn.fetch(
                "UPDATE customer_identifiers SET customer_id = $2 "
                "WHERE customer_id = $1 RETURNING id",
                from_id,
                to_id,
            )
        else:
            rows = await conn.fetch(
                "UPDATE customer_identifiers SET customer_id = $2 "
                "WHERE customer_id = $1 AND id = ANY($3::uuid[]) RETURNING id",
                from_id,
                to_id,
                list(only),
            )
        return [r["id"] for r in rows]


# The aggregate in one round trip, for fichas and screen-pops: what the caller may see
# of it ($2: the key is owned-only, $3: its agent), as the ORM aggregate shows it.
_SEEN = {alias: visible_sql(alias, "$2", "$3") for alias in ("c", "o", "p")}
_CARD_OF_C = (
    """
SELECT c.*,
  (SELECT coalesce(json_agg(json_build_object(
      'id', i.id, 'kind', i.kind, 'value', i.value, 'created_at', i.created_at)
      ORDER BY i.kind, i.created_at), '[]'::json)
   FROM customer_identifiers i WHERE i.customer_id = c.id) AS identifier_list,
  (SELECT json_build_object('id', o.id, 'display_name', o.display_name, 'kind', o.kind)
   FROM customers o WHERE o.id = c.organization_id AND """
    + _SEEN["o"]
    + """)
   AS organization,
  CASE WHEN c.kind = 'organization' THEN (
    SELECT coalesce(json_agg(json_build_object(
        'id', p.id, 'display_name', p.display_name, 'job_title', p.job_title,
        'identifiers', (
            SELECT coalesce(json_agg(json_build_object(
                'id', i.id, 'kind', i.kind, 'value', i.value, 'created_at', i.created_at)
                ORDER BY i.kind, i.created_at), '[]'::json)
            FROM customer_identifiers i WHERE i.customer_id = p.id))
        ORDER BY p.id), '[]'::json)
    FROM (SELECT id, display_name, job_title FROM customers p
          WHERE p.organization_id = c.id AND p.status = 'active' AND """
    + _SEEN["p"]
    + """
          ORDER BY p.id LIMIT 100) AS p) END AS contact_list,
  (SELECT coalesce(json_agg(x ORDER BY x.channel, x.purpose), '[]'::json) FROM (
      SELECT DISTINCT ON (channel, purpose) id, channel, purpose, granted, source, evidence,
             recorded_at
      FROM customer_consents WHERE customer_id = c.id
      ORDER BY channel, purpose, recorded_at DESC, id DESC) AS x) AS consent_list
"""
)
_CARD = _CARD_OF_C + "FROM customers c WHERE c.id = $1 AND " + _SEEN["c"]
# The screen-pop: the card of whoever holds one of the (at most two) readings of the
# caller's number, $1 and $4, with the reading that matched. Two parameters, not an array:
# with an array PostgreSQL planned the statement again on every call.
_CALLER_CARDS = (
    "SELECT i.value AS phone, card.* FROM customer_identifiers i CROSS JOIN LATERAL ("
    + _CARD_OF_C
    + "FROM customers c WHERE c.id = i.customer_id AND "
    + _SEEN["c"]
    + ") AS card "
    "WHERE i.kind = 'phone' AND i.value IN ($1, $4) ORDER BY i.value"
)


async def card_row(on: Executor, customer_id: UUID, principal: Principal) -> Any:
    """A customer with its identifiers, organisation, contacts and current consents, in one
    query, if ``principal`` may see it; the organisation and contacts only as far as it
    may see them."""
    conn = await driver_connection(on)
    return await conn.fetchrow(_CARD, customer_id, *visibility_args(principal))


async def caller_card_rows(
    on: Executor, national: str, international: str | None, principal: Principal
) -> Any:
    """The card row of everyone ``principal`` may see holding either reading, with the
    ``phone`` that matched."""
    conn = await driver_connection(on)
    owned_only, agent_id = visibility_args(principal)
    return await conn.fetch(_CALLER_CARDS, national, owned_only, agent_id, international)
