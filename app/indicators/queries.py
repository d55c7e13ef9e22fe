"""Prepared statements on customer stats and policies (the driver path): the fold's reads
and writes on every append, a ficha's snapshot, and the maintenance passes."""

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from app.core.db import Along, Executor, after_id, driver_connection
from app.core.security import Principal
from app.customers.family import history_cte, organization_families_cte
from app.customers.visibility import hides_contacts_sql, visibility_args, visible_sql
from app.indicators.shapes import IncidentRow, SavedStats, StatsRow
from app.indicators.state import Fact
from app.text.service import finding

# What ``lock`` answers: the stats rows, the stored policies, the incidents the rules read.
Locked = tuple[list[StatsRow], dict[str, dict[str, Any]], list[IncidentRow]]


def locking(customer_ids: str, also: str = "", beside: str = "") -> str:
    """The stats rows of a batch, and of the organisations of the contact persons among it
    (a contact's events count in its organisation's stats too), locked and read: the CTEs
    ``locked``, ``policy_set`` and ``incident_set`` and the SELECT that ends the statement
    (``lock`` sends it alone; the store of a batch's events ends with it). ``customer_ids``
    is a query of the customers' ids;
    ``also``, more columns (of ``s``, the stats row, or of ``beside``: CTEs of one row each,
    cross-joined, named with their aliases). A row missing is created empty, and
    the upsert locks the row that exists (the newest version, as FOR UPDATE would), in id
    order; the stored policies and the incidents (the open ones, whose matchers the rules
    evaluate, and those a row is still flagged with, whose flags end) come with the first
    row. ``locked_rows`` reads the rows."""
    return (
        "locked AS ("
        " INSERT INTO customer_stats (customer_id, state, indicators)"
        " SELECT id, '{}'::jsonb, '{}'::jsonb FROM ("
        f"  SELECT id FROM ({customer_ids}) AS w(id) UNION SELECT organization_id FROM customers"
        f"  WHERE id IN ({customer_ids}) AND organization_id IS NOT NULL) AS wanted ORDER BY id"
        " ON CONFLICT (customer_id) DO UPDATE SET customer_id = excluded.customer_id"
        " RETURNING customer_id, state, flags), "
        "policy_set AS (SELECT coalesce(jsonb_object_agg(name, config), '{}'::jsonb) AS policies"
        " FROM policies), "
        "incident_set AS (SELECT coalesce(jsonb_agg(jsonb_build_object('id', i.id, 'title',"
        " i.title, 'matcher', i.matcher, 'open', i.status = 'open') ORDER BY i.id), '[]'::jsonb)"
        " AS incidents FROM incidents i WHERE i.status = 'open' OR EXISTS (SELECT 1 FROM locked l"
        " WHERE 'incident:' || i.id::text = ANY(l.flags))) "
        # Each sub-query names a distributed table's shard column through the customer row
        # (c.id), and the reference tables are read once beside it: Citus plans it so
        # (docs/scaling.md), where it refused a sub-query on s or one after the window.
        "SELECT s.customer_id, s.state, s.flags, c.tier, c.owner_id, c.organization_id, "
        "ARRAY(SELECT a.rule FROM alerts a "
        " WHERE a.customer_id = c.id AND a.cleared_at IS NULL) AS open_rules, "
        "CASE WHEN row_number() OVER (ORDER BY s.customer_id) = 1 THEN p.policies END"
        " AS policies, "
        "CASE WHEN row_number() OVER (ORDER BY s.customer_id) = 1 THEN i.incidents END"
        " AS incidents"
        f"{', ' + also if also else ''} "
        "FROM locked s JOIN customers c ON c.id = s.customer_id "
        "CROSS JOIN policy_set p CROSS JOIN incident_set i"
        f"{''.join(f' CROSS JOIN {b}' for b in beside.split(', ') if b)} ORDER BY s.customer_id"
    )


