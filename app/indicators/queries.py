"""Prepared statements on customer stats, alerts, incidents and policies (the driver path):
the fold's reads and writes on every append, a ficha's snapshot, routing, segments,
reports and the maintenance passes."""

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from app.core.db import Executor, driver_connection, new_id
from app.core.security import Principal
from app.customers.family import families_cte
from app.customers.visibility import visibility_args, visible_sql
from app.indicators.state import Fact

_LOCK = (
    "WITH missing AS ("
    " INSERT INTO customer_stats (customer_id, state, indicators)"
    " SELECT id, '{}'::jsonb, '{}'::jsonb FROM unnest($1::uuid[]) AS id"
    " ON CONFLICT DO NOTHING RETURNING customer_id)"
    " SELECT count(*) FROM missing"
)
_STATES = (
    "SELECT s.customer_id, s.state, s.flags, c.tier, c.owner_id, "
    "ARRAY(SELECT i.id::text || '|' || i.title FROM incident_customers m "
    " JOIN incidents i ON i.id = m.incident_id "
    " WHERE m.customer_id = s.customer_id AND i.status = 'open') AS incidents, "
    "ARRAY(SELECT a.rule FROM alerts a "
    " WHERE a.customer_id = s.customer_id AND a.cleared_at IS NULL) AS open_rules "
    "FROM customer_stats s "
    "JOIN customers c ON c.id = s.customer_id "
    "WHERE s.customer_id = ANY($1::uuid[]) ORDER BY s.customer_id FOR UPDATE OF s"
)
_SAVE = (
    "UPDATE customer_stats s SET state = v.state, indicators = v.indicators, "
    "lifetime_value_base = v.ltv, order_count = v.orders, open_orders = v.open_orders, "
    "last_purchase_at = v.last_purchase, value_segment = v.segment, churn_risk = v.churn, "
    "flags = v.flags::text[], updated_at = $11, reevaluate_at = v.reevaluate_at "
    "FROM (SELECT * FROM unnest($1::uuid[], $2::jsonb[], $3::jsonb[], $4::numeric[], $5::int[], "
    "$6::int[], $7::timestamptz[], $8::text[], $9::text[], $10::text[], $12::timestamptz[]) "
    "AS t(customer_id, state, indicators, ltv, orders, open_orders, last_purchase, segment, "
    "churn, flags, reevaluate_at)) AS v "
    "WHERE s.customer_id = v.customer_id"
)
# The whole history of each customer of a batch, merged-in customers' events included.
_HISTORIES = (
    "WITH RECURSIVE "
    + families_cte("$1::uuid[]")
    + " SELECT f.root, e.id, e.type, e.occurred_at, e.channel, e.payload, e.corrects_id "
    "FROM family f JOIN events e ON e.customer_id = f.id"
)

# What a ficha reads of the indicators: the stats row (absent before the first event)
# and the open alerts, newest first.
_SNAPSHOT = """
SELECT s.state, coalesce(s.indicators->'flags', '[]'::jsonb) AS flags, s.updated_at,
  (SELECT coalesce(json_agg(a ORDER BY a.id DESC), '[]'::json) FROM (
     SELECT id, customer_id, rule, code, severity, title, detail, owner_id, status, raised_at,
            acknowledged_at, acknowledged_by, acknowledged_by_key_id, cleared_at
     FROM alerts WHERE customer_id = $1 AND cleared_at IS NULL AND status = 'open'
     ORDER BY id DESC LIMIT $2) AS a) AS open_alerts
FROM (SELECT $1::uuid AS id) AS wanted LEFT JOIN customer_stats s ON s.customer_id = wanted.id
"""


async def snapshot_row(on: Executor, customer_id: UUID, alert_limit: int) -> Any:
    """The stats row and the newest open alerts, in one round trip (every ficha)."""
    conn = await driver_connection(on)
    return await conn.fetchrow(_SNAPSHOT, customer_id, alert_limit)


async def stored_policies(on: Executor) -> dict[str, dict[str, Any]]:
    """Every stored policy (read on each append and each routed call: kept prepared)."""
    conn = await driver_connection(on)
    return {r["name"]: r["config"] for r in await conn.fetch("SELECT name, config FROM policies")}


async def lock(on: Executor, customer_ids: Sequence[UUID]) -> list[dict[str, Any]]:
    """The stats rows of these customers (created empty if missing), locked, in id order."""
    conn = await driver_connection(on)
    ordered = sorted(set(customer_ids))
    await conn.fetchval(_LOCK, ordered)
    rows = await conn.fetch(_STATES, ordered)
    return [
        {
            "customer_id": r["customer_id"],
            "state": r["state"],  # jsonb arrives decoded (the pool sets the codec)
            "flags": list(r["flags"]),
            "tier": r["tier"],
            "owner_id": r["owner_id"],
            "incidents": [tuple(i.split("|", 1)) for i in r["incidents"]],
            "open_rules": set(r["open_rules"]),
        }
        for r in rows
    ]


