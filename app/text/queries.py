"""Prepared statements of text analysis (the driver path): the rules every append reads,
the analyses stored beside the events (their erasure is the erasure function's, migration 0036)."""

import json
from collections.abc import Sequence
from typing import Any

from app.core.db import Executor, driver_connection

NOTIFY_CHANNEL = "ch_text_rules"


def storing(first: int, kept: str | None = None) -> str:
    """Store (or replace) analyses given as the twelve arrays ``arrays`` makes, bound from
    ``$first`` on; with ``kept`` (a query of event ids), only the analyses of those events:
    the store of a batch's events takes in this way the analyses of the events it kept."""
    a = [f"${n}" for n in range(first, first + 12)]
    return (
        "INSERT INTO text_analyses (customer_id, occurred_at, event_id, analyser_version, "
        "language, sentiment, score, urgency, reasons, intents, abusive, terms) "
        # reasons and intents come as comma-separated words: an array of arrays does not unnest
        "SELECT customer_id, occurred_at, event_id, analyser_version, language, sentiment, "
        "score, urgency, string_to_array(reasons, ','), string_to_array(intents, ','), abusive, "
        f"terms FROM unnest({a[0]}::uuid[], {a[1]}::timestamptz[], {a[2]}::uuid[], "
        f"{a[3]}::text[], {a[4]}::text[], {a[5]}::text[], {a[6]}::float8[], {a[7]}::text[], "
        f"{a[8]}::text[], {a[9]}::text[], {a[10]}::bool[], {a[11]}::jsonb[]) "
        "AS t(customer_id, occurred_at, event_id, analyser_version, language, sentiment, score, "
        "urgency, reasons, intents, abusive, terms) "
        + (f"WHERE event_id IN ({kept}) " if kept else "")
        + "ON CONFLICT (customer_id, occurred_at, event_id) DO UPDATE SET "
        "analyser_version = excluded.analyser_version, language = excluded.language, "
        "sentiment = excluded.sentiment, score = excluded.score, urgency = excluded.urgency, "
        "reasons = excluded.reasons, intents = excluded.intents, abusive = excluded.abusive, "
        # excluded's analysed_at is the column's default, now(): Citus evaluates no STABLE
        # function in an upsert's SET.
        "terms = excluded.terms, analysed_at = excluded.analysed_at "
        # An analysis whose words were erased stays as the erasure left it.
        "WHERE text_analyses.terms IS NOT NULL"
    )


_STORE = storing(1)


async def rules_digest(on: Executor) -> str | None:
    """A digest of the stored rules document (None when there is none)."""
    conn = await driver_connection(on)
    digest: str | None = await conn.fetchval("SELECT md5(document::text) FROM text_rules")
    return digest


async def rules_document(on: Executor) -> tuple[str, dict[str, Any]] | None:
    """The stored rules document and its digest."""
    conn = await driver_connection(on)
    row = await conn.fetchrow("SELECT md5(document::text) AS digest, document FROM text_rules")
    return None if row is None else (row["digest"], row["document"])


async def store(on: Executor, rows: Sequence[dict[str, Any]]) -> None:
    """Store (or replace) the analyses of events, in one statement."""
    if not rows:
        return
    conn = await driver_connection(on)
    await conn.execute(_STORE, *arrays(rows))


def arrays(rows: Sequence[dict[str, Any]]) -> list[list[Any]]:
    """Analyses (rows of ``text_analyses``) as the arrays ``storing`` binds."""
    columns = (
        "customer_id",
        "occurred_at",
        "event_id",
        "analyser_version",
        "language",
        "sentiment",
        "score",
        "urgency",
    )
    return [
        *[[r[c] for r in rows] for c in columns],
        [",".join(r["reasons"]) for r in rows],
        [",".join(r["intents"]) for r in rows],
        [r["abusive"] for r in rows],
        [json.dumps(r["terms"], separators=(",", ":")) for r in rows],
    ]