_LOCK = "WITH " + locking("SELECT unnest($1::uuid[])")
SAVE_ROWS = 1000  # stats rows a statement saves
_SAVE = (
    "UPDATE customer_stats s SET state = v.state, indicators = v.indicators, "
    "lifetime_value_base = v.ltv, order_count = v.orders, open_orders = v.open_orders, "
    "last_purchase_at = v.last_purchase, value_segment = v.segment, churn_risk = v.churn, "
    # Each row's flags as a JSON array: Citus refuses the (STABLE) cast of a text column
    # to text[] in an UPDATE.
    "flags = ARRAY(SELECT jsonb_array_elements_text(v.flags)), updated_at = $11, "
    "reevaluate_at = v.reevaluate_at "
    "FROM (SELECT * FROM unnest($1::uuid[], $2::jsonb[], $3::jsonb[], $4::numeric[], $5::int[], "
    "$6::int[], $7::timestamptz[], $8::text[], $9::text[], $10::jsonb[], $12::timestamptz[]) "
    "AS t(customer_id, state, indicators, ltv, orders, open_orders, last_purchase, segment, "
    "churn, flags, reevaluate_at)) AS v "
    "WHERE s.customer_id = v.customer_id"
)
# The whole history of each customer of a batch, merged-in customers' events included
# and an organisation's contact persons', each with the analysis of its customer text
# when it has one.
_FACTS = (
    " e.id, e.type, e.occurred_at, e.channel, e.payload, e.corrects_id, "
    "a.event_id AS analysed, a.language, a.sentiment, a.score, a.urgency, a.reasons, a.intents, "
    "a.abusive, a.terms "
    "FROM family f JOIN events e ON e.customer_id = f.id "
    "LEFT JOIN text_analyses a ON a.customer_id = e.customer_id "
    "AND a.occurred_at = e.occurred_at AND a.event_id = e.id"
)
_HISTORIES = "WITH " + organization_families_cte("$1::uuid[]") + " SELECT f.root," + _FACTS
# The history a key sees of one customer: an organisation's without the contact persons
# hidden from the key (parameters $2 and $3: ``visibility_args``).
_SEEN_HISTORY = "WITH " + history_cte("$1::uuid", visible_sql("c", "$2", "$3")) + " SELECT" + _FACTS
# What the rules read besides a customer's state: its tier, the stored policies and the
# open incidents (as ``locking`` reads them, without locking anything).
_RULE_INPUTS = (
    "SELECT c.tier, (SELECT coalesce(jsonb_object_agg(name, config), '{}'::jsonb)"
    " FROM policies) AS policies, (SELECT coalesce(jsonb_agg(jsonb_build_object('id', i.id,"
    " 'title', i.title, 'matcher', i.matcher, 'open', true) ORDER BY i.id), '[]'::jsonb)"
    " FROM incidents i WHERE i.status = 'open') AS incidents FROM customers c WHERE c.id = $1"
)


# What a ficha reads of the indicators: the stats row (absent before the first event)
# and the open alerts, newest first. Each part names the customer itself, none joins
# another on it: Citus reads each where the customer lives (the stats row by a join on
# the customer's id was pulled whole to the coordinator when the id came from a
# sub-query).
def snapshot_sql(customer: str, alert_limit: str, owned_only: str, agent_id: str) -> str:
    """The statement reading a customer's stats row and its newest open alerts (columns
    state, flags, updated_at, open_alerts; one row, empty before any event), and
    ``hidden``: whether the key of ``visibility_args`` (``owned_only``, ``agent_id``)
    cannot see some of its contact persons, whom these count (then ``seen_history`` is
    what it may read). On the parameters named: a ficha composes it with what else it
    reads."""
    return f"""
SELECT s.state, coalesce(s.indicators->'flags', '[]'::jsonb) AS flags, s.updated_at,
  coalesce((SELECT {hides_contacts_sql("h", owned_only, agent_id)} FROM customers h
    WHERE h.id = {customer}), false) AS hidden,
  (SELECT coalesce(json_agg(a ORDER BY a.id DESC), '[]'::json) FROM (
     SELECT id, customer_id, rule, code, severity, title, detail, owner_id, status, raised_at,
            acknowledged_at, acknowledged_by, acknowledged_by_key_id, cleared_at
     FROM alerts WHERE customer_id = {customer} AND cleared_at IS NULL AND status = 'open'
     ORDER BY id DESC LIMIT {alert_limit}) AS a) AS open_alerts
FROM (SELECT 1) AS one LEFT JOIN (SELECT state, indicators, updated_at FROM customer_stats
  WHERE customer_id = {customer}) AS s ON true
"""


