"""The report's statement (the driver path): a period's orders, refunds and tickets."""

from datetime import datetime
from typing import Any

from app.core.db import Executor, driver_connection


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
