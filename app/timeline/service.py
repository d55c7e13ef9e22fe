"""Appending to the timeline: an event validated against the catalog, its customer
resolved, its idempotency key claimed, stored and folded into the indicators at once."""

import asyncio
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field, ValidationError
from pydantic_core import ErrorDetails
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.clock import Clock
from app.core.config import Settings
from app.core.db import Executor, new_id
from app.core.errors import (
    EXAMPLE_ID,
    Conflict,
    ProblemError,
    ServiceUnavailable,
    invalid_errors,
    invalid_field,
    invalid_fields,
)
from app.core.security import Principal
from app.customers import resolution
from app.customers import service as customers
from app.customers.identifiers import normalize_given
from app.indicators import service as indicators
from app.text.service import RulesCache
from app.timeline import queries, texts
from app.timeline.catalog import SYSTEM_TYPES, Channel, event_type
from app.timeline.models import Event
from app.timeline.payloads import CorrectionPayload
from app.timeline.queries import EventRow
from app.timeline.repository import TimelineRepository
from app.timeline.schemas import CustomerRefIn, EventIn, EventOut, EventRef, IdentifiedEventIn
from app.timeline.sources import (
    SERVICE_SOURCE,
    check_source,
    header_scope,
    is_header_scope,
    reference_scopes,
    source_scope,
)

# A normalised customer reference: explicit id, identifiers (kind, value), name for a new one.
CustomerRef = tuple[UUID | None, list[tuple[str, str]], str | None]


class IdempotencyConflictFields(BaseModel):
    event_id: UUID | None = Field(
        default=None, description="The event the key names; absent when the key may not see it"
    )


class IdempotencyConflict(Conflict):
    """The event's key (`source` + `source_event_id`, or `Idempotency-Key`) names an event
    with another body."""

    code = "idempotency-key-reused"
    title = "Idempotency key reused"
    Extension = IdempotencyConflictFields
    example = (
        f"The key 'SO-1001' was used for a different event ({EXAMPLE_ID}).",
        {"event_id": EXAMPLE_ID},
    )


class NotMerged(Conflict):
    """The customer named is not merged into this one: there is no merge to undo."""

    code = "not-merged"
    title = "Not merged"
    example = (f"Customer {EXAMPLE_ID} is not merged into {EXAMPLE_ID}.", {})


@dataclass(slots=True)
class NewEvent:
    """A validated event, not yet tied to a customer."""

    type: str
    occurred_at: datetime
    channel: str
    direction: str | None
    source: str
    source_event_id: str | None
    actor: str | None
    summary: str
    payload: dict[str, Any]
    corrects_id: UUID | None

    def fingerprint(self, customer_id: UUID | None) -> str:
        """What makes two requests "the same body" for idempotency."""
        canonical = json.dumps(
            [
                str(customer_id),
                self.type,
                self.occurred_at.isoformat(),
                self.channel,
                self.direction,
                self.actor,
                self.summary,
                self.payload,
            ],
            separators=(",", ":"),
        )
        return hashlib.sha256(canonical.encode()).hexdigest()

    def row(self, customer_id: UUID, delivery_id: UUID | None = None) -> EventRow:
        return EventRow(
            id=new_id(),
            delivery_id=delivery_id,
            customer_id=customer_id,
            type=self.type,
            occurred_at=self.occurred_at,
            channel=self.channel,
            direction=self.direction,
            source=self.source,
            source_event_id=self.source_event_id,
            actor=self.actor,
            summary=self.summary,
            payload=self.payload,
            corrects_id=self.corrects_id,
        )


def _money(payload: dict[str, Any], field: str) -> str:
    amount, currency = payload.get(field), payload.get("currency")
    return f" {amount} {currency}" if amount is not None and currency else ""


def default_summary(type_name: str, payload: dict[str, Any]) -> str:
    """A one-line description for an event that came without one."""
    label = type_name.removeprefix("custom.").replace(".", " ").replace("_", " ").capitalize()
    return (label + summary_detail(type_name, payload))[:280]


def summary_detail(type_name: str, payload: dict[str, Any]) -> str:
    """What a default summary says after the event type's name (ids, amounts, scores, a
    subject: the same in every language)."""
    family = type_name.split(".")[0]
    detail = ""
    if family == "call" and payload.get("duration_s") is not None:
        detail = f", {payload['duration_s']} s"
    elif family == "email" and payload.get("subject"):
        detail = f": {payload['subject']}"
    elif family == "order":
        detail = f" {payload.get('order_id', '')}" + _money(payload, "total")
    elif family in {"payment", "invoice"}:
        detail = _money(payload, "amount")
    elif family == "ticket":
        detail = f" {payload.get('ticket_id', '')}" + (
            f": {payload['subject']}" if payload.get("subject") else ""
        )
    elif family == "survey":
        scores = [
            f"{k.upper()} {payload[k]}" for k in ("csat", "nps") if payload.get(k) is not None
        ]
        detail = ": " + ", ".join(scores)
    return detail


