"""Text analysis put to work: the rules the service analyses with (stored, edited by an
admin, compiled once per process and dropped when a change is notified), the analyses
stored beside events, and their erasure."""

import asyncio
import weakref
from collections.abc import Mapping, Sequence
from contextvars import Context
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import Executor
from app.core.errors import invalid_field
from app.core.notify import NotifiedCache
from app.text import queries
from app.text.analyser import TextAnalyser
from app.text.repository import RulesRepository
from app.text.rules import TextRules, default_rules, load_rules
from app.text.schemas import TextAnalysis

# Compiled analysers by the digest of their document: compiling takes about 20 ms, so a
# process that cannot keep a copy (no LISTEN yet) still compiles each document once.
_COMPILED: dict[str, TextAnalyser] = {}
_COMPILED_KEPT = 4


def _compiled(digest: str, document: Mapping[str, Any]) -> TextAnalyser:
    if digest not in _COMPILED:
        if len(_COMPILED) >= _COMPILED_KEPT:
            _COMPILED.pop(next(iter(_COMPILED)))
        _COMPILED[digest] = TextAnalyser(load_rules(dict(document), stored=True))
    return _COMPILED[digest]


async def stored_analyser(on: Executor) -> TextAnalyser:
    """The analyser of the stored rules (those shipped with the code when none is stored)."""
    digest = await queries.rules_digest(on)
    if digest is None:
        return default_analyser()
    if digest in _COMPILED:
        return _COMPILED[digest]
    found = await queries.rules_document(on)
    if found is None:  # deleted meanwhile
        return default_analyser()
    return _compiled(*found)


def default_analyser() -> TextAnalyser:
    """The analyser of the rules that ship with the code."""
    rules = default_rules()
    return _compiled(f"default:{rules.version}", rules.model_dump(mode="json"))


class RulesCache(NotifiedCache[str, TextAnalyser]):
    """The analyser of the stored rules, compiled once and kept until a change is notified
    (a trigger on ``text_rules``); the process's texts analysed with it in batches."""

    def __init__(self, database_url: str | None) -> None:
        super().__init__(database_url, queries.NOTIFY_CHANNEL)
        self._batches = AnalysisBatches()

    async def analyser(self, on: Executor) -> TextAnalyser:
        found = await self.get("rules", lambda: stored_analyser(on))
        assert found is not None, "an analyser is always found"
        return found

    async def analyse(self, on: Executor, texts: Sequence["CustomerText"]) -> list[dict[str, Any]]:
        """``analyse`` with the stored rules, together with the texts other requests of
        the process bring at the same time (``AnalysisBatches``)."""
        return await self._batches.analyse(await self.analyser(on), texts)


async def text_rules(request: Request) -> RulesCache:
    """The app's rules cache (``app.state.text_rules``); a coroutine, as ``app_settings``."""
    rules: RulesCache = request.app.state.text_rules
    return rules


TextRulesDep = Annotated[RulesCache, Depends(text_rules)]


# --- stored analyses --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CustomerText:
    """An event's customer text, to analyse and store beside it."""

    customer_id: UUID
    occurred_at: datetime
    event_id: UUID
    text: str


def columns(analysis: TextAnalysis) -> dict[str, Any]:
    """An analysis as stored (``text_analyses``), less the event it is of."""
    return {
        "analyser_version": analysis.analyser_version,
        "language": analysis.language,
        "sentiment": analysis.sentiment.label,
        "score": analysis.sentiment.score,
        "urgency": analysis.urgency.level,
        "reasons": sorted({r.reason.value for r in analysis.urgency.reasons}),
        "intents": [i.intent.value for i in analysis.intents],
        "abusive": analysis.abusive.detected,
        "terms": {
            "sentiment": analysis.sentiment.terms,
            "urgency": [r.model_dump(mode="json") for r in analysis.urgency.reasons],
            "intents": {i.intent.value: i.terms for i in analysis.intents},
            "abusive": analysis.abusive.terms,
        },
    }


def finding(row: Mapping[str, Any]) -> dict[str, Any]:
    """What the indicators keep of a stored analysis (a row of ``text_analyses``, or one
    about to be): labels and scores, and the words that matched unless erased."""
    return {
        "language": row["language"],
        "sentiment": row["sentiment"],
        "score": round(float(row["score"]), 3),
        "urgency": row["urgency"],
        "reasons": list(row["reasons"]),
        "intents": list(row["intents"]),
        "abusive": row["abusive"],
        "terms": row["terms"],
    }


