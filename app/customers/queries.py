"""Prepared statements on customers and identifiers (the driver path): identify, the
merge family, bulk resolution and merges, and the aggregate read in one query."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from app.core.db import Executor, driver_connection, new_id
from app.core.security import ACCESS_CHANNEL, Principal
from app.customers.family import contacts_cte, family_cte, survivor
from app.customers.visibility import visibility_args, visible_sql

# The identify fast path, two unique-index probes prepared once per connection: who holds
# the readings of a caller id, then those customers, unless the caller may not see them.
# Two statements, not a join: identifiers are spread by value and customers by id, so on
# Citus each is read on its own shard (a router query) where the join was refused.
_HOLDING_SQL = (
    "SELECT customer_id, value FROM customer_identifiers "
    "WHERE kind = $1 AND value = ANY($2::text[])"
)
_IDENTIFIED_SQL = (
    "SELECT c.id, c.status, c.unverified, c.owner_id, c.display_name FROM customers c "
    "WHERE c.id = ANY($1::uuid[]) AND " + visible_sql("c", "$2", "$3")
)


@dataclass(frozen=True, slots=True)
class Identified:
    customer_id: UUID
    status: str
    unverified: bool
    owner_id: str | None
    display_name: str
    value: str  # the identifier (the reading of a caller id) that matched


async def identified(
    on: Executor, kind: str, values: Sequence[str], principal: Principal
) -> list[Identified]:
    """Everyone ``principal`` may see holding one of ``values``, in their order."""
    conn = await driver_connection(on)
    holding = await conn.fetch(_HOLDING_SQL, kind, list(values))
    if not holding:
        return []
    seen = {
        r["id"]: r
        for r in await conn.fetch(
            _IDENTIFIED_SQL, [h["customer_id"] for h in holding], *visibility_args(principal)
        )
    }
    order = {value: n for n, value in enumerate(values)}
    return [
        Identified(c["id"], c["status"], c["unverified"], c["owner_id"], c["display_name"], value)
        for value, c in sorted(
            ((h["value"], seen[h["customer_id"]]) for h in holding if h["customer_id"] in seen),
            key=lambda held: order[held[0]],
        )
    ]


_FAMILY_SQL = "WITH " + family_cte("$1::uuid") + " SELECT id FROM family"
_CONTACTS_FAMILY_SQL = (
    "WITH " + contacts_cte("$1::uuid", visible_sql("c", "$2", "$3")) + " SELECT id FROM family"
)
# A timeline page's first read: whether the caller may see the customer, its status, and
# the ids whose events form its history, in one round trip.
_VISIBLE_FAMILY_SQL = (
    "WITH "
    + family_cte("$1::uuid")
    + " SELECT c.status, c.kind, ARRAY(SELECT id FROM family) AS family FROM customers c "
    "WHERE c.id = $1 AND " + visible_sql("c", "$2", "$3")
)
_SURVIVORS_SQL = (
    f"SELECT DISTINCT {survivor('c')} AS id FROM customers c WHERE c.id = ANY($1::uuid[])"
)


def holders(kinds: str, values: str) -> str:
    """A query of the customers holding identifiers given as two parallel arrays (the
    parameters ``kinds`` and ``values``): ``kind, value, customer_id``, as ``owners`` reads
    them; the record of a webhook delivery sends it too."""
    return (
        "SELECT i.kind, i.value, i.customer_id FROM customer_identifiers i "
        f"JOIN unnest({kinds}::text[], {values}::text[]) AS wanted(kind, value) "
        "ON i.kind = wanted.kind AND i.value = wanted.value"
    )


_OWNERS_SQL = holders("$1", "$2")


async def contacts_family_ids(
    on: Executor, organization_id: UUID, principal: Principal
) -> list[UUID]:
    """The contact persons of an organisation that ``principal`` may see, and everyone
    merged into them."""
    conn = await driver_connection(on)
    rows = await conn.fetch(_CONTACTS_FAMILY_SQL, organization_id, *visibility_args(principal))
    return [r["id"] for r in rows]


async def family_ids(on: Executor, customer_id: UUID) -> list[UUID]:
    """The customer and every customer merged into it, directly or not."""
    conn = await driver_connection(on)
    return [row["id"] for row in await conn.fetch(_FAMILY_SQL, customer_id)]


async def visible_family(on: Executor, customer_id: UUID, principal: Principal) -> Any:
    """The status and family ids of a customer ``principal`` may see; None otherwise."""
    conn = await driver_connection(on)
    return await conn.fetchrow(_VISIBLE_FAMILY_SQL, customer_id, *visibility_args(principal))


async def survivors_of(on: Executor, customer_ids: Sequence[UUID]) -> set[UUID]:
    """The active ends of these customers' merge chains (a customer not merged is its own)."""
    conn = await driver_connection(on)
    return {UUID(str(r["id"])) for r in await conn.fetch(_SURVIVORS_SQL, list(customer_ids))}


