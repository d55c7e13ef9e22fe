"""The ingestion pipeline: verify → store the raw delivery → normalise → resolve → append.

It all happens in the request's one transaction, so a 2xx means the delivery and its
events are committed, and a failure leaves nothing half-stored for the retry.
"""

import hashlib
import json
import re
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from uuid import UUID

import structlog
from prometheus_client import Counter
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.clock import Clock
from app.core.config import Settings
from app.core.db import Along, DriverUnit
from app.core.errors import (
    EXAMPLE_ID,
    Conflict,
    NotFound,
    PayloadTooLarge,
    Unauthorized,
    ValidationFailed,
)
from app.core.pagination import cursor_id, keyset_page
from app.core.security import Principal, Role
from app.customers import resolution
from app.customers import service as customers
from app.customers.identifiers import identifiers_in_text, readable_given
from app.ingest import queries
from app.ingest.adapters import ADAPTERS
from app.ingest.adapters.base import (
    Adapter,
    BoundExceeded,
    Delivery,
    PayloadError,
    SignatureError,
)
from app.ingest.models import WebhookDelivery
from app.ingest.repository import DeliveryRepository
from app.ingest.schemas import DeliveryOut, DeliveryPage, ReplayOutcome, WebhookReceipt
from app.messages import service as messages
from app.text.service import RulesCache
from app.timeline import bulk
from app.timeline import service as timeline
from app.timeline.schemas import EventRef, IdentifiedEventIn
from app.timeline.sources import reference_scopes, scope_source, source_scope

log = structlog.get_logger("app.ingest")

WEBHOOK_DELIVERIES = Counter(
    "webhook_deliveries_total",
    "Webhook deliveries by source and outcome",
    # accepted, ignored, duplicate, rejected_signature, rejected_bounds, failed
    ["source", "outcome"],
)


class SourceNotFound(NotFound):
    """No webhook source of this name, or one without secrets (disabled)."""

    code = "webhook-source-not-found"
    title = "Webhook source not found"
    example = ("No webhook source 'shopify' is configured.", {})


class InvalidSignature(Unauthorized):
    """The delivery does not carry a valid signature of its platform's scheme; nothing
    was stored."""

    code = "webhook-signature-invalid"
    title = "Invalid webhook signature"
    example = ("The shopify signature is not valid: no signature matches.", {})


class DeliveryPastBounds(PayloadTooLarge):
    """A delivery past what is read before its signature is checked (its size, its
    signature header's); nothing was stored."""

    code = "webhook-body-past-bounds"
    title = "Webhook delivery past bounds"
    example = ("Not read: the body exceeds 1048576 bytes.", {})


class DeliveryNotFound(NotFound):
    """No stored webhook delivery with this id."""

    code = "delivery-not-found"
    title = "Delivery not found"
    example = (f"Webhook delivery {EXAMPLE_ID} not found.", {})


class NoAdapter(Conflict):
    """The stored delivery's source has no adapter in this version: it cannot be replayed."""

    code = "no-adapter"
    title = "No adapter for the source"
    example = ("No adapter for source 'legacy' in this version.", {})


@dataclass(frozen=True, slots=True)
class Processed:
    status: str  # processed | ignored | failed
    created: int
    duplicates: int
    error: str | None
    awaits: tuple[str, str] | None = None  # the key of a named event not recorded yet
    created_keys: tuple[tuple[str, str], ...] = ()
    customers: frozenset[UUID] = frozenset()  # whose events it recorded


def _principal(source: str) -> Principal:
    """Webhook sources write as integrations; each has a stable identity of its own, and
    the namespace of event keys its name gives it (``app.timeline.sources``)."""
    return Principal(
        key_id=uuid.uuid5(uuid.NAMESPACE_URL, f"webhook:{source}"),
        role=Role.INTEGRATION,
        webhook_source=source,
    )


def check_configured_sources(settings: Settings) -> None:
    """Refuse secrets for a source no adapter serves: a mistyped variable would leave the
    real source unconfigured, its deliveries answered 404."""
    unknown = sorted(set(settings.webhook_secrets) - set(ADAPTERS))
    if unknown:
        variables = ", ".join(f"CH_WEBHOOK_{s.upper().replace('-', '_')}_SECRETS" for s in unknown)
        raise ValueError(
            f"{variables}: no such webhook source (sources: {', '.join(sorted(ADAPTERS))})"
        )


def enabled_adapter(source: str, settings: Settings) -> tuple[Adapter, list[str]]:
    """The adapter of a configured source; 404 for unknown or unconfigured sources alike."""
    adapter = ADAPTERS.get(source)
    secrets = settings.webhook_secrets.get(source, [])
    if adapter is None or not secrets:
        raise SourceNotFound(f"No webhook source '{source}' is configured.")
    return adapter, secrets