def analyse(analyser: TextAnalyser, texts: Sequence[CustomerText]) -> list[dict[str, Any]]:
    """Analyse events' texts: each analysis as stored beside its event (``finding`` reads
    what the indicators keep of one)."""
    return [
        {
            "customer_id": item.customer_id,
            "occurred_at": item.occurred_at,
            "event_id": item.event_id,
            **columns(analyser.analyse(item.text)),
        }
        for item in texts
    ]


# How many turns of the event loop a request's texts wait for other requests' before they
# are analysed together. Texts analysed one after another keep the analyser's code and
# tables in the processor's caches; one text analysed between the rest of a delivery's
# work cost the worker about twice as much (docs/performance.md, "Texts analysed
# together"). Idle, a turn is a few microseconds; busy, a turn serves many requests, and
# the batch grows with the load.
BATCH_TURNS = 16

# One request's hand-in: the analyser, its texts and what it awaits.
_HandedIn = tuple[TextAnalyser, Sequence[CustomerText], asyncio.Future[list[dict[str, Any]]]]


class AnalysisBatches:
    """The texts that concurrent requests hand in within ``turns`` turns of the event loop,
    analysed one after another; each request gets its own texts' analyses (or the error
    that analysing them raised) and nothing of another's. One batch open per event loop."""

    def __init__(self, turns: int = BATCH_TURNS) -> None:
        self._turns = turns
        self._open: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, list[_HandedIn]] = (
            weakref.WeakKeyDictionary()
        )

    async def analyse(
        self, analyser: TextAnalyser, texts: Sequence[CustomerText]
    ) -> list[dict[str, Any]]:
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[list[dict[str, Any]]] = loop.create_future()
        batch = self._open.get(loop)
        if batch is None:
            for closed in [other for other in self._open if other.is_closed()]:
                del self._open[closed]  # its batch's futures would keep it alive
            batch = self._open[loop] = []
            # Run in a context of its own, not the first request's (its log fields).
            loop.call_soon(self._after, loop, batch, self._turns - 1, context=Context())
        batch.append((analyser, texts, answer))
        return await answer

    def _after(self, loop: asyncio.AbstractEventLoop, batch: list[_HandedIn], turns: int) -> None:
        if turns > 0:
            loop.call_soon(self._after, loop, batch, turns - 1, context=Context())
            return
        del self._open[loop]  # a request handed in from now on opens the next batch
        interrupted: BaseException | None = None
        for analyser, texts, answer in batch:
            if answer.done():  # its request was cancelled while it waited
                continue
            try:
                answer.set_result(analyse(analyser, texts))
            except BaseException as error:  # the request that brought the text fails, no other
                if isinstance(error, Exception) and not isinstance(error, StopIteration):
                    answer.set_exception(error)
                    continue
                # What a future cannot hold (StopIteration) or should not (an interrupt):
                # this request fails, every other is still answered, then an interrupt
                # goes on up.
                failure = RuntimeError(f"the analysis raised {type(error).__name__}")
                failure.__cause__ = error
                answer.set_exception(failure)
                if not isinstance(error, Exception):
                    interrupted = interrupted or error
        if interrupted is not None:
            raise interrupted


async def store(on: Executor, analyses: Sequence[dict[str, Any]]) -> None:
    """Store analyses beside their events (replacing an older one, unless erased)."""
    await queries.store(on, analyses)


# --- the admin's rules ------------------------------------------------------------------


async def stored_rules(session: AsyncSession) -> TextRules:
    """The rules the service analyses with."""
    stored = await RulesRepository(session).get()
    return default_rules() if stored is None else load_rules(stored.document, stored=True)


async def put_rules(session: AsyncSession, rules: TextRules) -> TextRules:
    """Store a rules document. One that changes the rules must change their ``version``
    too: stored analyses are told apart by it."""
    current = await stored_rules(session)
    changed = rules.model_dump(mode="json") != current.model_dump(mode="json")
    if changed and rules.version == current.version:
        raise invalid_field(
            "body.version",
            f"the rules changed but their version is still {current.version!r}: give them a "
            "new version, so that analyses made with the old rules can be told apart",
        )
    await RulesRepository(session).put(rules.model_dump(mode="json"))
    return rules
