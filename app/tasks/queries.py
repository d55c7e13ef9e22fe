"""Prepared statements on tasks (the driver path): a ficha's open follow-ups."""

from datetime import datetime
from typing import Any
from uuid import UUID

from app.core.db import Executor, driver_connection

_OPEN = (
    "SELECT id, title, assignee, due_at, status, snoozed_until, alert_id FROM tasks "
    "WHERE customer_id = $1 AND (status = 'open' OR (status = 'snoozed' AND snoozed_until <= $2)) "
    "AND ($4 OR alert_id IS NULL) "
    "ORDER BY coalesce(due_at, 'infinity'), id LIMIT $3"
)


async def open_tasks(
    on: Executor, customer_id: UUID, now: datetime, limit: int, alerts_seen: bool
) -> list[Any]:
    """A customer's open tasks; the follow-ups of its alerts only if ``alerts_seen``."""
    conn = await driver_connection(on)
    return list(await conn.fetch(_OPEN, customer_id, now, limit, alerts_seen))
