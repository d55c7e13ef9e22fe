"""Appending to and reading the timeline; merges, preferences and consents as events."""

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.service import still_active
from app.core.clock import Clock
from app.core.config import Settings
from app.core.db import Executor, new_id
from app.core.errors import (
    EXAMPLE_ID,
    Conflict,
    ProblemError,
    ValidationFailed,
    field_errors,
    invalid_field,
)
from app.core.pagination import InvalidCursor, cursor_id, decode_cursor, encode_cursor
from app.core.security import Principal
from app.customers import service as customers
from app.customers.identifiers import IdentifierKind, normalize_identifier
from app.customers.schemas import ConsentIn, ConsentOut, Preferences
from app.indicators import service as indicators
from app.timeline.catalog import SYSTEM_TYPES, Channel, event_type
from app.timeline.models import CustomerMerge, Event
from app.timeline.payloads import CorrectionPayload
from app.timeline.repository import EventRow, TimelineQuery, TimelineRepository, recent_rows
from app.timeline.schemas import (
    BulkLineResult,
    CustomerRefIn,
    EventIn,
    EventOut,
    EventRef,
    FieldConflict,
    IdentifiedEventIn,
    MergeOutcome,
    TimelinePage,
    UnmergeOutcome,
)
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
# A live stream resumed with Last-Event-ID replays what was recorded this long before the
# last event it saw: appends commit out of id order, so a plain "id > last" would skip some.
RESUME_WINDOW = timedelta(seconds=30)


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
    return (label + detail)[:280]


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
    try:
        payload_model = entry.payload.model_validate(data.payload)
    except ValidationError as exc:
        errors = field_errors(
            {**e, "loc": (*prefix.split("."), "payload", *e["loc"])}
            for e in exc.errors(include_url=False)
        )
        raise ValidationFailed(
            "; ".join(f"{e['field']}: {e['reason']}" for e in errors), extra={"errors": errors}
        ) from None
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


async def append(
    session: AsyncSession,
    customer_id: UUID,
    new: NewEvent,
    key: tuple[str, str] | None,
    writer: Principal | None,
    clock: Clock,
) -> tuple[EventOut, bool]:
    """Append one event; with a key already used, answer the original (or 409 if it differs)."""
    repo = TimelineRepository(session)
    await _check_correction(session, customer_id, new, "body")
    row = new.row(customer_id)
    if key is not None:
        fingerprint = new.fingerprint(customer_id if is_header_scope(key[0]) else None)
        if not await repo.claim_key(*key, row.id, fingerprint):
            return await _original(session, key, fingerprint, writer), False
    recorded_at = await repo.insert(row)
    await indicators.record(session, [(customer_id, row.fact())], clock)
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


async def _original(
    session: AsyncSession, key: tuple[str, str], fingerprint: str, writer: Principal | None
) -> EventOut:
    """The event a taken key names, for a retry of the same body; a 409 for another body.

    A key can only be taken in the writer's own namespace, but the customer of its event
    may have been handed to another owner since: then the answer is the 409, naming
    nothing, whatever the body, so that it tells the key nothing it cannot see."""
    repo = TimelineRepository(session)
    found = await repo.find_key(*key)
    assert found is not None, "a key that cannot be claimed exists"
    event_id, stored = found
    original = await repo.get(event_id)
    assert original is not None
    if writer is not None and not await customers.visible_ids(
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
    clock: Clock,
) -> tuple[EventOut, bool]:
    """POST /customers/{id}/events: an append to a merged customer lands on its survivor."""
    target = await customers.writable_target(session, customer_id, principal)
    new = prepare_event(data, principal)
    return await append(
        session, target, new, idempotency_key(new, header_key, principal), principal, clock
    )


def customer_ref(
    ref: CustomerRefIn, settings: Settings, prefix: str
) -> tuple[UUID | None, list[tuple[str, str]], str | None]:
    """Normalise a customer reference; a malformed identifier is a 422 naming it."""
    identifiers: list[tuple[str, str]] = []
    for field, kind, raw in (
        ("external_id", IdentifierKind.EXTERNAL, ref.external_id),
        ("email", IdentifierKind.EMAIL, ref.email),
        ("phone", IdentifierKind.PHONE, ref.phone),
    ):
        if raw is not None:
            try:
                identifiers.append(
                    (kind.value, normalize_identifier(kind, raw, settings.default_region))
                )
            except ValueError as exc:
                raise invalid_field(f"{prefix}.customer.{field}", str(exc)) from None
    return ref.id, identifiers, ref.display_name


