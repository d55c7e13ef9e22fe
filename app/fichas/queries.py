"""Prepared statements of fichas (the driver path): what a ficha reads with its access-log
row, and a template this process holds no copy of."""

from typing import Any
from uuid import UUID

from app.auth.queries import access_insert_sql
from app.core.db import Executor, driver_connection, new_id
from app.core.security import Principal
from app.customers.queries import CALLER_CARDS_SQL
from app.customers.visibility import visibility_args
from app.fichas.templates import Template
from app.indicators.queries import snapshot_sql
from app.timeline.queries import recent_sql

# Read on a ficha or screen-pop when this process holds no copy (see cache.py).
_TEMPLATE = "SELECT sections, labels FROM ficha_templates WHERE role = $1"
# Notified on commit by the trigger on ficha_templates, whoever changed it.
NOTIFY_CHANNEL = "ch_ficha_templates"


async def template_sections(on: Executor, role: str) -> Template | None:
    conn = await driver_connection(on)
    row = await conn.fetchrow(_TEMPLATE, role)
    return None if row is None else (row["sections"], row["labels"])


# What a ficha reads once its customer is known (the stats row with its open alerts, the
# events of its sections) and the access-log row of the read, in one round trip where they
# were three (docs/performance.md): the row is written whether or not the reads find
# anything, and if it cannot be written nothing is read. Each part is its domain's own SQL.
_READS = (
    "WITH logged AS ("
    + access_insert_sql("$3", "$1", "$4", "$5", "$6", "$7")
    + ") SELECT snap.*, ARRAY(SELECT r FROM ("
    + recent_sql("$1", "$8", "$9", "$10")
    + ") AS r ORDER BY r.n, r.occurred_at DESC, r.id DESC) AS recent FROM ("
    + snapshot_sql("$1", "$2", "$9", "$10")
    + ") AS snap"
)


async def ficha_reads(
    on: Executor,
    customer_id: UUID,
    principal: Principal,
    alert_limit: int,
    wants: str,
    access: tuple[Any, ...],
) -> Any:
    """The snapshot columns (state, flags, updated_at, hidden, open_alerts) and ``recent``, the
    event rows of ``wants`` (an organisation's contact persons' too, those ``principal``
    sees), with the access-log row of ``access`` (key, agent, role, what) written."""
    conn = await driver_connection(on)
    return await conn.fetchrow(
        _READS, customer_id, alert_limit, new_id(), *access, wants, *visibility_args(principal)
    )


# The screen-pop in one round trip: the caller's cards (parameters $1 to $4 of
# CALLER_CARDS_SQL) and, when they are one customer's and it is not merged, what its ficha
# reads and the access-log row of the read, as _READS does. Several candidates, nobody
# and a merged customer (whose survivor is shown) read and log nothing more here.
_CHOSEN = "(SELECT id FROM chosen)"
_SCREEN_POP = (
    "WITH cards AS ("
    + CALLER_CARDS_SQL
    + "), chosen AS (SELECT (array_agg(DISTINCT id))[1] AS id FROM cards"
    " HAVING count(DISTINCT id) = 1 AND bool_and(status <> 'merged')),"
    " logged AS ("
    + access_insert_sql("$5", "chosen.id", "$6", "$7", "$8", "$9")
    + " FROM chosen) SELECT cards.*, snap.state AS stats_state, snap.flags AS stats_flags,"
    " snap.updated_at AS stats_updated_at, snap.hidden AS stats_hidden, snap.open_alerts,"
    " ARRAY(SELECT r FROM ("
    + recent_sql(_CHOSEN, "$11", "$2", "$3")
    + ") AS r ORDER BY r.n, r.occurred_at DESC, r.id DESC) AS recent FROM cards CROSS JOIN ("
    + snapshot_sql(_CHOSEN, "$10", "$2", "$3")
    + ") AS snap ORDER BY cards.phone"
)


async def screen_pop_rows(
    on: Executor,
    national: str,
    international: str | None,
    principal: Principal,
    alert_limit: int,
    wants: str,
    access: tuple[Any, ...],
) -> list[Any]:
    """The caller card rows (as ``caller_card_rows``), each with the chosen customer's
    stats_state, stats_flags, stats_updated_at, stats_hidden, open_alerts and ``recent``
    (empty unless the cards are one customer's, not merged, whose read is then logged
    with ``access``)."""
    conn = await driver_connection(on)
    return list(
        await conn.fetch(
            _SCREEN_POP,
            national,
            *visibility_args(principal),
            international,
            new_id(),
            *access,
            alert_limit,
            wants,
        )
    )