async def survivor_of(on: Executor, customer_id: UUID) -> UUID | None:
    """The active end of a merge chain (the customer itself when not merged)."""
    found = await survivors_of(on, [customer_id])
    return next(iter(found), None)


# Each customer's owner and the owner of the customer its history now lives on. The
# customers asked for are read first: on Citus a survivor is on another shard, and a join
# of customers to customers by anything but the id named is refused (complex joins).
_CHAIN_OWNERS_SQL = (
    "WITH own AS MATERIALIZED (SELECT own.id, own.owner_id, "
    + survivor("own")
    + " AS survivor_id FROM customers own WHERE own.id = ANY($1::uuid[])) "
    "SELECT own.id AS start, own.owner_id, survivor.owner_id AS survivor_owner_id "
    "FROM own JOIN customers survivor ON survivor.id = own.survivor_id"
)


async def chain_owners(
    on: Executor, customer_ids: Sequence[UUID]
) -> dict[UUID, tuple[str | None, str | None]]:
    """For each id that exists: its owner and its survivor's owner."""
    conn = await driver_connection(on)
    rows = await conn.fetch(_CHAIN_OWNERS_SQL, list(customer_ids))
    return {r["start"]: (r["owner_id"], r["survivor_owner_id"]) for r in rows}


# Bulk identifier lookups and merges.


async def owners(on: Executor, values: Sequence[tuple[str, str]]) -> dict[tuple[str, str], UUID]:
    if not values:
        return {}
    conn = await driver_connection(on)
    rows = await conn.fetch(_OWNERS_SQL, [k for k, _ in values], [v for _, v in values])
    return {(r["kind"], r["value"]): r["customer_id"] for r in rows}


# The customers and their identifiers in one round trip: each identifier names a customer
# the same statement creates (no foreign key says so: migration 0029). Both inserts are
# CTEs read by a plain SELECT: Citus refused the identifiers' INSERT ... SELECT of
# parameters as the statement itself beside the customers' CTE.
_CREATE_UNVERIFIED = (
    "WITH taken AS (INSERT INTO customer_identifiers (id, customer_id, kind, value) "
    "SELECT * FROM unnest($3::uuid[], $4::uuid[], $5::text[], $6::text[]) "
    "ON CONFLICT (kind, value) DO NOTHING RETURNING kind, value), "
    "created AS (INSERT INTO customers (id, kind, display_name, unverified) "
    "SELECT id, 'person', name, true FROM unnest($1::uuid[], $2::text[]) AS n(id, name)) "
    "SELECT kind, value FROM taken"
)


async def create_unverified(
    on: Executor,
    customers: Sequence[tuple[UUID, str]],
    identifiers: Sequence[tuple[UUID, str, str]],
) -> set[tuple[str, str]]:
    """Insert unverified customers and their identifiers; returns the identifiers taken.

    A concurrent writer may have claimed a value meanwhile: it keeps it. Rows go in
    sorted order so that two concurrent imports wait for each other, never deadlock.
    """
    conn = await driver_connection(on)
    ordered = sorted(identifiers, key=lambda i: (i[1], i[2]))
    rows = await conn.fetch(
        _CREATE_UNVERIFIED,
        [c for c, _ in customers],
        [name for _, name in customers],
        [new_id() for _ in ordered],
        [c for c, _, _ in ordered],
        [k for _, k, _ in ordered],
        [v for _, _, v in ordered],
    )
    return {(r["kind"], r["value"]) for r in rows}