_SNAPSHOT = snapshot_sql("$1", "$2", "$3", "$4")


async def snapshot_row(
    on: Executor, customer_id: UUID, alert_limit: int, principal: Principal
) -> Any:
    """The stats row, the newest open alerts and whether ``principal`` cannot see some of
    the contact persons they count, in one round trip."""
    conn = await driver_connection(on)
    return await conn.fetchrow(_SNAPSHOT, customer_id, alert_limit, *visibility_args(principal))


async def seen_history(
    on: Executor, customer_id: UUID, principal: Principal
) -> tuple[list[Fact], str, dict[str, dict[str, Any]], list[IncidentRow]]:
    """The history of a customer that ``principal`` sees (an organisation's without the
    contact persons hidden from it), as facts, with what the rules read besides: its tier,
    the stored policies and the open incidents."""
    conn = await driver_connection(on)
    facts = [
        _fact(r) for r in await conn.fetch(_SEEN_HISTORY, customer_id, *visibility_args(principal))
    ]
    inputs = await conn.fetchrow(_RULE_INPUTS, customer_id)
    return facts, inputs["tier"], inputs["policies"], inputs["incidents"]


# Notified on commit by the trigger on policies, whoever changed them (cache.py).
POLICIES_CHANNEL = "ch_policies"


_POLICIES = "SELECT name, config FROM policies"


async def stored_policies(on: Executor) -> dict[str, dict[str, Any]]:
    """Every stored policy (read on each append and each routed call: kept prepared)."""
    conn = await driver_connection(on)
    return {r["name"]: r["config"] for r in await conn.fetch(_POLICIES)}


async def lock(on: Executor, customer_ids: Sequence[UUID]) -> Locked:
    """The stats rows of these customers and of their organisations (created empty if
    missing), locked, in id order, every stored policy (the rules' settings) and the
    incidents the rules read: one round trip."""
    conn = await driver_connection(on)
    return locked_rows(await conn.fetch(_LOCK, sorted(set(customer_ids))))


def locked_rows(rows: Sequence[Any]) -> Locked:
    """The stats rows, the policies and the incidents as ``locking`` reads them."""
    locked: list[StatsRow] = [
        {
            "customer_id": r["customer_id"],
            "state": r["state"],  # jsonb arrives decoded (the pool sets the codec)
            "flags": list(r["flags"]),
            "tier": r["tier"],
            "owner_id": r["owner_id"],
            "organization_id": r["organization_id"],
            "open_rules": set(r["open_rules"]),
        }
        for r in rows
    ]
    if not rows:
        return locked, {}, []
    return locked, rows[0]["policies"], rows[0]["incidents"]


