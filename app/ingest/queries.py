"""Prepared statements on raw webhook deliveries (the driver path): every delivery is
recorded, finished and linked to its customers through them."""

from collections.abc import Collection, Sequence
from typing import Any
from uuid import UUID

from app.core.db import Along, Executor, after_id, driver_connection, new_id
from app.customers.queries import holders

# The ingestion hot path: one prepared insert that also tells a retry from a first
# delivery, and finds who holds the identifiers its events name ($7, $8: kinds and
# values). A row per holder found, each with the delivery's id (NULL for a retry); when
# nobody holds any, one row with the id alone.
_RECORD = (
    "WITH recorded AS (INSERT INTO webhook_deliveries "
    "(id, source, delivery_id, url, headers, body, status) "
    "VALUES ($1, $2, $3, $4, $5::jsonb, $6, 'received') "
    "ON CONFLICT (source, delivery_id) DO NOTHING RETURNING id) "
    "SELECT (SELECT id FROM recorded) AS id, h.kind, h.value, h.customer_id "
    f"FROM (SELECT) AS one LEFT JOIN ({holders('$7', '$8')}) AS h ON true"
)


def _finishing(first: int) -> str:
    """Records the outcome and the customers the delivery concerns (the 9th parameter)
    and, in the same statement, finds the failed deliveries that were waiting for one of
    the event keys this delivery created (7th, 8th: scopes and keys). processed_at is the
    database's time, as received_at: when the service stored the fact (retention compares
    it with a cutoff taken from the service's clock)."""
    p = [f"${n}" for n in range(first, first + 9)]
    return (
        f"finished AS (UPDATE webhook_deliveries SET status = {p[1]}, error = {p[2]}, "
        f"event_count = {p[3]}, awaits_scope = {p[4]}, awaits_key = {p[5]}, "
        f"processed_at = now() WHERE id = {p[0]}), "
        "linked AS (INSERT INTO delivery_customers (customer_id, delivery_id) "
        f"SELECT unnest({p[8]}::uuid[]), {p[0]} ON CONFLICT DO NOTHING) "
        "SELECT d.id FROM webhook_deliveries d "
        f"JOIN unnest({p[6]}::text[], {p[7]}::text[]) AS created(scope, key) "
        "ON d.awaits_scope = created.scope AND d.awaits_key = created.key "
        "WHERE d.awaits_key IS NOT NULL AND d.status = 'failed' ORDER BY d.id"
    )


_FINISH = "WITH " + _finishing(1)
# Failed deliveries whose awaited event is recorded now: it was stored while they were in
# flight, so the delivery that stored it could not see them waiting.
# The waiting deliveries are read first, in a CTE: Citus then looks their keys up on the
# keys' shards, where it refused to join the two tables (spread by delivery and by key).
_FREED = (
    "WITH waiting AS (SELECT d.id, d.awaits_scope, d.awaits_key FROM webhook_deliveries d "
    "WHERE d.awaits_key IS NOT NULL AND d.status = 'failed' AND " + after_id("d.id", "$1") + ") "
    "SELECT w.id FROM waiting w JOIN event_keys k ON k.scope = w.awaits_scope "
    "AND k.digest = ch_erased_key(w.awaits_key) ORDER BY w.id LIMIT $2"
)
_NAME = (
    "INSERT INTO delivery_identifiers (delivery_id, person, kind, value) "
    "SELECT $1, unnest($2::int[]), unnest($3::text[]), unnest($4::text[]) "
    "ON CONFLICT DO NOTHING"
)
_STOP_AWAITING = (
    "UPDATE webhook_deliveries SET awaits_scope = NULL, awaits_key = NULL, error = $2 WHERE id = $1"
)


async def record(
    on: Executor,
    source: str,
    delivery_id: str,
    url: str,
    headers: str,
    body: bytes,
    identifiers: Collection[tuple[str, str]],
) -> tuple[UUID | None, dict[tuple[str, str], UUID]]:
    """Store a delivery, and find the customers holding these (kind, value) identifiers:
    one round trip. The id is None when this (source, delivery id) was stored before."""
    conn = await driver_connection(on)
    wanted = sorted(set(identifiers))
    rows = await conn.fetch(
        _RECORD,
        new_id(),
        source,
        delivery_id,
        url,
        headers,
        body,
        [kind for kind, _ in wanted],
        [value for _, value in wanted],
    )
    row_id = rows[0]["id"]
    held = {(r["kind"], r["value"]): r["customer_id"] for r in rows if r["kind"] is not None}
    return (None if row_id is None else UUID(str(row_id))), held


def finishing(
    row_id: UUID,
    status: str,
    error: str | None,
    event_count: int,
    awaits: tuple[str, str] | None,
    created: Sequence[tuple[str, str]],
    customer_ids: Collection[UUID],
) -> Along:
    """Record a delivery's outcome (and the event key it waits for, if any) and that it
    concerns ``customer_ids`` (exports and erasures find it by them), at the end of another
    statement or alone (``finish``); ``waiting`` reads its rows: the failed deliveries that
    were waiting for one of the ``created`` event keys."""
    scope, key = awaits or (None, None)
    return Along(
        _finishing,
        (
            row_id,
            status,
            error,
            event_count,
            scope,
            key,
            [c[0] for c in created],
            [c[1] for c in created],
            sorted(customer_ids),
        ),
    )


async def finish(on: Executor, finished: Along) -> list[UUID]:
    """Send ``finishing``'s statement alone: one round trip."""
    conn = await driver_connection(on)
    return waiting(await conn.fetch(_FINISH, *finished.args))


def waiting(rows: Sequence[Any]) -> list[UUID]:
    """The failed deliveries a delivery's finishing freed."""
    return [UUID(str(r["id"])) for r in rows]


async def name(on: Executor, row_id: UUID, people: Sequence[Collection[tuple[str, str]]]) -> None:
    """Record the (kind, value) identifiers a failed delivery names, whoever holds them,
    grouped by the person each group names."""
    rows = sorted({(n, kind, value) for n, named in enumerate(people) for kind, value in named})
    if rows:
        persons, kinds, values = zip(*rows, strict=True)
        conn = await driver_connection(on)
        await conn.execute(_NAME, row_id, list(persons), list(kinds), list(values))


async def freed(on: Executor, after: UUID | None, limit: int) -> list[UUID]:
    conn = await driver_connection(on)
    return [UUID(str(r["id"])) for r in await conn.fetch(_FREED, after, limit)]


async def stop_awaiting(on: Executor, row_id: UUID, reason: str) -> None:
    conn = await driver_connection(on)
    await conn.execute(_STOP_AWAITING, row_id, reason)