async def delete_customers(on: Executor, customer_ids: Sequence[UUID]) -> None:
    """Remove customers created in this transaction that turned out to exist already."""
    conn = await driver_connection(on)
    await conn.execute("DELETE FROM customers WHERE id = ANY($1::uuid[])", list(customer_ids))


async def existing(
    on: Executor, customer_ids: Sequence[UUID]
) -> dict[UUID, tuple[str, str | None]]:
    """Status and owner of each id that exists."""
    if not customer_ids:
        return {}
    conn = await driver_connection(on)
    rows = await conn.fetch(
        "SELECT id, status, owner_id FROM customers WHERE id = ANY($1::uuid[])",
        list(customer_ids),
    )
    return {r["id"]: (r["status"], r["owner_id"]) for r in rows}


_MOVE_IDENTIFIERS = (
    "UPDATE customer_identifiers SET customer_id = $2 WHERE customer_id = $1 RETURNING id"
)


async def move_identifiers(
    on: Executor, from_id: UUID, to_id: UUID, only: Sequence[UUID] | None
) -> list[UUID]:
    conn = await driver_connection(on)
    if only is None:
        rows = await conn.fetch(_MOVE_IDENTIFIERS, from_id, to_id)
    else:
        rows = await conn.fetch(
            "UPDATE customer_identifiers SET customer_id = $2 "
            "WHERE customer_id = $1 AND id = ANY($3::uuid[]) RETURNING id",
            from_id,
            to_id,
            list(only),
        )
    return [r["id"] for r in rows]


# Who may see a customer changed (its owner, status or merge): the customers of its
# family's root ($2) take the root's owner ($3), and so do the open alerts of those and of
# the changed customers ($1); each of them is notified on the access channel (open
# streams check their sight on commit). One round trip, not a trigger: on Citus the
# family and the alerts live on other shards, and a shard's NOTIFY stays on its worker.
_ACCESS_CHANGED = (
    "WITH followed AS (UPDATE customers SET owner_id = $3 "
    "WHERE merge_root = $2 AND owner_id IS DISTINCT FROM $3 RETURNING id), "
    "changed AS (SELECT unnest($1::uuid[]) AS id UNION SELECT id FROM followed), "
    "alerted AS (UPDATE alerts SET owner_id = $3 WHERE customer_id IN (SELECT id FROM changed) "
    "AND cleared_at IS NULL AND owner_id IS DISTINCT FROM $3) "
    f"SELECT pg_notify('{ACCESS_CHANNEL}', 'customer:' || id::text) FROM changed"
)


async def access_changed(
    on: Executor, customer_ids: Sequence[UUID], root: UUID, owner_id: str | None
) -> None:
    """``customer_ids`` changed owner, status or merge, and ``owner_id`` is now the owner
    of the family whose root is ``root``: its members and their open alerts follow it, and
    every customer changed is notified on commit."""
    conn = await driver_connection(on)
    await conn.fetch(_ACCESS_CHANGED, list(customer_ids), root, owner_id)


# The owners of an organisation's live contact persons ($1), as ``contact_owners`` holds
# them: each once, sorted, an ownerless contact person as a NULL last. Read from the
# contact persons' side by their ``organization_id`` (on Citus, every shard's index).
_CONTACT_OWNERS = (
    "SELECT coalesce(array_agg(DISTINCT owner_id ORDER BY owner_id), '{}') FROM customers "
    "WHERE organization_id = $1 AND merged_into IS NULL"
)
# The same for many organisations at once, written where none was being written (the
# seed's batches; migration 0037 backfilled the rows before it the same way).
_RECOUNT_CONTACT_OWNERS = (
    "WITH counted AS (SELECT organization_id AS id, "
    "array_agg(DISTINCT owner_id ORDER BY owner_id) AS owners FROM customers "
    "WHERE organization_id = ANY($1::uuid[]) AND merged_into IS NULL GROUP BY organization_id) "
    "UPDATE customers c SET contact_owners = counted.owners FROM counted WHERE c.id = counted.id"
)