def nul_at(value: Any, where: str = "") -> str | None:
    """Where ``value`` holds a NUL character, which PostgreSQL text cannot store (a
    statement failing on it would undo the whole request: every line of an import, a
    delivery meant to be kept as failed); None if nowhere."""
    if isinstance(value, str):
        return (where or "value") if "\x00" in value else None
    items: Any
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list | tuple):
        items = enumerate(value)
    else:
        return None
    for key, item in items:
        inner = f"{where}.{key}" if where else str(key)
        found = nul_at(key, inner) if isinstance(key, str) else None
        found = found or nul_at(item, inner)
        if found is not None:
            return found
    return None


def prepare_event(data: EventIn, writer: Principal | None, prefix: str = "body") -> NewEvent:
    """Validate an event against the catalog and the names ``writer`` may use (None: the
    service itself, the only writer of system types); a 422 names each wrong field under
    ``prefix``."""
    entry = event_type(data.type)
    if entry is None:
        raise invalid_field(
            f"{prefix}.type", f"unknown event type '{data.type}'; see GET /v1/event-types"
        )
    if data.type in SYSTEM_TYPES and writer is not None:
        raise invalid_field(f"{prefix}.type", f"'{data.type}' is recorded by the service itself")
    check_source(data.source, writer, f"{prefix}.source")
    # JSON writes a NUL as \u0000: one search of the event's JSON, and a walk only then.
    if "\\u0000" in data.model_dump_json() and (where := nul_at(data.model_dump())):
        raise invalid_field(
            f"{prefix}.{where}", "text cannot contain the NUL character (U+0000)", "string_nul"
        )
    try:
        payload_model = entry.payload.model_validate(data.payload)
    except ValidationError as exc:
        raise invalid_fields(exc, *prefix.split("."), "payload") from None
    payload = payload_model.model_dump(mode="json", by_alias=True, exclude_none=True)
    corrects = (
        payload_model.corrects_event_id if isinstance(payload_model, CorrectionPayload) else None
    )
    return NewEvent(
        type=data.type,
        occurred_at=data.occurred_at.astimezone(UTC),
        channel=(data.channel or entry.channel).value,
        direction=data.direction.value if data.direction else None,
        source=data.source,
        source_event_id=data.source_event_id,
        actor=data.actor,
        summary=data.summary or default_summary(data.type, payload),
        payload=payload,
        corrects_id=corrects,
    )


def idempotency_key(
    new: NewEvent, header_key: str | None, principal: Principal
) -> tuple[str, str] | None:
    """(scope, key): the source's own event id, else the caller's Idempotency-Key header,
    each in the caller's own namespace (``app.timeline.sources``)."""
    if new.source_event_id is not None:
        return source_scope(new.source, principal), new.source_event_id
    if header_key:
        return header_scope(principal), header_key
    return None


def event_out(event: Event) -> EventOut:
    return EventOut(
        id=event.id,
        customer_id=event.customer_id,
        type=event.type,
        occurred_at=event.occurred_at,
        recorded_at=event.recorded_at,
        channel=Channel(event.channel),
        direction=event.direction,
        source=event.source,
        source_event_id=event.source_event_id,
        actor=event.actor,
        summary=event.summary,
        payload=event.payload,
    )


async def _check_correction(
    session: AsyncSession, customer_id: UUID, new: NewEvent, prefix: str
) -> None:
    if new.corrects_id is None:
        return
    original = await TimelineRepository(session).get(new.corrects_id)
    family = await customers.family(session, customer_id)
    if original is None or original.customer_id not in family:
        raise invalid_field(
            f"{prefix}.payload.corrects_event_id", "no such event on this customer's timeline"
        )
    if original.type == "event.corrected":
        raise invalid_field(f"{prefix}.payload.corrects_event_id", "correct the original event")
    fields = new.payload.get("payload")
    refused = refused_corrections(original.type, original.payload, fields or {})
    if refused:
        raise invalid_errors(refused, prefix, "payload", "payload")


