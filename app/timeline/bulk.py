"""Many events at once: a bulk NDJSON import, and the events of a webhook delivery.

Each line or event is validated on its own; their customers are resolved and their keys
claimed in a few statements for the whole batch, so one bad line never rejects the others.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.clock import Clock
from app.core.config import Settings
from app.core.db import Along, Executor
from app.core.errors import ProblemError, ValidationFailed, invalid_fields
from app.core.security import Principal
from app.customers import resolution
from app.indicators import queries as stats_queries
from app.indicators import service as indicators
from app.indicators.state import Fact
from app.text.service import RulesCache
from app.timeline import queries, texts
from app.timeline.queries import EventRow
from app.timeline.schemas import BulkLineResult, EventRef, IdentifiedEventIn
from app.timeline.service import (
    NOT_RECORDED_YET,
    CustomerRef,
    NewEvent,
    customer_ref,
    idempotency_key,
    prepare_event,
    resolve_refs,
)


@dataclass(slots=True)
class Pending:
    """A validated event waiting for its customer: ``position`` is its 1-based line number."""

    position: int
    new: NewEvent
    ref: CustomerRef
    event_ref: EventRef | None = None


@dataclass(slots=True)
class Stored:
    """What a batch's store did, line by line, and the fold it leaves to do (``fold``):
    its customers' stats rows, locked, with the policies and the incidents, and the facts
    of the events stored."""

    results: list[BulkLineResult]
    locked: stats_queries.Locked
    facts: list[tuple[UUID, Fact]]


def _error(position: int, field: str, reason: str, type_: str) -> BulkLineResult:
    return BulkLineResult(
        line=position, status="error", errors=[{"field": field, "reason": reason, "type": type_}]
    )


async def store_events(
    on: Executor,
    pending: Sequence[Pending],
    principal: Principal,
    rules: RulesCache,
    *,
    label: str,
    delivery_id: UUID | None = None,
    held_by: Mapping[tuple[str, str], UUID] | None = None,
) -> Stored:
    """Resolve the customers of many events and store them in a few statements; ``fold``
    then folds them into their customers' stats, in the same transaction.

    Events whose key (source + source_event_id) is already taken, in the database or
    earlier in the same batch, are reported as duplicates and stored once; a duplicate
    whose event is on a customer the caller cannot see names neither. ``held_by``: the
    customers holding the events' identifiers, when the caller looked them up already.
    """
    results: dict[int, BulkLineResult] = {}
    resolved = await resolve_refs(
        on, [p.ref for p in pending], [p.event_ref for p in pending], principal, label, held_by
    )
    ready: list[tuple[Pending, EventRow, tuple[str, str] | None, str]] = []
    for item, outcome in zip(pending, resolved, strict=True):
        where = f"{label}.{item.position}"
        if isinstance(outcome, ProblemError):
            named = outcome.extra.get("errors") or [{}]
            kind = NOT_RECORDED_YET if named[0].get("type") == NOT_RECORDED_YET else "customer"
            results[item.position] = _error(
                item.position, f"{where}.customer", outcome.detail or "", kind
            )
        elif item.new.corrects_id is not None:
            results[item.position] = _error(
                item.position, f"{where}.type", "append corrections one at a time", "value_error"
            )
        else:
            row = item.new.row(outcome[0], delivery_id=delivery_id)
            key = idempotency_key(item.new, None, principal)
            ready.append((item, row, key, item.new.fingerprint(None)))

    analyses = await texts.analyses(on, rules, [row for _, row, _, _ in ready])
    stored, locked = await queries.store(
        on, [(row, key, fp) for _, row, key, fp in ready], analyses
    )
    to_insert: list[EventRow] = []
    duplicates: list[tuple[int, tuple[str, str]]] = []
    for item, row, key, _ in ready:
        if row.id not in stored:  # its key was taken, in the database or by an earlier line
            assert key is not None
            duplicates.append((item.position, key))
            continue
        to_insert.append(row)
        results[item.position] = BulkLineResult(
            line=item.position, status="created", event_id=row.id, customer_id=row.customer_id
        )
    existing = await queries.find_keys(on, list({key for _, key in duplicates}))
    holders = [found[2] for found in existing.values() if found[2] is not None]
    visible = await resolution.visible_ids(on, holders, principal)
    for position, key in duplicates:
        event_id, _, customer_id = existing[key]
        hidden = customer_id is not None and customer_id not in visible  # None: no event left
        results[position] = (
            BulkLineResult(line=position, status="duplicate")
            if hidden
            else BulkLineResult(
                line=position, status="duplicate", event_id=event_id, customer_id=customer_id
            )
        )
    kept = [found for found in analyses if found["event_id"] in stored]
    return Stored([results[p.position] for p in pending], locked, texts.facts(to_insert, kept))


async def fold(
    on: Executor,
    stored: Stored,
    settings: Settings,
    clock: Clock,
    along: Along | None = None,
) -> list[Any]:
    """Fold the events a batch stored into their customers' stats; ``along`` goes in the
    round trip that saves them, and its rows are the answer."""
    return await indicators.record_locked(on, stored.locked, stored.facts, settings, clock, along)


async def import_bulk(
    session: AsyncSession,
    lines: Sequence[bytes],
    principal: Principal,
    settings: Settings,
    clock: Clock,
    rules: RulesCache,
) -> list[BulkLineResult]:
    """Validate, resolve and store many events at once; one bad line never rejects the others."""
    rejected: dict[int, BulkLineResult] = {}
    pending: list[Pending] = []
    for index, raw in enumerate(lines):
        number = index + 1
        try:
            data = IdentifiedEventIn.model_validate_json(raw)
            new = prepare_event(data, principal, f"line.{number}")
            ref = customer_ref(data.customer, settings, f"line.{number}")
            pending.append(Pending(number, new, ref, data.customer.event))
        except ValidationError as exc:
            errors = invalid_fields(exc, "line", number).extra["errors"]
            rejected[number] = BulkLineResult(line=number, status="error", errors=errors)
        except ValidationFailed as exc:
            rejected[number] = BulkLineResult(
                line=number, status="error", errors=exc.extra["errors"]
            )
    stored = await store_events(session, pending, principal, rules, label="line")
    await fold(session, stored, settings, clock)
    merged = {r.line: r for r in stored.results} | rejected
    return [merged[n] for n in sorted(merged)]