async def keep_contact_owners(on: Executor, organizations: Sequence[UUID]) -> None:
    """Write each organisation's ``contact_owners`` again from its contact persons, after a
    change in this transaction gave one of them the organisation or took it away, changed
    its owner, merged or unmerged it.

    Each organisation's row is locked first (by id, in id order: one shard each on Citus,
    where a lock across shards is refused), then its contact persons read: a concurrent
    change to another of its contact persons waits for this one to commit and reads it,
    so the last writer writes what both left. Then the row is written by its id."""
    conn = await driver_connection(on)
    for organization in sorted(set(organizations)):
        await conn.execute("SELECT 1 FROM customers WHERE id = $1 FOR UPDATE", organization)
        owners = await conn.fetchval(_CONTACT_OWNERS, organization)
        await conn.execute(
            "UPDATE customers SET contact_owners = $2::text[] "
            "WHERE id = $1 AND contact_owners IS DISTINCT FROM $2::text[]",
            organization,
            owners,
        )


async def recount_contact_owners(on: Executor, organizations: Sequence[UUID]) -> None:
    """Write these organisations' ``contact_owners`` in one statement, without locking
    them first: for rows nothing else writes yet (the seed's)."""
    conn = await driver_connection(on)
    await conn.execute(_RECOUNT_CONTACT_OWNERS, list(organizations))


# A family's root, kept by merges and unmerges alone (merges.py; family.py says why).


async def move_family(on: Executor, from_root: UUID, to_root: UUID) -> None:
    """The customers merged into ``from_root`` now have ``to_root`` as their root."""
    conn = await driver_connection(on)
    await conn.execute(
        "UPDATE customers SET merge_root = $2 WHERE merge_root = $1", from_root, to_root
    )


async def family_links(on: Executor, root: UUID) -> dict[UUID, UUID]:
    """The customers merged into ``root``, directly or not, each with the one it went into."""
    conn = await driver_connection(on)
    rows = await conn.fetch("SELECT id, merged_into FROM customers WHERE merge_root = $1", root)
    return {r["id"]: r["merged_into"] for r in rows}


async def root_at(on: Executor, customer_ids: Sequence[UUID], root: UUID) -> None:
    """``root`` becomes the root of these customers' family."""
    conn = await driver_connection(on)
    await conn.execute(
        "UPDATE customers SET merge_root = $2 WHERE id = ANY($1::uuid[])", list(customer_ids), root
    )


# The aggregate in one round trip, for fichas and screen-pops: what the caller may see
# of it ($2: the key is owned-only, $3: its agent), as the ORM aggregate shows it.
_SEEN = {alias: visible_sql(alias, "$2", "$3") for alias in ("c", "o", "p")}
_IDENTIFIER = (
    "json_build_object('id', i.id, 'kind', i.kind, 'value', i.value, "
    "'created_at', i.created_at) ORDER BY i.kind, i.created_at"
)
_CONTACT = "json_build_object('id', p.id, 'display_name', p.display_name, 'job_title', p.job_title"
_CONSENTS = (
    "SELECT DISTINCT ON (channel, purpose) id, channel, purpose, granted, source, evidence, "
    "recorded_at FROM customer_consents WHERE customer_id = {customer} "
    "ORDER BY channel, purpose, recorded_at DESC, id DESC"
)
_CONTACTS = (
    "SELECT id, display_name, job_title FROM customers p WHERE p.organization_id = {customer} "
    "AND p.status = 'active' AND " + _SEEN["p"] + " ORDER BY p.id LIMIT 100"
)