async def save(on: Executor, rows: Sequence[dict[str, Any]], evaluated_at: datetime) -> None:
    """Store derived stats; ``evaluated_at`` is the instant they were derived as of."""
    if not rows:
        return
    conn = await driver_connection(on)
    await conn.execute(
        _SAVE,
        [r["customer_id"] for r in rows],
        [json.dumps(r["state"], separators=(",", ":")) for r in rows],
        [json.dumps(r["indicators"], separators=(",", ":")) for r in rows],
        [r["ltv"] for r in rows],
        [r["orders"] for r in rows],
        [r["open_orders"] for r in rows],
        [r["last_purchase"] for r in rows],
        [r["segment"] for r in rows],
        [r["churn"] for r in rows],
        ["{" + ",".join(json.dumps(f) for f in r["flags"]) + "}" for r in rows],
        evaluated_at,
        [r["reevaluate_at"] for r in rows],
    )


async def histories(on: Executor, customer_ids: Sequence[UUID]) -> dict[UUID, list[Fact]]:
    """Every event of each customer's family, as facts, in one query for the batch."""
    conn = await driver_connection(on)
    found: dict[UUID, list[Fact]] = {customer_id: [] for customer_id in customer_ids}
    for r in await conn.fetch(_HISTORIES, list(customer_ids)):
        found[r["root"]].append(
            Fact(
                str(r["id"]),
                r["type"],
                r["occurred_at"],
                r["channel"],
                r["payload"],
                str(r["corrects_id"]) if r["corrects_id"] else None,
            )
        )
    return found


async def raise_alerts(on: Executor, alerts: Sequence[dict[str, Any]], at: datetime) -> None:
    if not alerts:
        return
    conn = await driver_connection(on)
    await conn.executemany(
        "INSERT INTO alerts (id, customer_id, rule, code, severity, title, detail, owner_id, "
        "raised_at) VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9) ON CONFLICT DO NOTHING",
        [
            (
                new_id(),
                a["customer_id"],
                a["rule"],
                a["code"],
                a["severity"],
                a["title"],
                json.dumps(a["detail"]),
                a["owner_id"],
                at,
            )
            for a in alerts
        ],
    )


async def clear_alerts(on: Executor, ended: Sequence[tuple[UUID, str]], at: datetime) -> None:
    if not ended:
        return
    conn = await driver_connection(on)
    await conn.execute(
        "UPDATE alerts a SET cleared_at = $3 FROM unnest($1::uuid[], $2::text[]) AS e(c, r) "
        "WHERE a.customer_id = e.c AND a.rule = e.r AND a.cleared_at IS NULL",
        [c for c, _ in ended],
        [r for _, r in ended],
        at,
    )


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


# Routing: called on every incoming call, so one prepared statement and two index probes.
# A caller the key may not see is routed as an unknown number.
_ROUTE = (
    "SELECT c.id, c.display_name, c.preferred_language, c.tier, s.flags "
    "FROM customer_identifiers i JOIN customers c ON c.id = i.customer_id "
    "LEFT JOIN customer_stats s ON s.customer_id = c.id "
    "WHERE i.kind = 'phone' AND i.value = $1 AND " + visible_sql("c", "$2", "$3")
)