def refused_corrections(
    type_: str, written: Mapping[str, Any], fields: Mapping[str, Any]
) -> list[ErrorDetails]:
    """What the original's type refuses of the fields a correction gives: each must be as
    the type takes that field (a total a decimal, a currency a code), and a field the type
    has; the indicators, the card and whoever reads the timeline read a corrected field as
    they read the original. Only the fields given are judged (an erased original, or the
    fields a card reads of it, may lack others)."""
    entry = event_type(type_)
    if entry is None or not fields:
        return []
    try:
        entry.payload.model_validate({**written, **fields})
    except ValidationError as error:
        return [
            e for e in error.errors(include_url=False) if e["loc"][:1] and e["loc"][0] in fields
        ]
    return []


async def append(
    session: AsyncSession,
    customer_id: UUID,
    new: NewEvent,
    key: tuple[str, str] | None,
    writer: Principal | None,
    settings: Settings,
    clock: Clock,
    rules: RulesCache | None,
) -> tuple[EventOut, bool]:
    """Append one event; with a key already used, answer the original (or 409 if it differs).
    Its customer text, if any, is analysed with ``rules`` (None: the service's own events,
    which carry none)."""
    await _check_correction(session, customer_id, new, "body")
    row = new.row(customer_id)
    if key is not None:
        fingerprint = new.fingerprint(customer_id if is_header_scope(key[0]) else None)
        if not await queries.claim_key(session, *key, row.id, fingerprint):
            return await _original(session, key, fingerprint, writer), False
    recorded_at = await queries.insert(session, row)
    facts = await texts.analysed_facts(session, rules, [row])
    await indicators.record(session, facts, settings, clock)
    return (
        EventOut(
            id=row.id,
            customer_id=customer_id,
            type=row.type,
            occurred_at=row.occurred_at,
            recorded_at=recorded_at,
            channel=Channel(row.channel),
            direction=row.direction,
            source=row.source,
            source_event_id=row.source_event_id,
            actor=row.actor,
            summary=row.summary,
            payload=row.payload,
        ),
        True,
    )


# Citus keeps a key and its event on different shards, and a reader can see a distributed
# commit on one before the other: the key of a concurrent identical append, a moment
# before its event (twenty at once on the cluster: one was a 500). Read again meanwhile.
_IN_FLIGHT_PAUSES = (0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.4)


async def _stored_event(session: AsyncSession, event_id: UUID) -> Event:
    """The event a taken key names, once its commit is seen; 503 if it is not in a second."""
    repository = TimelineRepository(session)
    for pause in (0, *_IN_FLIGHT_PAUSES):
        await asyncio.sleep(pause)
        original = await repository.get(event_id)
        if original is not None:
            return original
    raise ServiceUnavailable("The event of this key is still being stored; retry.", 1)


async def _original(
    session: AsyncSession, key: tuple[str, str], fingerprint: str, writer: Principal | None
) -> EventOut:
    """The event a taken key names, for a retry of the same body; a 409 for another body.

    A key can only be taken in the writer's own namespace, but the customer of its event
    may have been handed to another owner since: then the answer is the 409, naming
    nothing, whatever the body, so that it tells the key nothing it cannot see."""
    found = await queries.find_key(session, *key)
    if found is None:  # expired with its event (retention) since it could not be claimed
        raise ServiceUnavailable("The event of this key was just removed; retry.", 1)
    event_id, stored = found
    original = await _stored_event(session, event_id)
    if writer is not None and not await resolution.visible_ids(
        session, [original.customer_id], writer
    ):
        raise IdempotencyConflict(f"The key {key[1]!r} was used for a different event.")
    if stored != fingerprint:
        raise IdempotencyConflict(
            f"The key {key[1]!r} was used for a different event ({event_id}).",
            extra={"event_id": str(event_id)},
        )
    return event_out(original)


async def append_to_customer(
    session: AsyncSession,
    customer_id: UUID,
    data: EventIn,
    header_key: str | None,
    principal: Principal,
    settings: Settings,
    clock: Clock,
    rules: RulesCache,
) -> tuple[EventOut, bool]:
    """POST /customers/{id}/events: an append to a merged customer lands on its survivor."""
    target = await resolution.writable_target(session, customer_id, principal)
    new = prepare_event(data, principal)
    key = idempotency_key(new, header_key, principal)
    return await append(session, target, new, key, principal, settings, clock, rules)


def customer_ref(
    ref: CustomerRefIn, settings: Settings, prefix: str
) -> tuple[UUID | None, list[tuple[str, str]], str | None]:
    """Normalise a customer reference; a malformed identifier is a 422 naming it."""
    given = {"external_id": ref.external_id, "email": ref.email, "phone": ref.phone}
    identifiers = normalize_given(given, settings.default_region, f"{prefix}.customer")
    return ref.id, identifiers, ref.display_name


