"""Alerts: episodes of a rule holding for a customer, raised and cleared by the
indicators' rules, listed and acknowledged by people."""

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from app.alerts import queries
from app.alerts.models import Alert
from app.alerts.queries import RaisedAlert
from app.alerts.repository import AlertRepository
from app.alerts.schemas import AlertOut, AlertPage
from app.core.clock import Clock
from app.core.db import Executor
from app.core.errors import Forbidden, NotFound
from app.core.pagination import cursor_id, keyset_page
from app.core.security import Principal, Role


def alert_out(alert: Alert) -> AlertOut:
    status = "cleared" if alert.cleared_at else alert.status
    return AlertOut.model_validate({**alert.__dict__, "status": status})


async def list_alerts(
    session: AsyncSession,
    principal: Principal,
    *,
    status: str | None,
    owner_id: str | None,
    customer_id: UUID | None,
    limit: int,
    cursor: str | None,
) -> AlertPage:
    before = cursor_id(cursor, "before")
    rows = await AlertRepository(session).page(
        principal,
        status=status,
        owner_id=owner_id,
        customer_id=customer_id,
        limit=limit + 1,
        before=before,
    )
    page, next_cursor = keyset_page(rows, limit, lambda a: {"before": str(a.id)})
    return AlertPage(items=[alert_out(a) for a in page], next_cursor=next_cursor)


async def alerts_by_id(session: AsyncSession, alert_ids: Sequence[UUID]) -> list[AlertOut]:
    """The alerts named, as they are now (whoever may see them: the caller decides)."""
    return [alert_out(a) for a in await AlertRepository(session).get_many(alert_ids)]


class AlertNotFound(NotFound):
    """An alert that does not exist or whose customer the caller may not see."""

    code = "alert-not-found"
    title = "Alert not found"
    example = ("Alert not found.", {})

    def __init__(self) -> None:
        super().__init__("Alert not found.")


def may_acknowledge(alert: Alert, principal: Principal) -> bool:
    """The alert's owner, a supervisor or an admin: nobody silences another's alert."""
    return (
        principal.role is Role.ADMIN
        or principal.supervisor
        or (principal.agent_id is not None and principal.agent_id == alert.owner_id)
    )


async def acknowledge(
    session: AsyncSession, alert_id: UUID, principal: Principal, clock: Clock
) -> AlertOut:
    """Acknowledge an alert: 404 when its customer is out of sight, 403 when the caller sees
    it but is neither its owner, a supervisor nor an admin."""
    alert = await AlertRepository(session).get_locked(alert_id, principal)
    if alert is None:
        raise AlertNotFound()
    if not may_acknowledge(alert, principal):
        raise Forbidden("Only the alert's owner, a supervisor or an admin acknowledges it.")
    if alert.acknowledged_at is None:
        alert.status = "acknowledged"
        alert.acknowledged_at = clock.now()
        alert.acknowledged_by = principal.agent_id
        alert.acknowledged_by_key_id = principal.key_id
        await session.flush()
        await queries.acknowledged(session, alert.id, alert.customer_id)
    return alert_out(alert)


async def raise_alerts(on: Executor, alerts: Sequence[RaisedAlert], at: datetime) -> None:
    """Open an episode, raised at ``at``, of each rule that now holds for a customer (with
    its owner); an episode already open goes on as it is."""
    await queries.raise_alerts(on, alerts, at)


async def clear_alerts(on: Executor, ended: Sequence[tuple[UUID, str]], at: datetime) -> None:
    """Close, at ``at``, the open episode of each (customer, rule) that no longer holds."""
    await queries.clear_alerts(on, ended, at)


async def open_of_rules(on: Executor, rules: Sequence[str]) -> list[dict[str, Any]]:
    """The alerts of ``rules`` nobody acknowledged and that still hold (id, customer_id,
    rule, title, detail, owner_id, raised_at)."""
    return await queries.open_of_rules(on, rules)


async def is_open(on: Executor, customer_id: UUID, alert_id: UUID) -> bool:
    """Whether the alert is still open: neither acknowledged nor cleared."""
    return await queries.is_open(on, customer_id, alert_id)
