"""The routing statement (the driver path)."""

from typing import Any

from app.core.db import Executor, driver_connection
from app.core.security import Principal
from app.customers.visibility import hides_contacts_sql, visibility_args, visible_sql

# Routing: called on every incoming call, so one prepared statement and index probes
# only: who holds the readings (on the value's shard), those callers by id with their
# stats, then their organisations by id with theirs (a contact person is routed with
# them too). Each step is a CTE on its own keys: Citus refuses the join of identifiers
# (spread by value) to customers (by id) and of a contact to its organisation (another
# customer's shard), as it refused them in the caller cards (customers.queries). A caller
# the key may not see is routed as an unknown number; an organisation it may not see does
# not count. ``hidden`` and ``organization_hidden`` say whether the key cannot see some
# contact person whom the caller's or its organisation's stats count (a key that sees
# everyone: false, no probe).
_ROUTE = (
    "WITH holding AS (SELECT value AS phone, customer_id FROM customer_identifiers "
    "WHERE kind = 'phone' AND value = ANY($1::text[])), "
    "caller AS (SELECT c.id, c.display_name, c.preferred_language, c.tier, "
    "c.organization_id, s.flags, "
    "jsonb_path_query_array(s.indicators, '$.flags[*] ? (exists(@.orders))') AS affecting, "
    + hides_contacts_sql("c", "$2", "$3")
    + " AS hidden FROM customers c LEFT JOIN customer_stats s ON s.customer_id = c.id "
    "WHERE c.id IN (SELECT customer_id FROM holding) AND "
    + visible_sql("c", "$2", "$3")
    + "), organization AS (SELECT o.id, o.display_name, o.tier, os.flags, "
    + hides_contacts_sql("o", "$2", "$3")
    + " AS hidden FROM customers o LEFT JOIN customer_stats os ON os.customer_id = o.id "
    "WHERE o.id IN (SELECT organization_id FROM caller) AND o.status = 'active' AND "
    + visible_sql("o", "$2", "$3")
    + ") SELECT h.phone, c.id, c.display_name, c.preferred_language, c.tier, c.flags, "
    "c.affecting, c.hidden, o.id AS organization_id, o.display_name AS organization_name, "
    "o.tier AS organization_tier, o.flags AS organization_flags, "
    "o.hidden AS organization_hidden "
    "FROM holding h JOIN caller c ON c.id = h.customer_id "
    "LEFT JOIN organization o ON o.id = c.organization_id "
    "ORDER BY array_position($1::text[], h.phone)"
)


async def route(on: Executor, readings: list[str], principal: Principal) -> list[Any]:
    """The routing row of everyone ``principal`` may see holding one of ``readings``."""
    conn = await driver_connection(on)
    return list(await conn.fetch(_ROUTE, readings, *visibility_args(principal)))
