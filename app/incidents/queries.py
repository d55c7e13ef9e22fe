"""Prepared statements on incidents (the driver path): the customers a matcher finds, an
incident's members."""

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from app.core.db import Executor, driver_connection


async def match_shipments(
    on: Executor, carrier: str | None, shipped_from: datetime, shipped_to: datetime
) -> list[UUID]:
    """Customers with an order shipped (by ``carrier``) in the window and not delivered."""
    conn = await driver_connection(on)
    rows = await conn.fetch(
        "SELECT DISTINCT s.customer_id FROM customer_stats s, "
        "jsonb_each(s.state->'orders') AS o(id, v) "
        "WHERE o.v->>'status' = 'shipped' "
        "AND (o.v->>'shipped_at')::timestamptz >= $1 "
        "AND (o.v->>'shipped_at')::timestamptz < $2 "
        "AND ($3::text IS NULL OR lower(o.v->>'carrier') = lower($3))",
        shipped_from,
        shipped_to,
        carrier,
    )
    return [r["customer_id"] for r in rows]


async def add_incident_members(
    on: Executor, incident_id: UUID, customer_ids: Sequence[UUID]
) -> None:
    conn = await driver_connection(on)
    await conn.execute(
        "INSERT INTO incident_customers (incident_id, customer_id) "
        "SELECT $1, c FROM unnest($2::uuid[]) AS c ON CONFLICT DO NOTHING",
        incident_id,
        list(customer_ids),
    )


async def incident_members(on: Executor, incident_id: UUID) -> list[UUID]:
    conn = await driver_connection(on)
    rows = await conn.fetch(
        "SELECT customer_id FROM incident_customers WHERE incident_id = $1", incident_id
    )
    return [r["customer_id"] for r in rows]
