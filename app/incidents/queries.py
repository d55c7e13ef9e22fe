"""Prepared statements on incidents (the driver path): the customers a matcher may find,
an incident's members and how many a key sees. Membership is the ``incident:<id>`` flag
the rules set on a customer's stats (app/indicators/rules.py), nothing kept beside it."""

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from app.core.db import Executor, driver_connection
from app.core.security import Principal
from app.customers.visibility import hides_contacts_sql, visibility_args, visible_sql


async def shipped_in_window(
    on: Executor, carrier: str | None, shipped_from: datetime, shipped_to: datetime
) -> list[UUID]:
    """Customers with an order shipped (by ``carrier``) in the window: those the rules
    evaluate when an incident is declared (its matcher decides who joins)."""
    conn = await driver_connection(on)
    rows = await conn.fetch(
        "SELECT DISTINCT s.customer_id FROM customer_stats s, "
        "jsonb_each(s.state->'orders') AS o(id, v) "
        "WHERE (o.v->>'shipped_at')::timestamptz >= $1 "
        "AND (o.v->>'shipped_at')::timestamptz < $2 "
        "AND ($3::text IS NULL OR lower(o.v->>'carrier') = lower($3))",
        shipped_from,
        shipped_to,
        carrier,
    )
    return [r["customer_id"] for r in rows]


async def members(on: Executor, incident_id: UUID) -> list[UUID]:
    """The customers the incident affects now (flagged with it)."""
    conn = await driver_connection(on)
    rows = await conn.fetch(
        "SELECT customer_id FROM customer_stats "
        "WHERE flags @> ARRAY['incident:' || $1::uuid::text]",
        incident_id,
    )
    return [r["customer_id"] for r in rows]


# Every incident's flag at once, counted by flag: one read of the flags' index, each
# flagged customer's row by its id beside its stats. Citus refuses a count correlated with
# each incident of an ``unnest`` (its set-returning function) in the FROM clause; this
# is one distributed read, counted on each shard and summed on the coordinator.
_AFFECTED = (
    "SELECT f.flag, count(*) AS affected FROM customer_stats s "
    "JOIN customers c ON c.id = s.customer_id CROSS JOIN LATERAL unnest(s.flags) AS f(flag) "
    "WHERE s.flags && $1::text[] AND f.flag = ANY($1::text[]) AND "
    + visible_sql("c", "$2", "$3")
    + " AND NOT "
    # An organisation flagged by a contact person's orders the key cannot see is not
    # counted for it.
    + hides_contacts_sql("c", "$2", "$3")
    + " GROUP BY f.flag"
)


async def affected(
    on: Executor, incident_ids: Sequence[UUID], principal: Principal
) -> dict[UUID, int]:
    """How many customers each incident affects now, of those ``principal`` sees."""
    conn = await driver_connection(on)
    flags = {f"incident:{i}": i for i in incident_ids}
    rows = await conn.fetch(_AFFECTED, list(flags), *visibility_args(principal))
    counted = {flags[r["flag"]]: r["affected"] for r in rows}
    return {i: counted.get(i, 0) for i in incident_ids}