async def _resolve(
    session: AsyncSession,
    refs: Sequence[CustomerRef],
    event_refs: Sequence[EventRef | None],
    principal: Principal,
    label: str,
) -> list[tuple[UUID, bool] | ProblemError]:
    """Resolve references; one that names only an earlier event takes that event's customer.

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
    found = await TimelineRepository(session).find_keys(list(wanted))
    holders = [hit[2] for hit in found.values() if hit[2] is not None]
    visible = await customers.visible_ids(session, holders, principal)
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
            explicit.append((await customers.survivor_id(session, holder), [], None))
    resolved = await customers.resolve_customers(
        session, [r for i, r in enumerate(explicit) if i not in missing], principal
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
) -> tuple[EventOut, bool]:
    """POST /events: resolve (or create, unverified) the customer named in the body, then append."""
    ref = customer_ref(data.customer, settings, "body")
    new = prepare_event(data, principal)
    resolved = (await _resolve(session, [ref], [data.customer.event], principal, "body"))[0]
    if isinstance(resolved, ProblemError):
        raise resolved
    customer_id = await customers.survivor_id(session, resolved[0])
    return await append(
        session, customer_id, new, idempotency_key(new, header_key, principal), principal, clock
    )


async def append_system_event(
    session: AsyncSession,
    customer_id: UUID,
    type_name: str,
    payload: dict[str, Any],
    summary: str,
    actor: str | None,
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
    event, _ = await append(session, customer_id, prepare_event(data, None), None, None, clock)
    return event


# The error type of an event whose customer is named by an earlier event that its source
# has not delivered yet (a refund before its order): retried when that event arrives.
NOT_RECORDED_YET = "event_not_recorded_yet"


@dataclass(slots=True)
class Pending:
    """A validated event waiting for its customer: ``position`` is its 1-based line number."""

    position: int
    new: NewEvent
    ref: CustomerRef
    event_ref: EventRef | None = None


def _error(position: int, field: str, reason: str, type_: str) -> BulkLineResult:
    return BulkLineResult(
        line=position, status="error", errors=[{"field": field, "reason": reason, "type": type_}]
    )


async def store_events(
    session: AsyncSession,
    pending: Sequence[Pending],
    principal: Principal,
    clock: Clock,
    *,
    label: str,
    delivery_id: UUID | None = None,
) -> list[BulkLineResult]:
    """Resolve the customers of many events and store them in a few statements.

    Events whose key (source + source_event_id) is already taken, in the database or
    earlier in the same batch, are reported as duplicates and stored once; a duplicate
    whose event is on a customer the caller cannot see names neither.
    """
    repo = TimelineRepository(session)
    results: dict[int, BulkLineResult] = {}
    resolved = await _resolve(
        session, [p.ref for p in pending], [p.event_ref for p in pending], principal, label
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

    claimed = await repo.claim_keys([(*key, row.id, fp) for _, row, key, fp in ready if key])
    taken: set[tuple[str, str]] = set()
    to_insert: list[EventRow] = []
    duplicates: list[tuple[int, tuple[str, str]]] = []
    for item, row, key, _ in ready:
        if key is not None and (key not in claimed or key in taken):
            duplicates.append((item.position, key))
            continue
        if key is not None:
            taken.add(key)
        to_insert.append(row)
        results[item.position] = BulkLineResult(
            line=item.position, status="created", event_id=row.id, customer_id=row.customer_id
        )
    existing = await repo.find_keys(list({key for _, key in duplicates}))
    holders = [found[2] for found in existing.values() if found[2] is not None]
    visible = await customers.visible_ids(session, holders, principal)
    for position, key in duplicates:
        event_id, _, customer_id = existing[key]
        hidden = customer_id is not None and customer_id not in visible  # None: this batch's
        results[position] = (
            BulkLineResult(line=position, status="duplicate")
            if hidden
            else BulkLineResult(
                line=position, status="duplicate", event_id=event_id, customer_id=customer_id
            )
        )
    await repo.insert_many(to_insert)
    await indicators.record(session, [(row.customer_id, row.fact()) for row in to_insert], clock)
    return [results[p.position] for p in pending]


async def import_bulk(
    session: AsyncSession,
    lines: Sequence[bytes],
    principal: Principal,
    settings: Settings,
    clock: Clock,
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
            errors = field_errors(
                {**e, "loc": ("line", number, *e["loc"])} for e in exc.errors(include_url=False)
            )
            rejected[number] = BulkLineResult(line=number, status="error", errors=errors)
        except ValidationFailed as exc:
            rejected[number] = BulkLineResult(
                line=number, status="error", errors=exc.extra["errors"]
            )
    stored = await store_events(session, pending, principal, clock, label="line")
    merged = {r.line: r for r in stored} | rejected
    return [merged[n] for n in sorted(merged)]


async def timeline_page(
    session: AsyncSession,
    family: list[UUID],
    *,
    types: Sequence[str],
    channels: Sequence[str],
    since: datetime | None,
    until: datetime | None,
    limit: int,
    cursor: str | None,
) -> TimelinePage:
    """One page of a merge family's history (``customers.readable_family``), newest first."""
    exact = [t for t in types if not t.endswith("*")]
    prefixes = [t.rstrip("*") for t in types if t.endswith("*")]
    after = None
    if cursor:
        try:
            moment = datetime.fromisoformat(str(decode_cursor(cursor)["t"]))
        except (KeyError, ValueError):
            raise InvalidCursor("The cursor is not one this service issued.") from None
        if moment.tzinfo is None or not _storable(moment):
            raise InvalidCursor("The cursor is not one this service issued.")
        position = cursor_id(cursor, "id")
        assert position is not None
        after = (moment, position)
    query = TimelineQuery(family, exact, prefixes, channels, since, until)
    rows = await TimelineRepository(session).page(query, limit=limit + 1, after=after)
    page = rows[:limit]
    next_cursor = None
    if len(rows) > limit:
        last = page[-1]
        next_cursor = encode_cursor({"t": last["occurred_at"].isoformat(), "id": str(last["id"])})
    return TimelinePage(
        items=[EventOut.model_validate(dict(r)) for r in page], next_cursor=next_cursor
    )


