"""Prepared statements of fichas (the driver path): what a ficha reads with its access-log
row, and a template this process holds no copy of."""

from functools import cache
from typing import Any
from uuid import UUID

from app.auth.queries import access_insert_sql
from app.core.db import Executor, driver_connection, new_id
from app.core.security import Principal
from app.customers.queries import CALLERS_CTES, CARD_COLUMNS, card_ctes
from app.customers.visibility import visibility_args
from app.fichas.templates import Template
from app.indicators.queries import snapshot_sql
from app.timeline.queries import Wants, recent_sql

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
# One statement per number of event sections (recent_sql says why), their limits last.
@cache
def _reads(sections: int) -> str:
    limits = [f"${n}" for n in range(11, 11 + sections)]
    return (
        "WITH logged AS ("
        + access_insert_sql("$3", "$1", "$4", "$5", "$6", "$7")
        + ") SELECT snap.*, ARRAY(SELECT r FROM ("
        + recent_sql("$1", "$8", "$9", "$10", limits)
        + ") AS r ORDER BY r.n, r.occurred_at DESC, r.id DESC) AS recent FROM ("
        + snapshot_sql("$1", "$2", "$9", "$10")
        + ") AS snap"
    )


async def ficha_reads(
    on: Executor,
    customer_id: UUID,
    principal: Principal,
    alert_limit: int,
    wants: Wants,
    access: tuple[Any, ...],
) -> Any:
    """The snapshot columns (state, flags, updated_at, hidden, open_alerts) and ``recent``, the
    event rows of ``wants`` (as ``views.recent_wants`` gives them; an organisation's
    contact persons' events too, those ``principal`` sees),
    with the access-log row of ``access`` (key, agent, role, what) written."""
    conn = await driver_connection(on)
    document, limits = wants
    return await conn.fetchrow(
        _reads(len(limits)),
        customer_id,
        alert_limit,
        new_id(),
        *access,
        document,
        *visibility_args(principal),
        *limits,
    )


# The screen-pop in one round trip: who holds the caller's number and, when that is one
# customer, its card (CALLER_CARDS_SQL's parameters $1 to $4) and, unless it is merged,
# what its ficha reads and the access-log row of the read, as _reads does. Several
# candidates, nobody and a merged customer (whose survivor is shown) read and log nothing
# more here. Each part reads the customer it needs through a sub-query of an earlier CTE,
# never by a join across customers: Citus plans each CTE on its own (docs/scaling.md).
_READING = "(SELECT id FROM reading)"


@cache
def _screen_pop(sections: int) -> str:
    limits = [f"${n}" for n in range(12, 12 + sections)]
    return (
        "WITH "
        + CALLERS_CTES
        + ", "
        + card_ctes("(SELECT id FROM chosen)")
        + ", reading AS (SELECT id FROM c WHERE status <> 'merged'), logged AS ("
        + access_insert_sql("$5", "reading.id", "$6", "$7", "$8", "$9")
        + " FROM reading) SELECT callers.*, card.*, snap.state AS stats_state, "
        "snap.flags AS stats_flags, snap.updated_at AS stats_updated_at, "
        "snap.hidden AS stats_hidden, snap.open_alerts, ARRAY(SELECT r FROM ("
        + recent_sql(_READING, "$11", "$2", "$3", limits)
        + ") AS r ORDER BY r.n, r.occurred_at DESC, r.id DESC) AS recent FROM callers "
        "LEFT JOIN (SELECT "
        + CARD_COLUMNS
        + " FROM c) AS card ON true CROSS JOIN ("
        + snapshot_sql(_READING, "$10", "$2", "$3")
        + ") AS snap ORDER BY callers.phone"
    )


async def screen_pop_rows(
    on: Executor,
    national: str,
    international: str | None,
    principal: Principal,
    alert_limit: int,
    wants: Wants,
    access: tuple[Any, ...],
) -> list[Any]:
    """The caller rows (as ``caller_card_rows``), each with the chosen customer's
    stats_state, stats_flags, stats_updated_at, stats_hidden, open_alerts and ``recent``
    (empty unless the callers are one customer, not merged, whose read is then logged
    with ``access``); ``wants`` as :func:`ficha_reads` takes them."""
    conn = await driver_connection(on)
    document, limits = wants
    return list(
        await conn.fetch(
            _screen_pop(len(limits)),
            national,
            *visibility_args(principal),
            international,
            new_id(),
            *access,
            alert_limit,
            document,
            *limits,
        )
    )
