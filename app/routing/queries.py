"""The routing statement (the driver path)."""

from typing import Any

from app.core.db import Executor, driver_connection
from app.core.security import Principal
from app.customers.visibility import visibility_args, visible_sql

# Routing: called on every incoming call, so one prepared statement and two index probes.
# A caller the key may not see is routed as an unknown number.
_ROUTE = (
    "SELECT c.id, c.display_name, c.preferred_language, c.tier, s.flags, "
    "jsonb_path_query_array(s.indicators, '$.flags[*] ? (exists(@.orders))') AS affecting "
    "FROM customer_identifiers i JOIN customers c ON c.id = i.customer_id "
    "LEFT JOIN customer_stats s ON s.customer_id = c.id "
    "WHERE i.kind = 'phone' AND i.value = $1 AND " + visible_sql("c", "$2", "$3")
)


async def route(on: Executor, phone: str, principal: Principal) -> Any:
    conn = await driver_connection(on)
    return await conn.fetchrow(_ROUTE, phone, *visibility_args(principal))