async def save(
    on: Executor, rows: Sequence[SavedStats], evaluated_at: datetime, along: Along | None = None
) -> list[Any]:
    """Store derived stats; ``evaluated_at`` is the instant they were derived as of. With
    ``along``, its statement goes in the same round trip (alone when no row is saved), and
    its rows are the answer."""
    if not rows and along is None:
        return []
    conn = await driver_connection(on)
    if not rows:
        assert along is not None
        return list(await conn.fetch("WITH " + along.sql(1), *along.args))
    # A bulk import saves thousands of rows: each part's JSON and its encoded statement
    # are freed before the next is built (the whole at once was 60 MiB of a worker's
    # peak for 8,000 customers; docs/performance.md, "Memory").
    *before, last = [rows[i : i + SAVE_ROWS] for i in range(0, len(rows), SAVE_ROWS)]
    for part in before:
        await conn.execute(_SAVE, *_save_arguments(part, evaluated_at))
    arguments = _save_arguments(last, evaluated_at)
    if along is None:
        await conn.execute(_SAVE, *arguments)
        return []
    statement = f"WITH saved AS ({_SAVE}), {along.sql(len(arguments) + 1)}"
    return list(await conn.fetch(statement, *arguments, *along.args))


def _save_arguments(rows: Sequence[SavedStats], evaluated_at: datetime) -> tuple[Any, ...]:
    return (
        [r["customer_id"] for r in rows],
        [json.dumps(r["state"], separators=(",", ":")) for r in rows],
        [json.dumps(r["indicators"], separators=(",", ":")) for r in rows],
        [r["ltv"] for r in rows],
        [r["orders"] for r in rows],
        [r["open_orders"] for r in rows],
        [r["last_purchase"] for r in rows],
        [r["segment"] for r in rows],
        [r["churn"] for r in rows],
        [json.dumps(list(r["flags"])) for r in rows],
        evaluated_at,
        [r["reevaluate_at"] for r in rows],
    )


async def histories(on: Executor, customer_ids: Sequence[UUID]) -> dict[UUID, list[Fact]]:
    """Every event of each customer's family, as facts, in one query for the batch."""
    conn = await driver_connection(on)
    found: dict[UUID, list[Fact]] = {customer_id: [] for customer_id in customer_ids}
    for r in await conn.fetch(_HISTORIES, list(customer_ids)):
        found[r["root"]].append(_fact(r))
    return found


def _fact(r: Any) -> Fact:
    """An event row of ``_FACTS`` as the fold reads it."""
    return Fact(
        str(r["id"]),
        r["type"],
        r["occurred_at"],
        r["channel"],
        r["payload"],
        str(r["corrects_id"]) if r["corrects_id"] else None,
        finding(r) if r["analysed"] else None,
    )


async def _ids(on: Executor, sql: str, *args: Any) -> list[UUID]:
    conn = await driver_connection(on)
    return [r[0] for r in await conn.fetch(sql, *args)]


async def customers_after(on: Executor, after: UUID | None, limit: int) -> list[UUID]:
    return await _ids(
        on,
        f"SELECT id FROM customers WHERE status = 'active' AND {after_id('id', '$1')} "
        "ORDER BY id LIMIT $2",
        after,
        limit,
    )


# Whose stats a rule's change may concern: what the rule reads is in their state (or, for
# incidents, they have shipped orders). Flagged customers are due anyway (``due``).
CONCERNS = {
    "unsatisfied_streak": "(s.state->'surveys' <> '[]' OR s.state->'rated' <> '[]')",
    "premium_abandoned_calls": "s.state->'missed_calls' <> '[]'",
    "recurring_problem": "s.state->'tickets' <> '{}'",
    "open_dispute": "s.state->'disputes' <> '{}'",
    "urgent_message": "s.state->'texts' <> '[]'",
    "angry_message": "s.state->'texts' <> '[]'",
    "incident_affected": "jsonb_path_exists(s.state->'orders', '$.*.shipped_at')",
}


async def make_due(on: Executor, rule: str, now: datetime) -> None:
    """Make the customers ``rule`` may concern due for evaluation at ``now``."""
    conn = await driver_connection(on)
    await conn.execute(
        "UPDATE customer_stats s SET reevaluate_at = $1 "
        "WHERE (s.reevaluate_at IS NULL OR s.reevaluate_at > $1) AND " + CONCERNS[rule],
        now,
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
