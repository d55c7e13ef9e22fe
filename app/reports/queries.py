"""The reports' statements (the driver path): a period's orders, refunds and tickets; the
topics of a period's analysed messages."""

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


# The analysed messages of a period, per period of the interval (UTC): how many, how many
# negative, per intent, and the intents' words (erased analyses have none). $1, $2: the
# period; $3: the interval.
_MESSAGES = (
    "SELECT date_trunc($3, a.occurred_at, 'UTC') AS period, count(*) AS messages, "
    "count(*) FILTER (WHERE a.sentiment = 'negative') AS negative "
    "FROM text_analyses a "
    "WHERE a.occurred_at >= $1 AND a.occurred_at < $2 GROUP BY 1"
)
_INTENTS = (
    "SELECT date_trunc($3, a.occurred_at, 'UTC') AS period, i.intent, count(*) AS count "
    "FROM text_analyses a "
    "CROSS JOIN LATERAL unnest(a.intents) AS i(intent) "
    "WHERE a.occurred_at >= $1 AND a.occurred_at < $2 GROUP BY 1, 2"
)
_TERMS = (
    "SELECT date_trunc($3, a.occurred_at, 'UTC') AS period, w.term, count(*) AS count "
    "FROM text_analyses a "
    "CROSS JOIN LATERAL jsonb_each(a.terms->'intents') AS i(intent, words) "
    "CROSS JOIN LATERAL jsonb_array_elements_text(i.words) AS w(term) "
    "WHERE a.occurred_at >= $1 AND a.occurred_at < $2 AND a.terms IS NOT NULL GROUP BY 1, 2"
)


async def topic_rows(
    on: Executor, since: datetime, until: datetime, interval: str
) -> tuple[list[Any], list[Any], list[Any]]:
    """Per period: the messages (count, negative), each intent's count, each word's count."""
    conn = await driver_connection(on)
    args = (since, until, interval)
    return (
        list(await conn.fetch(_MESSAGES, *args)),
        list(await conn.fetch(_INTENTS, *args)),
        list(await conn.fetch(_TERMS, *args)),
    )
