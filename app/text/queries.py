"""Prepared statements of text analysis (the driver path): the rules every append reads,
the analyses stored beside the events and their erasure."""

import json
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from app.core.db import Executor, driver_connection

NOTIFY_CHANNEL = "ch_text_rules"

_STORE = (
    "INSERT INTO text_analyses (customer_id, occurred_at, event_id, analyser_version, "
    "language, sentiment, score, urgency, reasons, intents, abusive, terms) "
    # reasons and intents come as comma-separated words: an array of arrays does not unnest
    "SELECT customer_id, occurred_at, event_id, analyser_version, language, sentiment, score, "
    "urgency, string_to_array(reasons, ','), string_to_array(intents, ','), abusive, terms "
    "FROM unnest($1::uuid[], $2::timestamptz[], $3::uuid[], $4::text[], $5::text[], "
    "$6::text[], $7::float8[], $8::text[], $9::text[], $10::text[], $11::bool[], $12::jsonb[]) "
    "AS t(customer_id, occurred_at, event_id, analyser_version, language, sentiment, score, "
    "urgency, reasons, intents, abusive, terms) "
    "ON CONFLICT (customer_id, occurred_at, event_id) DO UPDATE SET "
    "analyser_version = excluded.analyser_version, language = excluded.language, "
    "sentiment = excluded.sentiment, score = excluded.score, urgency = excluded.urgency, "
    "reasons = excluded.reasons, intents = excluded.intents, abusive = excluded.abusive, "
    "terms = excluded.terms, analysed_at = now() "
    # An analysis whose words were erased stays as the erasure left it.
    "WHERE text_analyses.terms IS NOT NULL"
)


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
    columns = (
        "customer_id",
        "occurred_at",
        "event_id",
        "analyser_version",
        "language",
        "sentiment",
        "score",
        "urgency",
        "reasons",
        "intents",
        "abusive",
    )
    await conn.execute(
        _STORE,
        *[[r[c] for r in rows] for c in columns[:8]],
        [",".join(r["reasons"]) for r in rows],
        [",".join(r["intents"]) for r in rows],
        [r["abusive"] for r in rows],
        [json.dumps(r["terms"], separators=(",", ":")) for r in rows],
    )


async def erase_terms(on: Executor, customer_ids: Sequence[UUID]) -> int:
    """Forget the words that matched in these customers' analyses; labels and scores stay."""
    conn = await driver_connection(on)
    done = await conn.execute(
        "UPDATE text_analyses SET terms = NULL "
        "WHERE customer_id = ANY($1::uuid[]) AND terms IS NOT NULL",
        list(customer_ids),
    )
    return int(done.split()[-1])