async def resolve_refs(
    on: Executor,
    refs: Sequence[CustomerRef],
    event_refs: Sequence[EventRef | None],
    principal: Principal,
    label: str,
    held_by: Mapping[tuple[str, str], UUID] | None = None,
) -> list[tuple[UUID, bool] | ProblemError]:
    """Resolve references; one that names only an earlier event takes that event's customer.
    ``held_by``: the customers holding the references' identifiers, looked up already.

    An event whose customer the caller cannot see is answered as one never recorded: the
    answer must not tell an owned-only key that another owner's customer has it."""

    def scoped(event: EventRef) -> list[tuple[str, str]]:
        return [
            (scope, event.source_event_id) for scope in reference_scopes(event.source, principal)
        ]

    wanted = {
        pair
        for r, e in zip(refs, event_refs, strict=True)
        if e and not (r[0] or r[1])
        for pair in scoped(e)
    }
    found = await queries.find_keys(on, list(wanted))
    holders = [hit[2] for hit in found.values() if hit[2] is not None]
    visible = await resolution.visible_ids(on, holders, principal)
    explicit: list[CustomerRef] = []
    missing: dict[int, ProblemError] = {}
    for index, (ref, event) in enumerate(zip(refs, event_refs, strict=True)):
        if event is None or ref[0] or ref[1]:
            explicit.append(ref)
            continue
        holder = next(
            (
                hit[2]
                for hit in (found.get(pair) for pair in scoped(event))
                if hit and hit[2] in visible
            ),
            None,
        )
        if holder is None:
            missing[index] = invalid_field(
                f"{label}.customer.event",
                f"no event {event.source_event_id!r} from {event.source} is recorded yet",
                NOT_RECORDED_YET,
            )
            explicit.append((None, [], None))
        else:
            explicit.append((await customers.survivor_id(on, holder), [], None))
    resolved = await resolution.resolve_customers(
        on, [r for i, r in enumerate(explicit) if i not in missing], principal, held_by
    )
    results: list[tuple[UUID, bool] | ProblemError] = []
    outcomes = iter(resolved)
    for index in range(len(explicit)):
        results.append(missing[index] if index in missing else next(outcomes))
    return results


async def append_identified(
    session: AsyncSession,
    data: IdentifiedEventIn,
    header_key: str | None,
    principal: Principal,
    settings: Settings,
    clock: Clock,
    rules: RulesCache,
) -> tuple[EventOut, bool]:
    """POST /events: resolve (or create, unverified) the customer named in the body, then append."""
    ref = customer_ref(data.customer, settings, "body")
    new = prepare_event(data, principal)
    resolved = (await resolve_refs(session, [ref], [data.customer.event], principal, "body"))[0]
    if isinstance(resolved, ProblemError):
        raise resolved
    customer_id = await customers.survivor_id(session, resolved[0])
    key = idempotency_key(new, header_key, principal)
    return await append(session, customer_id, new, key, principal, settings, clock, rules)


async def append_by_agent(
    session: AsyncSession,
    customer_id: UUID,
    type_name: str,
    payload: dict[str, Any],
    summary: str,
    occurred_at: datetime | None,
    header_key: str | None,
    principal: Principal,
    settings: Settings,
    clock: Clock,
    rules: RulesCache,
) -> tuple[EventOut, bool]:
    """An agent's own write (a note, a wrap-up) on a customer the key sees, its actor the
    key's agent; idempotent with the Idempotency-Key header."""
    data = EventIn(
        type=type_name,
        occurred_at=occurred_at or clock.now(),
        actor=principal.agent_id,
        summary=summary[:280],
        payload=payload,
    )
    return await append_to_customer(
        session, customer_id, data, header_key, principal, settings, clock, rules
    )


async def append_system_event(
    session: AsyncSession,
    customer_id: UUID,
    type_name: str,
    payload: dict[str, Any],
    summary: str,
    actor: str | None,
    settings: Settings,
    clock: Clock,
) -> EventOut:
    """Record a change the service itself made (merge, preference, consent...), as
    happening at the clock's now."""
    data = EventIn(
        type=type_name,
        occurred_at=clock.now(),
        channel=Channel.SYSTEM,
        source=SERVICE_SOURCE,
        actor=actor,
        summary=summary[:280],
        payload=payload,
    )
    new = prepare_event(data, None)
    event, _ = await append(session, customer_id, new, None, None, settings, clock, None)
    return event


# The error type of an event whose customer is named by an earlier event that its source
# has not delivered yet (a refund before its order): retried when that event arrives.
NOT_RECORDED_YET = "event_not_recorded_yet"