def _storable(moment: datetime) -> bool:
    """Whether an aware time converts to UTC within Python's years (as timestamptz keeps it)."""
    try:
        moment.astimezone(UTC)
    except OverflowError:
        return False
    return True


_LIKE_SPECIALS = str.maketrans({"\\": "\\\\", "%": "\\%", "_": "\\_"})


def _like(type_: str) -> str:
    """A type as a LIKE pattern: ``call.*`` every call type, else exactly that type."""
    if type_.endswith("*"):
        return type_[:-1].translate(_LIKE_SPECIALS) + "%"
    return type_.translate(_LIKE_SPECIALS)


async def recent_events(
    on: Executor, customer_id: UUID, wanted: Sequence[tuple[Sequence[str], bool, int]]
) -> list[list[dict[str, Any]]]:
    """For each of ``wanted`` (types, exact or ``prefix.*``, none for any; pinned notes
    only; how many), the newest events of an already-authorised customer and everyone
    merged into it: one query for all of a ficha's event sections."""
    patterns = [([_like(t) for t in types], pinned, n) for types, pinned, n in wanted]
    rows = await recent_rows(on, customer_id, patterns)
    found: list[list[dict[str, Any]]] = [[] for _ in wanted]
    for r in rows:
        found[r["n"] - 1].append(
            {
                "id": str(r["id"]),
                "type": r["type"],
                "occurred_at": r["occurred_at"].isoformat(),
                "channel": r["channel"],
                "direction": r["direction"],
                "summary": r["summary"],
                "actor": r["actor"],
            }
        )
    return found


@dataclass(frozen=True, slots=True)
class StreamView:
    """What a live stream shows: its customer's status and merge family."""

    status: str
    family: frozenset[UUID]


async def stream_view(
    session: AsyncSession, customer_id: UUID, principal: Principal
) -> StreamView | None:
    """What a stream on the customer would show its key now; None once the key is revoked
    or the customer is out of its sight. A stream whose view changes is closed: the client
    reconnects and is answered afresh (a new stream, a 308 to the survivor, or a 404)."""
    if not await still_active(session, principal):
        return None
    try:
        customer, family = await customers.readable_family(session, customer_id, principal)
    except customers.CustomerNotFound:
        return None
    return StreamView(customer.status, frozenset(family))


async def events_for_stream(session: AsyncSession, event_ids: Sequence[UUID]) -> list[EventOut]:
    return [
        event_out(e)
        for e in sorted(await TimelineRepository(session).get_many(event_ids), key=lambda e: e.id)
    ]


async def replay_after(
    session: AsyncSession, customer_ids: Sequence[UUID], last_event_id: UUID
) -> list[EventOut]:
    """Events a resuming stream may have missed (at least once: the client dedupes by id).

    The resume point counts only on the stream's own timeline: another customer's event
    replays nothing, as an id never recorded does, so that the answer tells no key that
    an event exists elsewhere, nor when it was recorded."""
    repo = TimelineRepository(session)
    last = await repo.get(last_event_id)
    if last is None or last.customer_id not in customer_ids:
        return []
    events = await repo.recorded_since(customer_ids, last.recorded_at - RESUME_WINDOW)
    return [event_out(e) for e in events if e.id != last.id]


