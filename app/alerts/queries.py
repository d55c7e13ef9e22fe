"""Prepared statements on alerts (the driver path): raised and cleared by the rules on every
append, acknowledged by people. Every change is recorded in ``alert_changes`` and notified
on ``ch_alerts`` (the live alert stream), and written to the outbox for the subscriptions
that want it, by the statement that makes it."""

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypedDict
from uuid import UUID

from app.core.db import Executor, driver_connection, new_id
from app.outbox.queries import announce_cte

# The payload is the alert_changes row's seq: a stream reads what it may see of it.
NOTIFY_CHANNEL = "ch_alerts"


def _recorded(changed: str, kind: str) -> str:
    """What follows a CTE ``changed`` of alerts (``id``, ``customer_id``) that changed as
    ``kind``: the change recorded, announced and notified."""
    return (
        f", recorded AS (INSERT INTO alert_changes (alert_id, customer_id, kind) "
        f"SELECT id, customer_id, '{kind}' FROM {changed} RETURNING seq), "
        + announce_cte("announced", changed, f"'alert.{kind}'", "customer_id", "id")
        + f" SELECT count(pg_notify('{NOTIFY_CHANNEL}', seq::text)) FROM recorded"
    )


_RAISE = (
    "WITH raised AS (INSERT INTO alerts (id, customer_id, rule, code, severity, title, detail, "
    "owner_id, raised_at) SELECT *, $9::timestamptz FROM unnest($1::uuid[], $2::uuid[], "
    "$3::text[], $4::text[], $5::text[], $6::text[], $7::jsonb[], $8::text[]) "
    "ON CONFLICT DO NOTHING RETURNING id, customer_id)" + _recorded("raised", "raised")
)
_CLEAR = (
    "WITH cleared AS (UPDATE alerts a SET cleared_at = $3 "
    "FROM unnest($1::uuid[], $2::text[]) AS e(c, r) "
    "WHERE a.customer_id = e.c AND a.rule = e.r AND a.cleared_at IS NULL "
    "RETURNING a.id, a.customer_id)" + _recorded("cleared", "cleared")
)
_ACKNOWLEDGED = (
    "WITH acknowledged AS (SELECT * FROM unnest($1::uuid[], $2::uuid[]) AS a(id, customer_id))"
    + _recorded("acknowledged", "acknowledged")
)


class RaisedAlert(TypedDict):
    """A rule that now holds for a customer: the episode to open, unless one is open."""

    customer_id: UUID
    rule: str
    code: str
    severity: str
    title: str
    detail: dict[str, Any]  # what the rule saw, as JSON
    owner_id: str | None  # the customer's owner, who sees it


async def raise_alerts(on: Executor, alerts: Sequence[RaisedAlert], at: datetime) -> None:
    if not alerts:
        return
    conn = await driver_connection(on)
    await conn.fetchval(
        _RAISE,
        [new_id() for _ in alerts],
        [a["customer_id"] for a in alerts],
        [a["rule"] for a in alerts],
        [a["code"] for a in alerts],
        [a["severity"] for a in alerts],
        [a["title"] for a in alerts],
        [json.dumps(a["detail"]) for a in alerts],
        [a["owner_id"] for a in alerts],
        at,
    )


async def clear_alerts(on: Executor, ended: Sequence[tuple[UUID, str]], at: datetime) -> None:
    if not ended:
        return
    conn = await driver_connection(on)
    await conn.fetchval(_CLEAR, [c for c, _ in ended], [r for _, r in ended], at)


async def acknowledged(on: Executor, alert_id: UUID, customer_id: UUID) -> None:
    """Record that an alert was acknowledged (its row is changed by the repository)."""
    conn = await driver_connection(on)
    await conn.fetchval(_ACKNOWLEDGED, [alert_id], [customer_id])


async def open_of_rules(on: Executor, rules: Sequence[str]) -> list[dict[str, Any]]:
    """Alerts of ``rules`` still open: neither acknowledged nor cleared."""
    conn = await driver_connection(on)
    rows = await conn.fetch(
        "SELECT id, customer_id, rule, title, detail, owner_id, raised_at FROM alerts "
        "WHERE rule = ANY($1::text[]) AND status = 'open' AND cleared_at IS NULL",
        list(rules),
    )
    return [dict(r) for r in rows]  # jsonb arrives decoded (the pool sets the codec)


async def is_open(on: Executor, customer_id: UUID, alert_id: UUID) -> bool:
    conn = await driver_connection(on)
    return bool(
        await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM alerts WHERE customer_id = $1 AND id = $2 "
            "AND status = 'open' AND cleared_at IS NULL)",
            customer_id,
            alert_id,
        )
    )