async def receive(
    unit: DriverUnit,
    source: str,
    delivery: Delivery,
    settings: Settings,
    stored_url: str,
    clock: Clock,
    rules: RulesCache,
) -> WebhookReceipt:
    """Take one delivery; the receipt says what became of it. ``stored_url`` is the URL as
    kept with it: without a path token (a secret). Signed timestamps are judged against
    the clock's now."""
    adapter, secrets = enabled_adapter(source, settings)
    try:
        adapter.verify(delivery, secrets, clock.now())
    except SignatureError as exc:
        WEBHOOK_DELIVERIES.labels(source, "rejected_signature").inc()
        raise InvalidSignature(f"The {source} signature is not valid: {exc}.") from None
    except BoundExceeded as exc:  # read to find the signature, and refused unverified
        WEBHOOK_DELIVERIES.labels(source, "rejected_bounds").inc()
        raise DeliveryPastBounds(f"Not read: {exc}.") from None
    delivery_id = _stored_id(adapter.delivery_id(delivery))
    taken = _pending(adapter, delivery_id, delivery, settings)
    row_id, held_by = await queries.record(
        await unit.driver(),
        source,
        delivery_id,
        stored_url,
        json.dumps(adapter.stored_headers(delivery)),
        adapter.stored_body(delivery),
        [] if isinstance(taken, PayloadError) else [i for p in taken for i in p.ref[1]],
    )
    if row_id is None:
        WEBHOOK_DELIVERIES.labels(source, "duplicate").inc()
        return WebhookReceipt(status="duplicate", delivery_id=delivery_id)
    outcome = await _process(
        unit, adapter, row_id, delivery, settings, clock, rules, taken, held_by
    )
    status = "accepted" if outcome.status == "processed" else outcome.status
    WEBHOOK_DELIVERIES.labels(source, status).inc()
    return WebhookReceipt(
        status=status,
        delivery_id=delivery_id,
        events=outcome.created + outcome.duplicates,
        reason=outcome.error,
    )


async def _process(
    unit: DriverUnit,
    adapter: Adapter,
    row_id: UUID,
    delivery: Delivery,
    settings: Settings,
    clock: Clock,
    rules: RulesCache,
    taken: list[bulk.Pending] | PayloadError,
    held_by: dict[tuple[str, str], UUID] | None = None,
) -> Processed:
    """Append the events of a stored delivery, as ``_pending`` read them, or record why it
    could not read them; ``held_by``: the customers holding their identifiers, when looked
    up already. Records the outcome on the row; failed deliveries that were waiting for
    one of the events stored are replayed."""
    if isinstance(taken, PayloadError):
        outcome, waiting = Processed("failed", 0, 0, str(taken)[:2000]), None
    else:
        outcome, waiting = await _append_events(
            unit, adapter, row_id, taken, settings, clock, rules, held_by
        )
    on = await unit.driver()
    if waiting is None:  # not recorded with the stats: it failed, or stored nothing
        concerned = set(outcome.customers)
        if outcome.status == "failed":
            people, ids = _named(adapter, delivery, settings)
            await queries.name(on, row_id, people)
            named = [i for person in people for i in person]
            concerned |= await resolution.owners_of(on, named)
            concerned |= await customers.survivors(on, ids)
        waiting = await queries.finish(on, _finishing(row_id, outcome, concerned))
    for waiting_id in waiting:
        await _replay_waiting(unit, waiting_id, settings, clock, rules)
    return outcome


def _finishing(row_id: UUID, outcome: Processed, concerned: Collection[UUID]) -> Along:
    return queries.finishing(
        row_id,
        outcome.status,
        outcome.error,
        outcome.created + outcome.duplicates,
        outcome.awaits,
        outcome.created_keys,
        concerned,
    )


def _named(
    adapter: Adapter, delivery: Delivery, settings: Settings
) -> tuple[list[list[tuple[str, str]]], list[UUID]]:
    """Whom a failed delivery names: the identifiers (normalised) of each customer
    reference its adapter read, one list per person, and the customer ids its events gave;
    when the adapter could not read it at all, every email and phone written in its body,
    each as a person of its own. Its export and erasure find it by them, now and once a
    person it names becomes a customer: a national-format phone never matched a search for
    the stored spelling."""
    region = settings.default_region
    events = _read(adapter, delivery)
    if isinstance(events, PayloadError):
        text = delivery.body.decode("utf-8", errors="replace")
        return [[found] for found in sorted(identifiers_in_text(text, region))], []
    people: list[list[tuple[str, str]]] = []
    ids: list[UUID] = []
    for event in events:
        ref = event.customer
        ids += [ref.id] if ref.id else []
        given = {"external_id": ref.external_id, "email": ref.email, "phone": ref.phone}
        people.append(readable_given(given, region))
    return people, ids


