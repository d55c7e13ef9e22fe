"""Prepared statements of privacy (the driver path): the erasure and retention functions and
the export's reads."""

import contextlib
from collections.abc import AsyncGenerator, AsyncIterator
from datetime import datetime
from typing import Any
from uuid import UUID

from app.core.db import Database, Executor, driver_connection, stream_connection

SHARED_NOTE = (
    "This delivery also concerned other customers: its raw body and error are left out; "
    "the events it recorded for this customer are under events."
)
# The export: each small part is built as JSON text by PostgreSQL; $1 is the customer
# (first) and every customer merged into it.
EXPORT_PARTS = {
    "customer": (
        "SELECT (to_jsonb(c) - 'search_text')::text FROM customers c WHERE c.id = ($1::uuid[])[1]"
    ),
    "merged_customers": (
        "SELECT coalesce(jsonb_agg(to_jsonb(c) - 'search_text' ORDER BY c.id), '[]')::text "
        "FROM customers c WHERE c.id = ANY($1) AND c.id <> ($1::uuid[])[1]"
    ),
    "identifiers": (
        "SELECT coalesce(json_agg(i ORDER BY i.created_at), '[]')::text "
        "FROM customer_identifiers i WHERE i.customer_id = ANY($1)"
    ),
    "past_identifiers": (
        "SELECT coalesce(json_agg(i ORDER BY i.removed_at), '[]')::text "
        "FROM past_identifiers i WHERE i.customer_id = ANY($1)"
    ),
    "consents": (
        "SELECT coalesce(json_agg(k ORDER BY k.recorded_at, k.id), '[]')::text "
        "FROM customer_consents k WHERE k.customer_id = ANY($1)"
    ),
    "indicators": "SELECT indicators::text FROM customer_stats WHERE customer_id = ($1::uuid[])[1]",
    "alerts": (
        "SELECT coalesce(json_agg(a ORDER BY a.raised_at), '[]')::text "
        "FROM alerts a WHERE a.customer_id = ANY($1)"
    ),
    "access_log": (
        "SELECT coalesce(json_agg(l ORDER BY l.at), '[]')::text "
        "FROM access_log l WHERE l.customer_id = ANY($1)"
    ),
}
EXPORT_STREAMS = {
    "events": (
        "SELECT row_to_json(e)::text FROM events e WHERE e.customer_id = ANY($1) "
        "ORDER BY e.occurred_at, e.id"
    ),
    "text_analyses": (
        "SELECT row_to_json(a)::text FROM text_analyses a WHERE a.customer_id = ANY($1) "
        "ORDER BY a.occurred_at, a.event_id"
    ),
    # The deliveries that concern the customer: linked to it (delivery_customers), or
    # failed naming one of its identifiers, current or past (delivery_identifiers: named
    # perhaps before it was a customer). One that also concerned others (another customer
    # linked, a SendGrid batch; a person named by none of the customer's identifiers) is
    # shown without its body and error, which carry the others' data: a note says so.
    # Each part is read apart, then joined by delivery id: the tables live by different
    # columns on Citus (deliveries by their platform id, links by customer, names by value),
    # which plans no correlated sub-query across them.
    "webhook_deliveries": (
        "WITH mine AS MATERIALIZED ("
        "SELECT kind, value FROM customer_identifiers WHERE customer_id = ANY($1) "
        "UNION SELECT kind, value FROM past_identifiers WHERE customer_id = ANY($1)), "
        "wanted AS MATERIALIZED ("
        "SELECT l.delivery_id AS id FROM delivery_customers l WHERE l.customer_id = ANY($1) "
        "UNION SELECT n.delivery_id FROM delivery_identifiers n JOIN mine USING (kind, value)), "
        "named AS MATERIALIZED (SELECT n.delivery_id, n.person, "
        "(n.kind, n.value) IN (SELECT kind, value FROM mine) AS hers "
        "FROM delivery_identifiers n WHERE n.delivery_id IN (SELECT id FROM wanted)), "
        "shared AS MATERIALIZED ("
        "SELECT o.delivery_id AS id FROM delivery_customers o "
        "WHERE o.delivery_id IN (SELECT id FROM wanted) AND o.customer_id <> ALL($1) "
        "UNION SELECT delivery_id FROM named GROUP BY delivery_id, person "
        "HAVING NOT bool_or(hers)) "
        "SELECT json_build_object('id', d.id, 'source', d.source, 'delivery_id', d.delivery_id, "
        "'received_at', d.received_at, 'url', d.url, 'headers', d.headers, "
        "'body_base64', CASE WHEN s.id IS NULL "
        "THEN replace(encode(d.body, 'base64'), E'\\n', '') END, 'status', d.status, "
        "'error', CASE WHEN s.id IS NULL THEN d.error END, 'processed_at', d.processed_at, "
        "'erased_at', d.erased_at, 'note', CASE WHEN s.id IS NOT NULL THEN "
        f"'{SHARED_NOTE}' END)::text "
        "FROM webhook_deliveries d JOIN wanted w ON w.id = d.id "
        "LEFT JOIN shared s ON s.id = d.id "
        "ORDER BY d.received_at"
    ),
}
_ROWS_PER_FETCH = 500

