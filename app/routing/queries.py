"""The routing statement (the driver path)."""

from typing import Any

from app.core.db import Executor, driver_connection
from app.core.security import Principal
from app.customers.visibility import hides_contacts_sql, visibility_args, visible_sql

# Routing: called on every incoming call, so one prepared statement and index probes
# only: the caller, its stats, and its organisation's (a contact person is routed with
# them too). A caller the key may not see is routed as an unknown number; an organisation
# it may not see does not count. ``hidden`` and ``organization_hidden`` say whether the
# key cannot see some contact person whom the caller's or its organisation's stats count
# (a key that sees everyone: false, no probe).
_ROUTE = (
    "SELECT i.value AS phone, c.id, c.display_name, c.preferred_language, c.tier, s.flags, "
    "jsonb_path_query_array(s.indicators, '$.flags[*] ? (exists(@.orders))') AS affecting, "
    + hides_contacts_sql("c", "$2", "$3")
    + " AS hidden, o.id AS organization_id, o.display_name AS organization_name,"
    " o.tier AS organization_tier, os.flags AS organization_flags, "
    + hides_contacts_sql("o", "$2", "$3")
    + " AS organization_hidden "
    "FROM customer_identifiers i JOIN customers c ON c.id = i.customer_id "
    "LEFT JOIN customer_stats s ON s.customer_id = c.id "
    "LEFT JOIN customers o ON o.id = c.organization_id AND o.status = 'active' AND "
    + visible_sql("o", "$2", "$3")
    + " LEFT JOIN customer_stats os ON os.customer_id = o.id "
    "WHERE i.kind = 'phone' AND i.value = ANY($1::text[]) AND "
    + visible_sql("c", "$2", "$3")
    + " ORDER BY array_position($1::text[], i.value)"
)


async def route(on: Executor, readings: list[str], principal: Principal) -> list[Any]:
    """The routing row of everyone ``principal`` may see holding one of ``readings``."""
    conn = await driver_connection(on)
    return list(await conn.fetch(_ROUTE, readings, *visibility_args(principal)))