async def _replay_waiting(
    unit: DriverUnit, row_id: UUID, settings: Settings, clock: Clock, rules: RulesCache
) -> None:
    """Replay a delivery whose awaited event was just stored, in a savepoint. If the replay
    raises, its work is undone and the delivery stays failed, no longer awaiting (an
    admin replays it by hand); the delivery that freed it is taken all the same."""
    session = await unit.session()
    try:
        async with session.begin_nested():
            row = await DeliveryRepository(session).get_for_update(row_id)
            if row is None or row.status != "failed":
                return  # replayed meanwhile, by hand or by another pass
            outcome = await _replay_row(unit, row, settings, clock, rules)
    except Exception as exc:  # whatever it was, the delivery that freed it stands
        log.warning("waiting_delivery_replay_failed", id=str(row_id), error=type(exc).__name__)
        reason = f"replayed when its awaited event arrived, and failed: {type(exc).__name__}"
        await queries.stop_awaiting(await unit.driver(), row_id, reason)
        return
    log.info("waiting_delivery_replayed", id=str(row_id), status=outcome.status)


# The room a delivery id has: its column holds 300 characters, and so do the event keys
# made from it (``<id>:<index>``).
_ID_ROOM = 280


# What a text column cannot take (a NUL, half a surrogate pair: the delivery was refused or a
# 500, so lost), and the end of a digested id, which a stored id never has unless digested.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_DIGESTED = re.compile(r"~[0-9a-f]{64}\Z")


def _stored_id(given: str) -> str:
    """The delivery id as stored: the sender's, or, when longer than its room, holding what
    a text column cannot take or ending as a digested id does, its start without the
    unstorable followed by a digest of the whole: one id stored for each id sent."""
    if len(given) <= _ID_ROOM and not _UNSTORABLE.search(given) and not _DIGESTED.search(given):
        return given
    digest = hashlib.sha256(given.encode("utf-8", "surrogatepass")).hexdigest()
    start = _UNSTORABLE.sub("", given)[: _ID_ROOM - len(digest) - 1]
    return f"{start}~{digest}"


def _read(adapter: Adapter, delivery: Delivery) -> list[IdentifiedEventIn] | PayloadError:
    """The events the adapter reads in a delivery, or why it cannot: its PayloadError, a
    model's first complaint, or, for anything else it raised reading the body, the
    exception's type. The delivery is then kept failed with that reason, to be replayed
    once the adapter reads it, never lost with a 500 (its message is left out: it may
    quote the body)."""
    try:
        return adapter.normalize(delivery)
    except PayloadError as exc:
        return exc
    except ValidationError as exc:
        return PayloadError.from_validation(exc)
    except Exception as exc:  # a fault of the adapter's on this body, kept to replay
        log.warning("adapter_failed", source=adapter.source, error=type(exc).__name__)
        return PayloadError(
            f"the {adapter.source} adapter could not read it ({type(exc).__name__}); "
            "kept to be replayed"
        )


def _pending(
    adapter: Adapter, delivery_id: str, delivery: Delivery, settings: Settings
) -> list[bulk.Pending] | PayloadError:
    """A delivery's events, normalised and validated, each with its customer reference; or
    why not: the adapter cannot read the delivery, or an event is invalid."""
    writer = _principal(adapter.source)
    pending = []
    events = _read(adapter, delivery)
    if isinstance(events, PayloadError):
        return events
    for index, event in enumerate(events):
        unstorable = timeline.nul_at(event.model_dump())
        if unstorable is not None:
            return PayloadError(
                f"event {index}: {unstorable}: text cannot contain the NUL character (U+0000)"
            )
        if event.source_event_id is None:  # keys make replays and retries harmless
            event = event.model_copy(update={"source_event_id": f"{delivery_id}:{index}"})
        if event.source == "api":
            event = event.model_copy(update={"source": adapter.source})
        try:
            new = timeline.prepare_event(event, writer, f"event.{index}")
            ref = timeline.customer_ref(event.customer, settings, f"event.{index}")
        except ValidationFailed as exc:
            return PayloadError(exc.detail or "the normalised event is invalid")
        pending.append(bulk.Pending(index + 1, new, ref, event.customer.event))
    return pending


