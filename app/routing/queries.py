"""The routing statement (the driver path)."""

from typing import Any

from app.core.db import Executor, driver_connection
from app.core.security import Principal
from app.customers.visibility import visibility_args, visible_sql

# Routing: called on every incoming call, so one prepared statement and two index probes.
# A caller the key may not see is routed as an unknown number.
_ROUTE = (
    "SELECT i.value AS phone, c.id, c.display_name, c.preferred_language, c.tier, s.flags "
    "FROM customer_identifiers i JOIN customers c ON c.id = i.customer_id "
    "LEFT JOIN customer_stats s ON s.customer_id = c.id "
    "WHERE i.kind = 'phone' AND i.value = ANY($1::text[]) AND "
    + visible_sql("c", "$2", "$3")
    + " ORDER BY array_position($1::text[], i.value)"
)


async def route(on: Executor, readings: list[str], principal: Principal) -> list[Any]:
    """The routing row of everyone ``principal`` may see holding one of ``readings``."""
    conn = await driver_connection(on)
    return list(await conn.fetch(_ROUTE, readings, *visibility_args(principal)))