# Cutoffs are given (the service's clock less the policy's days); the times compared are
# the database's own record of when a delivery was processed or received, or a read made.
# A batch is read without a lock (Citus takes none across shards: FOR UPDATE is refused on
# a table spread over them) and chosen once, in a CTE: as `WHERE id IN (SELECT ... LIMIT)`
# the planner may run the sub-select again for each outer row it joins, and one batch then
# deletes more than its limit. Each delete checks the cutoff again: a delivery processed
# again meanwhile (its row locked by the replay, then newer) stays.
_EXPIRE_DELIVERIES = (
    "WITH doomed AS MATERIALIZED (SELECT id FROM webhook_deliveries"
    " WHERE coalesce(processed_at, received_at) < $1 LIMIT $2), "
    "gone AS (DELETE FROM webhook_deliveries d USING doomed x"
    " WHERE d.id = x.id AND coalesce(d.processed_at, d.received_at) < $1 RETURNING d.id), "
    "links AS (DELETE FROM delivery_customers l USING gone WHERE l.delivery_id = gone.id), "
    "names AS (DELETE FROM delivery_identifiers n USING gone WHERE n.delivery_id = gone.id) "
    "SELECT count(*) FROM gone"
)
_EXPIRE_ACCESS_LOG = (
    "WITH doomed AS MATERIALIZED ("
    " SELECT customer_id, id FROM access_log WHERE at < $1 LIMIT $2) "
    "DELETE FROM access_log l USING doomed d "
    "WHERE l.customer_id = d.customer_id AND l.id = d.id AND l.at < $1"
)


async def erase(
    on: Executor, customer_id: UUID, event_id: UUID, reason: str, requested_at: datetime
) -> dict[str, Any]:
    """Run the erasure function (the one path past the append-only guard)."""
    conn = await driver_connection(on)
    receipt = await conn.fetchval(
        "SELECT ch_erase_customer($1, $2, $3, $4)", customer_id, event_id, reason, requested_at
    )
    return dict(receipt)


async def expire_deliveries(on: Executor, before: datetime, limit: int) -> int:
    """Delete up to ``limit`` raw deliveries processed (or, never processed, received)
    before ``before``; how many went."""
    conn = await driver_connection(on)
    return int(await conn.fetchval(_EXPIRE_DELIVERIES, before, limit))


async def expire_access_log(on: Executor, before: datetime, limit: int) -> int:
    """Delete up to ``limit`` access-log rows older than ``before``; how many went."""
    conn = await driver_connection(on)
    return int((await conn.execute(_EXPIRE_ACCESS_LOG, before, limit)).split()[-1])


async def expire_events(
    on: Executor, type_: str, before: datetime, limit: int
) -> tuple[int, set[UUID]]:
    """Delete up to ``limit`` expired events of a type: (how many, whose)."""
    conn = await driver_connection(on)
    rows = await conn.fetch("SELECT * FROM ch_expire_events($1, $2, $3)", type_, before, limit)
    return sum(r["removed"] for r in rows), {r["customer_id"] for r in rows}


async def export_document(
    database: Database, family: list[UUID], header: str
) -> AsyncIterator[str]:
    """The export as JSON text pieces, read in one repeatable-read snapshot on a connection
    of its own; the histories stream through server-side cursors, a few hundred rows at a
    time."""
    async with stream_connection(database) as connection:
        raw = await connection.get_raw_connection()
        async with contextlib.aclosing(
            _export_pieces(raw.driver_connection, family, header)
        ) as pieces:
            async for piece in pieces:
                yield piece


async def _export_pieces(conn: Any, family: list[UUID], header: str) -> AsyncGenerator[str, None]:
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        yield header
        for name, sql in EXPORT_PARTS.items():
            yield f',"{name}":{await conn.fetchval(sql, family) or "null"}'
        for name, sql in EXPORT_STREAMS.items():
            yield f',"{name}":['
            separator = ""
            async for record in conn.cursor(sql, family, prefetch=_ROWS_PER_FETCH):
                yield separator + record[0]
                separator = ","
            yield "]"
        yield "}"