async def merge(
    session: AsyncSession,
    survivor_id: UUID,
    absorbed_id: UUID,
    dry_run: bool,
    principal: Principal,
    clock: Clock,
) -> MergeOutcome:
    """Merge a duplicate into a survivor (or preview it): identifiers move, histories join."""
    target, source, identifiers, conflicts = await customers.merge_preview(
        session, survivor_id, absorbed_id, principal
    )
    repo = TimelineRepository(session)
    family = await customers.family(session, source.id)
    outcome = MergeOutcome(
        dry_run=dry_run,
        survivor_id=target.id,
        absorbed_id=source.id,
        merge_id=None,
        identifiers=identifiers,
        events_by_type=await repo.count_by_type(family),
        conflicting_fields=[FieldConflict.model_validate(c) for c in conflicts],
    )
    if dry_run:
        return outcome
    absorbed_owner = source.owner_id
    moved = await customers.absorb(session, target, source)
    record = await repo.add_merge(
        CustomerMerge(
            survivor_id=target.id,
            absorbed_id=source.id,
            identifier_ids=moved,
            actor=principal.agent_id,
            absorbed_owner_id=absorbed_owner,
        )
    )
    payload = {
        "survivor_id": str(target.id),
        "absorbed_id": str(source.id),
        "identifiers_moved": len(moved),
    }
    await append_system_event(
        session,
        target.id,
        "customer.merged",
        payload,
        f"Merged {source.display_name} into this customer",
        principal.agent_id,
        clock,
    )
    await append_system_event(
        session,
        source.id,
        "customer.merged",
        payload,
        f"Merged into {target.display_name}",
        principal.agent_id,
        clock,
    )
    await indicators.rebuild(session, [target.id], clock)
    outcome.merge_id = record.id
    return outcome


async def unmerge(
    session: AsyncSession,
    survivor_id: UUID,
    absorbed_id: UUID,
    principal: Principal,
    clock: Clock,
) -> UnmergeOutcome:
    """Undo a merge: the absorbed customer returns with exactly its identifiers and events."""
    repo = TimelineRepository(session)
    # Who may see both comes first: the merge record is not looked at for anyone else.
    target, source = await customers.lock_pair(session, survivor_id, absorbed_id, principal)
    record = await repo.open_merge(survivor_id, absorbed_id)
    if record is None:  # both exist and are seen: it is the state that refuses, a conflict
        raise NotMerged(f"Customer {absorbed_id} is not merged into {survivor_id}.")
    restored = await customers.restore(
        session, target, source, record.identifier_ids, record.absorbed_owner_id
    )
    record.unmerged_at = func.now()  # when the split was stored, as merged_at: a record
    payload = {
        "survivor_id": str(target.id),
        "absorbed_id": str(source.id),
        "identifiers_moved": restored,
    }
    await append_system_event(
        session,
        target.id,
        "customer.unmerged",
        payload,
        f"Split {source.display_name} back out",
        principal.agent_id,
        clock,
    )
    await append_system_event(
        session,
        source.id,
        "customer.unmerged",
        payload,
        f"Split back out of {target.display_name}",
        principal.agent_id,
        clock,
    )
    await indicators.rebuild(session, [target.id, source.id], clock)
    return UnmergeOutcome(
        survivor_id=target.id, restored_id=source.id, identifiers_restored=restored
    )


async def set_preferences(
    session: AsyncSession,
    customer_id: UUID,
    data: Preferences,
    if_match: str | None,
    principal: Principal,
    clock: Clock,
) -> tuple[Preferences, int]:
    """Replace preferences and record preference.updated on the timeline."""
    preferences, version = await customers.set_preferences(
        session, customer_id, data, if_match, principal
    )
    await append_system_event(
        session,
        customer_id,
        "preference.updated",
        {"preferences": preferences.model_dump(mode="json", by_alias=True)},
        "Contact preferences updated",
        principal.agent_id,
        clock,
    )
    return preferences, version


async def record_consent(
    session: AsyncSession, customer_id: UUID, data: ConsentIn, principal: Principal, clock: Clock
) -> ConsentOut:
    """Record a consent decision and its consent.granted / consent.withdrawn event."""
    consent = await customers.record_consent(session, customer_id, data, principal)
    verb = "granted" if data.granted else "withdrawn"
    await append_system_event(
        session,
        customer_id,
        f"consent.{verb}",
        {
            "channel": data.channel.value,
            "purpose": data.purpose.value,
            "source": data.source,
            "evidence": data.evidence,
        },
        f"Consent {verb}: {data.purpose.value} by {data.channel.value}",
        principal.agent_id,
        clock,
    )
    return consent