async def _append_events(
    unit: DriverUnit,
    adapter: Adapter,
    row_id: UUID,
    pending: list[bulk.Pending],
    settings: Settings,
    clock: Clock,
    rules: RulesCache,
    held_by: dict[tuple[str, str], UUID] | None,
) -> tuple[Processed, list[UUID] | None]:
    """Store a delivery's events and fold them into their customers' stats; the outcome,
    and the deliveries it freed when it was recorded with the stats (None: not yet)."""
    writer = _principal(adapter.source)
    if not pending:
        return Processed("ignored", 0, 0, None), None
    on = await unit.driver()
    stored = await bulk.store_events(
        on, pending, writer, rules, label="event", delivery_id=row_id, held_by=held_by
    )
    results = stored.results
    errors = [e.reason for r in results if r.errors for e in r.errors]
    awaited = [
        (reference_scopes(p.event_ref.source, writer)[0], p.event_ref.source_event_id)
        for p, r in zip(pending, results, strict=True)
        if p.event_ref is not None
        and any(e.type == timeline.NOT_RECORDED_YET for e in r.errors or [])
    ]
    outcome = Processed(
        "failed" if errors else "processed",
        sum(r.status == "created" for r in results),
        sum(r.status == "duplicate" for r in results),
        "; ".join(errors)[:2000] or None,
        awaited[0] if awaited else None,
        tuple(
            (source_scope(p.new.source, writer), p.new.source_event_id)
            for p, r in zip(pending, results, strict=True)
            if r.status == "created" and p.new.source_event_id is not None
        ),
        frozenset(r.customer_id for r in results if r.customer_id is not None),
    )
    # The outcome of a delivery that failed names more customers (``_process``).
    finished = None if errors else _finishing(row_id, outcome, outcome.customers)
    answer = await bulk.fold(on, stored, settings, clock, finished)
    # After the fold: a reply may append an event on the same customer, folded anew.
    for p, r in zip(pending, results, strict=True):
        if r.status == "created" and r.customer_id and p.new.type in messages.OBSERVED:
            session = await unit.session()
            await messages.observe(
                session, adapter.source, r.customer_id, p.new.type, p.new.payload, settings, clock
            )
    return outcome, None if finished is None else queries.waiting(answer)


async def replay(
    session: AsyncSession, row_id: UUID, settings: Settings, clock: Clock, rules: RulesCache
) -> ReplayOutcome:
    """Normalise a stored delivery again (after an adapter fix); idempotent by event keys."""
    row = await DeliveryRepository(session).get_for_update(row_id)
    if row is None:
        raise DeliveryNotFound(f"Webhook delivery {row_id} not found.")
    return await _replay_row(DriverUnit.of_session(session), row, settings, clock, rules)


async def _replay_row(
    unit: DriverUnit,
    row: WebhookDelivery,
    settings: Settings,
    clock: Clock,
    rules: RulesCache,
) -> ReplayOutcome:
    adapter = ADAPTERS.get(row.source)
    if adapter is None:
        raise NoAdapter(f"No adapter for source '{row.source}' in this version.")
    delivery = Delivery(
        url=row.url, headers=row.headers, body=row.body, received_at=row.received_at
    )
    taken = _pending(adapter, row.delivery_id, delivery, settings)
    outcome = await _process(unit, adapter, row.id, delivery, settings, clock, rules, taken)
    await DeliveryRepository(await unit.session()).count_attempt(row.id)
    return ReplayOutcome(
        id=row.id,
        status=outcome.status,
        events=outcome.created,
        duplicates=outcome.duplicates,
        error=outcome.error,
    )


async def replay_freed(
    session: AsyncSession,
    settings: Settings,
    after: UUID | None,
    limit: int,
    clock: Clock,
    rules: RulesCache,
) -> list[UUID]:
    """Replay failed deliveries whose awaited event is recorded by now (it arrived while
    they were in flight), the first ``limit`` after ``after`` in id order; returns those
    visited, so that a caller pages through each of them once."""
    freed = await queries.freed(session, after, limit)
    unit = DriverUnit.of_session(session)
    for row_id in freed:
        await _replay_waiting(unit, row_id, settings, clock, rules)
    return freed


def _delivery_out(row: WebhookDelivery, include_body: bool) -> DeliveryOut:
    return DeliveryOut(
        id=row.id,
        source=row.source,
        delivery_id=row.delivery_id,
        received_at=row.received_at,
        status=row.status,
        error=row.error,
        event_count=row.event_count,
        processed_at=row.processed_at,
        attempts=row.attempts,
        awaits=(
            EventRef(source=scope_source(row.awaits_scope), source_event_id=row.awaits_key)
            if row.awaits_scope and row.awaits_key
            else None
        ),
        url=row.url,
        headers=row.headers,
        body=row.body.decode("utf-8", errors="replace") if include_body else None,
    )


async def list_deliveries(
    session: AsyncSession,
    *,
    source: str | None,
    status: str | None,
    include_body: bool,
    limit: int,
    cursor: str | None,
) -> DeliveryPage:
    """Stored deliveries, newest first (e.g. ``status=failed`` to find what needs a replay)."""
    before = cursor_id(cursor, "before")
    rows = await DeliveryRepository(session).page(
        source=source, status=status, limit=limit + 1, before=before
    )
    page, next_cursor = keyset_page(rows, limit, lambda d: {"before": str(d.id)})
    return DeliveryPage(
        items=[_delivery_out(r, include_body) for r in page], next_cursor=next_cursor
    )
