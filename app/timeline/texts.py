"""The customer's own words on the timeline: which events carry them, their analysis as
they are appended, and their analysis again after the rules change."""

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.clock import Clock
from app.core.config import Settings
from app.core.db import Database, Executor
from app.customers import service as customers
from app.indicators import service as indicators
from app.indicators.state import Fact
from app.text import service as text
from app.text.analyser import TextAnalyser
from app.text.service import CustomerText, RulesCache
from app.timeline import queries
from app.timeline.queries import EventRow

# The payload fields that hold what the customer wrote (or said, or what an agent noted of
# it), by event type; joined in this order. An agent's turns in a transcript and quoted
# replies are left out by the analyser itself.
CUSTOMER_TEXT: dict[str, tuple[str, ...]] = {
    "email.received": ("subject", "excerpt"),
    "chat.conversation": ("transcript",),
    "social.mention": ("text",),
    "survey.answered": ("comment",),
    "ticket.opened": ("description",),
    "call.completed": ("notes", "transcript"),
    "call.voicemail": ("notes", "transcript"),
}


def customer_text(type_: str, payload: Mapping[str, Any]) -> str | None:
    """The text of an event to analyse; None when it carries none."""
    parts = [
        value.strip()
        for name in CUSTOMER_TEXT.get(type_, ())
        if isinstance(value := payload.get(name), str) and value.strip()
    ]
    return "\n\n".join(parts) or None


def _texts(rows: Sequence[EventRow]) -> list[CustomerText]:
    return [
        CustomerText(row.customer_id, row.occurred_at, row.id, found)
        for row in rows
        if (found := customer_text(row.type, row.payload)) is not None
    ]


async def analyses(
    on: Executor, rules: RulesCache | None, rows: Sequence[EventRow]
) -> list[dict[str, Any]]:
    """The analyses of the customer texts of events, as stored beside them. ``rules`` is
    None only for the service's own events, which carry no customer text."""
    texts = _texts(rows)
    if not texts:
        return []
    assert rules is not None, "an event with customer text comes with the rules"
    return await rules.analyse(on, texts)


def facts(rows: Sequence[EventRow], analyses: Sequence[dict[str, Any]]) -> list[tuple[UUID, Fact]]:
    """The facts the indicators fold of events stored, with what each one's analysis found."""
    findings = {found["event_id"]: text.finding(found) for found in analyses}
    return [(row.customer_id, row.fact(findings.get(row.id))) for row in rows]


async def analysed_facts(
    on: Executor, rules: RulesCache | None, rows: Sequence[EventRow]
) -> list[tuple[UUID, Fact]]:
    """Analyse the customer texts of events just stored, store each analysis beside its
    event, and answer the facts the indicators fold (with what each analysis found)."""
    found = await analyses(on, rules, rows)
    await text.store(on, found)
    return facts(rows, found)


# --- analysing again ------------------------------------------------------------------

REANALYSIS_BATCH = 500
_FIRST_KEY = (UUID(int=0), datetime.min.replace(tzinfo=UTC), UUID(int=0))


async def reanalyse_batch(
    session: AsyncSession,
    analyser: TextAnalyser,
    since: datetime | None,
    after: tuple[UUID, datetime, UUID] | None,
    settings: Settings,
    clock: Clock,
    limit: int = REANALYSIS_BATCH,
) -> tuple[int, tuple[UUID, datetime, UUID] | None]:
    """Analyse again, with ``analyser``, the events of one batch (after the key ``after``,
    occurred since ``since``) whose analysis is missing or of another version, and
    rebuild their customers' indicators. Answers how many were analysed and the key to go
    on from (None: no events left). Erased analyses stay as they are."""
    rows = await queries.text_events_after(
        session,
        analyser.version,
        list(CUSTOMER_TEXT),
        since or _FIRST_KEY[1],
        after or _FIRST_KEY,
        limit,
    )
    texts = [
        CustomerText(r["customer_id"], r["occurred_at"], r["id"], found)
        for r in rows
        if not r["current"] and (found := customer_text(r["type"], r["payload"])) is not None
    ]
    if texts:
        await text.store(session, text.analyse(analyser, texts))
        whose = await customers.survivors(session, sorted({t.customer_id for t in texts}))
        await indicators.rebuild(session, sorted(whose), settings, clock)
    last = rows[-1] if len(rows) == limit else None
    return len(texts), None if last is None else (
        last["customer_id"],
        last["occurred_at"],
        last["id"],
    )


async def reanalyse(
    database: Database,
    since: datetime | None,
    settings: Settings,
    clock: Clock,
    batch: int = REANALYSIS_BATCH,
) -> tuple[str, int]:
    """Analyse again, with the stored rules, every event (occurred since ``since``) whose
    analysis is missing or of another version, ``batch`` events per transaction: short
    transactions beside ingestion, which analyses its own events with the current rules.
    Answers the analyser's version and how many were analysed."""
    async with database.sessionmaker() as session, session.begin():
        analyser = await text.stored_analyser(session)
    done, after = 0, None
    while True:
        async with database.sessionmaker() as session, session.begin():
            count, after = await reanalyse_batch(
                session, analyser, since, after, settings, clock, batch
            )
        done += count
        if after is None:
            return analyser.version, done