# The card of one customer. Every part is a statement of its own on one customer's id (a
# CTE), none correlated with another: on Citus the customer, its consents and its
# contacts are read where the customer lives, the identifiers (spread by value) by their
# customer id on every shard, and the parts are put together on the coordinator, in the
# one round trip of the single server.
def card_ctes(customer: str) -> str:
    """The CTEs of the card of ``customer`` (a uuid expression: a parameter, or a
    sub-query of an earlier CTE) as the caller of $2 and $3 (``visibility_args``) sees
    it: ``c`` (the customer, empty when unseen), ``contacts``, ``held`` (identifiers by
    holder), ``organization`` and ``consents``; :func:`card_select` reads them."""
    return (
        "c AS (SELECT * FROM customers c WHERE c.id = "
        + customer
        + " AND "
        + _SEEN["c"]
        + "), contacts AS ("
        + _CONTACTS.format(customer=customer)
        + "), held AS (SELECT i.customer_id, json_agg("
        + _IDENTIFIER
        + ") AS list FROM customer_identifiers i "
        f"WHERE i.customer_id = ANY(ARRAY(SELECT id FROM contacts) || {customer}::uuid) "
        "GROUP BY i.customer_id), "
        "organization AS (SELECT o.id, o.display_name, o.kind FROM customers o "
        "WHERE o.id = (SELECT organization_id FROM c) AND "
        + _SEEN["o"]
        + "), consents AS ("
        + _CONSENTS.format(customer=customer)
        + ")"
    )


# The card's columns from the CTEs of card_ctes, on the customer's row c.
CARD_COLUMNS = (
    "c.*, coalesce((SELECT list FROM held WHERE customer_id = c.id), '[]'::json) "
    "AS identifier_list, (SELECT json_build_object('id', o.id, 'display_name', o.display_name, "
    "'kind', o.kind) FROM organization o) AS organization, "
    "CASE WHEN c.kind = 'organization' THEN (SELECT coalesce(json_agg("
    + _CONTACT
    + ", 'identifiers', coalesce(h.list, '[]'::json)) ORDER BY p.id), '[]'::json) "
    "FROM contacts p LEFT JOIN held h ON h.customer_id = p.id) END AS contact_list, "
    "(SELECT coalesce(json_agg(x ORDER BY x.channel, x.purpose), '[]'::json) FROM consents x) "
    "AS consent_list"
)
_CARD = "WITH " + card_ctes("$1") + " SELECT " + CARD_COLUMNS + " FROM c"


# Who may be calling from either of the (at most two) readings of a number, $1 and $4, as
# the caller of $2 and $3 sees them: ``callers`` (phone, holder_id, holder_name,
# holder_unverified, holder_status: the reading that matched and its holder), and
# ``chosen``, the holder when they are one customer (empty otherwise). Who holds a value is
# read on the value's shard, then the holders by id: Citus refuses the join of the two
# (spread by value and by id), as it refused the card correlated with each holder. Two
# parameters, not an array: with an array PostgreSQL planned the statement again on every
# call.
CALLERS_CTES = (
    "holding AS (SELECT value AS phone, customer_id FROM customer_identifiers "
    "WHERE kind = 'phone' AND value IN ($1, $4)), "
    "holders AS (SELECT c.id, c.display_name, c.unverified FROM customers c "
    "WHERE c.id IN (SELECT customer_id FROM holding) AND "
    + _SEEN["c"]
    + "), callers AS (SELECT h.phone, w.id AS holder_id, w.display_name AS holder_name, "
    "w.unverified AS holder_unverified "
    "FROM holding h JOIN holders w ON w.id = h.customer_id), "
    "chosen AS (SELECT (array_agg(DISTINCT holder_id))[1] AS id FROM callers "
    "HAVING count(DISTINCT holder_id) = 1)"
)
# The callers, with the card of the chosen one on each row (null columns when there are
# several or none): what a screen-pop reads first (app/fichas/queries.py adds its ficha).
CALLER_CARDS_SQL = (
    "WITH "
    + CALLERS_CTES
    + ", "
    + card_ctes("(SELECT id FROM chosen)")
    + " SELECT callers.*, card.* FROM callers LEFT JOIN (SELECT "
    + CARD_COLUMNS
    + " FROM c) AS card ON true ORDER BY callers.phone"
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
    """A row for each reading held by someone ``principal`` may see (``phone``,
    ``holder_id``, ``holder_name``, ``holder_unverified``), with the card's columns of the
    holder when the rows are one customer's (null otherwise)."""
    conn = await driver_connection(on)
    return await conn.fetch(CALLER_CARDS_SQL, national, *visibility_args(principal), international)