_SEGMENT = (
    """
WITH base AS (
    SELECT c.id, c.display_name, c.preferred_language, c.tier, c.address,
           coalesce((c.preferences->>'do_not_call')::boolean, false) AS do_not_call
    FROM customers c LEFT JOIN customer_stats s ON s.customer_id = c.id
    WHERE c.status = 'active' AND """
    + visible_sql("c", "$15", "$16")
    + """
      AND ($1::text[] IS NULL OR c.tier = ANY($1))
      AND ($2::text[] IS NULL OR c.tags @> $2)
      AND ($3::text IS NULL OR c.owner_id = $3)
      AND ($4::text[] IS NULL OR coalesce(s.value_segment, 'none') = ANY($4))
      AND ($5::text[] IS NULL OR coalesce(s.churn_risk, 'low') = ANY($5))
      AND ($6::text IS NULL OR s.flags @> ARRAY[$6])
      AND ($7::boolean IS NULL OR (coalesce(s.open_orders, 0) > 0) = $7)
      AND ($8::timestamptz IS NULL OR s.last_purchase_at < $8)
      AND ($9::timestamptz IS NULL OR s.last_purchase_at >= $9)
      AND ($10::text IS NULL OR EXISTS (
            SELECT 1 FROM jsonb_each(s.state->'orders') o WHERE o.value->'skus' ? $10))
      AND ($11::text IS NULL OR lower(c.preferred_language) LIKE lower($11) || '%')
      AND ($12::text IS NULL OR upper(c.address->>'country') = upper($12))
), judged AS (
    SELECT b.*,
        (SELECT k.granted FROM customer_consents k
          WHERE k.customer_id = b.id AND k.channel = $13 AND k.purpose = $14
          ORDER BY k.recorded_at DESC, k.id DESC LIMIT 1) AS consent,
        CASE WHEN $13 = 'email' THEN
               (SELECT min(i.value) FROM customer_identifiers i
                 WHERE i.customer_id = b.id AND i.kind = 'email')
             WHEN $13 IN ('phone', 'sms', 'whatsapp') THEN
               (SELECT min(i.value) FROM customer_identifiers i
                 WHERE i.customer_id = b.id AND i.kind = 'phone')
             ELSE concat_ws(', ', b.address->>'street', b.address->>'postal_code',
                            b.address->>'city', b.address->>'country')
        END AS contact
    FROM base b
)
"""
)
_SEGMENT_PAGE = (
    _SEGMENT + "SELECT id, display_name, preferred_language, tier, contact FROM judged "
    "WHERE consent IS TRUE AND NOT ($13 = 'phone' AND do_not_call) "
    "AND nullif(contact, '') IS NOT NULL "
    "AND ($17::uuid IS NULL OR id > $17) ORDER BY id LIMIT $18"
)
_SEGMENT_COUNTS = (
    _SEGMENT + "SELECT count(*) AS matched, "
    "count(*) FILTER (WHERE consent IS NOT TRUE) AS no_consent, "
    "count(*) FILTER (WHERE consent IS TRUE AND $13 = 'phone' AND do_not_call) AS do_not_call, "
    "count(*) FILTER (WHERE consent IS TRUE AND NOT ($13 = 'phone' AND do_not_call) "
    "AND nullif(contact, '') IS NULL) AS no_contact FROM judged"
)


async def route(on: Executor, phone: str, principal: Principal) -> Any:
    conn = await driver_connection(on)
    return await conn.fetchrow(_ROUTE, phone, *visibility_args(principal))


async def segment(
    on: Executor, args: Sequence[Any], principal: Principal, after: UUID | None, limit: int
) -> Any:
    """A page of reachable customers ``principal`` may see (filters in ``args``)."""
    conn = await driver_connection(on)
    return await conn.fetch(_SEGMENT_PAGE, *args, *visibility_args(principal), after, limit)


async def segment_counts(on: Executor, args: Sequence[Any], principal: Principal) -> Any:
    """How many of the customers ``principal`` may see match, and why some are left out."""
    conn = await driver_connection(on)
    return await conn.fetchrow(_SEGMENT_COUNTS, *args, *visibility_args(principal))


async def report_rows(on: Executor, since: datetime, until: datetime) -> Any:
    """Orders, refunds and tickets of a period, and each buyer's order count in it."""
    conn = await driver_connection(on)
    return await conn.fetch(
        "SELECT type, customer_id, payload FROM events "
        "WHERE occurred_at >= $1 AND occurred_at < $2 "
        "AND type IN ('order.placed', 'order.refunded', 'ticket.opened')",
        since,
        until,
    )


async def _ids(on: Executor, sql: str, *args: Any) -> list[UUID]:
    conn = await driver_connection(on)
    return [r[0] for r in await conn.fetch(sql, *args)]


async def customers_after(on: Executor, after: UUID | None, limit: int) -> list[UUID]:
    return await _ids(
        on,
        "SELECT id FROM customers WHERE status = 'active' AND ($1::uuid IS NULL OR id > $1) "
        "ORDER BY id LIMIT $2",
        after,
        limit,
    )


async def due(on: Executor, now: datetime) -> list[UUID]:
    """Customers to evaluate again at ``now``: those with flags or open alerts, and
    those whose indicators time changes by now (``reevaluate_at``)."""
    return await _ids(
        on,
        "SELECT customer_id FROM customer_stats WHERE flags <> '{}' "
        "UNION SELECT customer_id FROM alerts WHERE cleared_at IS NULL "
        "UNION SELECT customer_id FROM customer_stats WHERE reevaluate_at <= $1 ORDER BY 1",
        now,
    )
