"""Prepared statements on alerts (the driver path): raised and cleared by the rules on every
append."""

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypedDict
from uuid import UUID

from app.core.db import Executor, driver_connection, new_id


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


async def open_of_rules(on: Executor, rules: Sequence[str]) -> list[dict[str, Any]]:
    """Alerts of ``rules`` still open: neither acknowledged nor cleared."""
    conn = await driver_connection(on)
    rows = await conn.fetch(
        "SELECT id, customer_id, rule, title, detail, raised_at FROM alerts "
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
