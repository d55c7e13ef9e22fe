"""HTTP routes of the timeline: append, import, read, stream; and the customer changes it
records (merge, preferences, consents: ``flows.py``)."""

import asyncio
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Header, Query, Request, Response, status
from fastapi.responses import RedirectResponse
from pydantic import BaseModel
from sse_starlette import EventSourceResponse

from app.auth.dependencies import AgentWriter, Reader, StreamReader, Writer
from app.core import bounded_json
from app.core.bounded_json import BoundedJsonRoute
from app.core.clock import ClockDep
from app.core.config import SettingsDep
from app.core.db import Database, DriverDep, SessionDep
from app.core.errors import (
    EXAMPLE_ID,
    Forbidden,
    PayloadTooLarge,
    PreconditionFailed,
    PreconditionRequired,
    TooManyRequests,
    Unauthorized,
    UnsupportedMediaType,
    ValidationFailed,
    invalid_field,
    problem_responses,
)
from app.core.fast_route import fast_get
from app.core.openapi import event_stream, headers
from app.core.pagination import InvalidCursor, Limit
from app.core.preconditions import IfMatch, etag
from app.core.timestamps import Timestamp
from app.customers import service as customers
from app.customers.schemas import ConsentIn, ConsentOut, CustomerOut, Preferences
from app.customers.service import CustomerNotActive, CustomerNotFound
from app.text.service import TextRulesDep
from app.timeline import bulk, flows, service, stream, views
from app.timeline.catalog import CATALOG, CUSTOM_PREFIX, Channel, catalog_document
from app.timeline.schemas import (
    BulkLineResult,
    EventIn,
    EventOut,
    EventTypeList,
    IdentifiedEventIn,
    MergeOutcome,
    MergeRequest,
    NoteIn,
    TimelinePage,
    UnmergeOutcome,
    UnmergeRequest,
    WrapUpIn,
)
from app.timeline.service import IdempotencyConflict, NotMerged
from app.timeline.stream import TimelineFeed

router = APIRouter(prefix="/v1", tags=["timeline"], route_class=BoundedJsonRoute)
# The profile change, listed with the customers: it is a flow too (an organisation's
# indicators follow its contact persons).
profile_router = APIRouter(prefix="/v1", tags=["customers"], route_class=BoundedJsonRoute)
MERGE_PATCH = "application/merge-patch+json"

IdempotencyKey = Annotated[
    str | None,
    Header(
        max_length=300,
        description="Makes retries safe: the same key and body answer the original event.",
    ),
]

NDJSON = "application/x-ndjson"
MAX_BULK_LINES = 10_000
_FAMILIES = sorted({name.split(".")[0] for name in CATALOG})
# An organisation's history holds its contact persons': its timeline and its stream show
# them unless asked not to.
ContactsFilter = Annotated[
    bool,
    Query(
        description="For an organisation, its contact persons' events too (each names "
        "its `customer_id`); no effect on a person"
    ),
]
BULK_RESULTS: list[dict[str, Any]] = [
    {
        "line": 1,
        "status": "created",
        "event_id": "01933b8e-8a52-7cc2-9d0e-0c6f2b1e3a11",
        "customer_id": EXAMPLE_ID,
    },
    {
        "line": 2,
        "status": "error",
        "errors": [{"field": "line.2.occurred_at", "reason": "Field required", "type": "missing"}],
    },
]


def ndjson_content(line: type[BaseModel], lines: list[dict[str, Any]]) -> dict[str, Any]:
    """An NDJSON body: one JSON document of ``line``'s schema per line. OpenAPI 3.1 types
    the lines only, so the schema is one line's, and so is each example."""
    return {
        "schema": {"$ref": f"#/components/schemas/{line.__name__}"},
        "examples": {
            f"line {number}": {"summary": f"Line {number}", "value": value}
            for number, value in enumerate(lines, 1)
        },
    }


_EVENT_CREATED: dict[int | str, dict[str, Any]] = {
    201: {"description": "The event appended", "headers": headers("Location")},
    200: {
        "description": "A retry: the original event",
        "model": EventOut,
        "headers": headers("Location"),
    },
}


def _event_response(
    response: Response, request: Request, event: EventOut, created: bool
) -> EventOut:
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    response.headers["Location"] = str(
        request.url_for("get_timeline", customer_id=event.customer_id)
    )
    return event


@router.get(
    "/event-types",
    operation_id="list_event_types",
    summary="The event catalog, each type with its payload JSON Schema",
    responses=problem_responses(Unauthorized, Forbidden),
)
async def list_event_types(principal: Reader) -> EventTypeList:
    return EventTypeList.model_validate({"items": catalog_document()})


@router.post(
    "/customers/{customer_id}/events",
    operation_id="append_event",
    status_code=status.HTTP_201_CREATED,
    summary="Append an event to a customer's timeline (idempotent)",
    responses={
        **_EVENT_CREATED,
        **problem_responses(
            Unauthorized,
            Forbidden,
            CustomerNotFound,
            IdempotencyConflict,
            CustomerNotActive,
            ValidationFailed,
        ),
    },
)
async def append_event(
    customer_id: UUID,
    body: EventIn,
    request: Request,
    response: Response,
    session: SessionDep,
    principal: Writer,
    settings: SettingsDep,
    clock: ClockDep,
    rules: TextRulesDep,
    idempotency_key: IdempotencyKey = None,
) -> EventOut:
    """201 with the stored event; a retry with the same key and body answers 200 with the
    original; the same key with another body is 409. An append to a merged customer lands
    on the customer it was merged into."""
    event, created = await service.append_to_customer(
        session, customer_id, body, idempotency_key, principal, settings, clock, rules
    )
    return _event_response(response, request, event, created)


_AGENT_WRITE_ERRORS = problem_responses(
    Unauthorized,
    Forbidden,
    CustomerNotFound,
    IdempotencyConflict,
    CustomerNotActive,
    ValidationFailed,
)


@router.post(
    "/customers/{customer_id}/notes",
    operation_id="add_note",
    status_code=status.HTTP_201_CREATED,
    summary="Write a note on the customer, as the key's agent (idempotent)",
    responses={**_EVENT_CREATED, **_AGENT_WRITE_ERRORS},
)
async def add_note(
    customer_id: UUID,
    body: NoteIn,
    request: Request,
    response: Response,
    session: SessionDep,
    principal: AgentWriter,
    settings: SettingsDep,
    clock: ClockDep,
    rules: TextRulesDep,
    idempotency_key: IdempotencyKey = None,
) -> EventOut:
    """Appends `note.added` with the key's agent as its actor; every role writes notes on
    the customers it sees (a job key must name its agent). A pinned note shows in the
    ficha's pinned notes."""
    event, created = await service.append_by_agent(
        session,
        customer_id,
        "note.added",
        {"text": body.text, "pinned": body.pinned},
        " ".join(body.text.split()),  # the note itself is its one line
        body.occurred_at,
        idempotency_key,
        principal,
        settings,
        clock,
        rules,
    )
    return _event_response(response, request, event, created)


@router.post(
    "/customers/{customer_id}/wrap-ups",
    operation_id="wrap_up_call",
    status_code=status.HTTP_201_CREATED,
    summary="Record a call's disposition and wrap-up codes, as the key's agent (idempotent)",
    responses={**_EVENT_CREATED, **_AGENT_WRITE_ERRORS},
)
async def wrap_up_call(
    customer_id: UUID,
    body: WrapUpIn,
    request: Request,
    response: Response,
    session: SessionDep,
    principal: AgentWriter,
    settings: SettingsDep,
    clock: ClockDep,
    rules: TextRulesDep,
    idempotency_key: IdempotencyKey = None,
) -> EventOut:
    """Appends `call.wrapped_up` with the key's agent as its actor. A satisfaction of
    `unsatisfied` counts as an unsatisfied contact (the indicators and the rules)."""
    event, created = await service.append_by_agent(
        session,
        customer_id,
        "call.wrapped_up",
        body.model_dump(mode="json", exclude={"occurred_at"}, exclude_none=True),
        f"Call wrapped up: {body.disposition}"
        + (f" ({', '.join(body.wrap_up_codes)})" if body.wrap_up_codes else ""),
        body.occurred_at,
        idempotency_key,
        principal,
        settings,
        clock,
        rules,
    )
    return _event_response(response, request, event, created)


@router.post(
    "/events",
    operation_id="append_identified_event",
    status_code=status.HTTP_201_CREATED,
    summary="Append an event for the customer its identifiers name",
    responses={
        **_EVENT_CREATED,
        **problem_responses(
            Unauthorized,
            Forbidden,
            CustomerNotFound,
            IdempotencyConflict,
            CustomerNotActive,
            ValidationFailed,
        ),
    },
)
async def append_identified_event(
    body: IdentifiedEventIn,
    request: Request,
    response: Response,
    session: SessionDep,
    principal: Writer,
    settings: SettingsDep,
    clock: ClockDep,
    rules: TextRulesDep,
    idempotency_key: IdempotencyKey = None,
) -> EventOut:
    """An unknown phone, email or external id creates an `unverified` customer."""
    event, created = await service.append_identified(
        session, body, idempotency_key, principal, settings, clock, rules
    )
    return _event_response(response, request, event, created)


@router.post(
    "/events/bulk",
    operation_id="import_events",
    summary="Import up to 10,000 events as NDJSON",
    response_class=Response,
    responses={
        200: {
            "description": "One result per line, in order: created, duplicate or error",
            "content": {NDJSON: ndjson_content(BulkLineResult, BULK_RESULTS)},
        },
        **problem_responses(Unauthorized, Forbidden, PayloadTooLarge, UnsupportedMediaType),
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            # One IdentifiedEventIn per line, whose own example stands for a line: the check
            # of examples inside openapi-typescript (Redocly 1.34) refuses any here that
            # Redocly 2 and jsonschema accept.
            "content": {NDJSON: {"schema": {"$ref": "#/components/schemas/IdentifiedEventIn"}}},
        }
    },
)
async def import_events(
    request: Request,
    session: SessionDep,
    principal: Writer,
    settings: SettingsDep,
    clock: ClockDep,
    rules: TextRulesDep,
) -> Response:
    """Each line is an event as in `POST /v1/events`; one bad line never rejects the others."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type not in (NDJSON, "application/jsonl"):
        raise UnsupportedMediaType(f"Send {NDJSON}: one JSON event per line.")
    lines = (await request.body()).split(b"\n")
    if lines and not lines[-1].strip():
        lines.pop()
    if len(lines) > MAX_BULK_LINES:
        raise PayloadTooLarge(f"At most {MAX_BULK_LINES} lines per request; got {len(lines)}.")
    results = await bulk.import_bulk(session, lines, principal, settings, clock, rules)
    body = "".join(r.model_dump_json(exclude_none=True) + "\n" for r in results)
    return Response(body, media_type=NDJSON)


def _merged_redirect(request: Request, survivor: UUID) -> RedirectResponse:
    url = request.url_for(request.scope["route"].name, customer_id=survivor)
    return RedirectResponse(str(url.include_query_params(**request.query_params)), status_code=308)


_REDIRECT: dict[int | str, dict[str, Any]] = {
    308: {"description": "The customer was merged: the survivor's URL is in Location"}
}


@fast_get(
    router,
    "/customers/{customer_id}/timeline",
    operation_id="get_timeline",
    summary="A customer's history, newest first",
    response_model=TimelinePage,
    responses={
        **_REDIRECT,
        **problem_responses(
            InvalidCursor, Unauthorized, Forbidden, CustomerNotFound, ValidationFailed
        ),
    },
)
async def get_timeline(
    customer_id: UUID,
    request: Request,
    connection: DriverDep,
    principal: Reader,
    type: Annotated[
        list[str] | None,
        Query(description="Exact type or a family prefix like `call.*`; repeatable"),
    ] = None,
    channel: Annotated[list[Channel] | None, Query(description="Repeatable")] = None,
    since: Annotated[Timestamp | None, Query(description="occurred_at at or after")] = None,
    until: Annotated[Timestamp | None, Query(description="occurred_at before")] = None,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    limit: Limit = 50,
    contacts: ContactsFilter = True,
) -> Any:
    for index, value in enumerate(type or []):
        type_family = value[:-2] if value.endswith(".*") else None
        known = value in CATALOG or value.startswith(CUSTOM_PREFIX) or type_family in _FAMILIES
        if not known:
            raise invalid_field(f"query.type.{index}", f"unknown type or family '{value}'")
    page = await views.read_timeline(
        connection,
        customer_id,
        principal,
        types=type or [],
        channels=[c.value for c in channel or []],
        since=since,
        until=until,
        limit=limit,
        cursor=cursor,
        contacts=contacts,
    )
    if isinstance(page, customers.Merged):
        return _merged_redirect(request, page.survivor)
    return Response(page, media_type="application/json")


@router.get(
    "/customers/{customer_id}/timeline/stream",
    operation_id="stream_timeline",
    summary="Server-Sent Events of events appended to this customer",
    response_class=Response,
    responses={
        200: event_stream("An event stream; each `data` is an Event, each `id` its event id"),
        **_REDIRECT,
        **problem_responses(
            Unauthorized, Forbidden, CustomerNotFound, ValidationFailed, TooManyRequests
        ),
    },
)
async def stream_timeline(
    customer_id: UUID,
    request: Request,
    session: SessionDep,
    principal: StreamReader,
    settings: SettingsDep,
    clock: ClockDep,
    last_event_id: Annotated[
        UUID | None, Header(alias="Last-Event-ID", description="Resume after this event")
    ] = None,
    contacts: ContactsFilter = True,
) -> Any:
    """Events appended by any process arrive within a second. On reconnect with
    `Last-Event-ID`, events around that point are sent again (at least once: dedupe by id).
    The stream ends within a second of its key being revoked or of the customer changing
    hands, being merged or erased (the client reconnects and is answered afresh), and when
    the session token it was opened with expires. Every stream opened is in the access
    log. A key holds at most `CH_MAX_STREAMS_PER_KEY` streams open at once (429 past it),
    its session tokens' streams included. A browser's EventSource, which sends no headers,
    passes a session token as `?access_token=`."""
    feed: TimelineFeed = request.app.state.feed
    limit = settings.max_streams_per_key
    if feed.streams_of(principal.key_id) >= limit:
        raise TooManyRequests(f"This key holds {limit} open streams already; close one first.")
    opened = await stream.open_stream(session, customer_id, principal, contacts)
    if isinstance(opened, customers.Merged):
        return _merged_redirect(request, opened.survivor)
    family = list(opened.family)
    database: Database = request.app.state.db

    async def still_open() -> bool:
        async with database.sessionmaker() as s:
            view = await stream.stream_view(s, opened.customer_id, principal, contacts)
            return view == opened

    def until_expiry() -> float | None:
        """Seconds the stream's session token has left; None for an API key."""
        if principal.token_expires_at is None:
            return None
        return (principal.token_expires_at - clock.now()).total_seconds()

    def token_expired() -> bool:
        left = until_expiry()
        return left is not None and left <= 0

    async def events() -> Any:
        with feed.subscribe(family, principal.key_id) as subscription:
            if feed.streams_of(principal.key_id) > limit:
                return  # opened together with others of its key, past the check above
            # Anything that changed between the check above and the subscription was not
            # heard: look once more before sending anything.
            if not await still_open():
                return
            if last_event_id is not None:
                async with database.sessionmaker() as s:
                    replayed = await stream.replay_after(s, family, last_event_id)
                    for event in filter(opened.shows, replayed):
                        yield {"id": str(event.id), "data": event.model_dump_json()}
            while True:
                try:
                    recheck, ids = await asyncio.wait_for(subscription.next(), until_expiry())
                except TimeoutError:
                    return  # the session token expired: it opens nothing past its life
                if token_expired() or (recheck and not await still_open()):
                    return
                if ids:
                    async with database.sessionmaker() as s:
                        for event in filter(opened.shows, await stream.events_for_stream(s, ids)):
                            yield {"id": str(event.id), "data": event.model_dump_json()}

    return EventSourceResponse(events(), ping=settings.sse_ping_seconds)


@router.post(
    "/customers/{customer_id}/merge",
    operation_id="merge_customers",
    summary="Merge a duplicate into this customer (or preview it with dry_run)",
    responses=problem_responses(
        Unauthorized, Forbidden, CustomerNotFound, CustomerNotActive, ValidationFailed
    ),
)
async def merge_customers(
    customer_id: UUID,
    body: MergeRequest,
    session: SessionDep,
    principal: Writer,
    settings: SettingsDep,
    clock: ClockDep,
) -> MergeOutcome:
    """The duplicate's identifiers move here, its history joins this timeline, it becomes
    `merged`; `customer.merged` is recorded on both. Undo with `/unmerge`."""
    return await flows.merge(
        session, customer_id, body.source_customer_id, body.dry_run, principal, settings, clock
    )


@router.post(
    "/customers/{customer_id}/unmerge",
    operation_id="unmerge_customers",
    summary="Undo a merge",
    responses=problem_responses(
        Unauthorized,
        Forbidden,
        CustomerNotFound,
        NotMerged,
        CustomerNotActive,
        ValidationFailed,
    ),
)
async def unmerge_customers(
    customer_id: UUID,
    body: UnmergeRequest,
    session: SessionDep,
    principal: Writer,
    settings: SettingsDep,
    clock: ClockDep,
) -> UnmergeOutcome:
    """The absorbed customer is active again with exactly its own identifiers and events."""
    return await flows.unmerge(
        session, customer_id, body.source_customer_id, principal, settings, clock
    )


@router.put(
    "/customers/{customer_id}/preferences",
    operation_id="set_preferences",
    summary="Replace the contact preferences (recorded as preference.updated)",
    responses={
        200: {"description": "The preferences", "headers": headers("ETag")},
        **problem_responses(
            Unauthorized,
            Forbidden,
            CustomerNotFound,
            CustomerNotActive,
            PreconditionFailed,
            ValidationFailed,
        ),
    },
)
async def set_preferences(
    customer_id: UUID,
    body: Preferences,
    session: SessionDep,
    principal: Writer,
    response: Response,
    settings: SettingsDep,
    clock: ClockDep,
    if_match: IfMatch = None,
) -> Preferences:
    preferences, version = await flows.set_preferences(
        session, customer_id, body, if_match, principal, settings, clock
    )
    response.headers["ETag"] = etag(version)
    return preferences


@router.post(
    "/customers/{customer_id}/consents",
    operation_id="record_consent",
    status_code=status.HTTP_201_CREATED,
    summary="Record a consent granted or withdrawn (and its event)",
    responses=problem_responses(
        Unauthorized, Forbidden, CustomerNotFound, CustomerNotActive, ValidationFailed
    ),
)
async def record_consent(
    customer_id: UUID,
    body: ConsentIn,
    session: SessionDep,
    principal: Writer,
    settings: SettingsDep,
    clock: ClockDep,
) -> ConsentOut:
    return await flows.record_consent(session, customer_id, body, principal, settings, clock)


@profile_router.patch(
    "/customers/{customer_id}",
    operation_id="patch_customer",
    summary="Change the profile with a JSON merge patch (If-Match required)",
    responses={
        200: {"description": "The customer changed", "headers": headers("ETag")},
        **problem_responses(
            Unauthorized,
            Forbidden,
            CustomerNotFound,
            CustomerNotActive,
            PreconditionFailed,
            UnsupportedMediaType,
            ValidationFailed,
            PreconditionRequired,
        ),
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                media: {"schema": {"$ref": "#/components/schemas/CustomerPatch"}}
                for media in (MERGE_PATCH, "application/json")
            },
        }
    },
)
async def patch_customer(
    customer_id: UUID,
    request: Request,
    session: SessionDep,
    principal: Writer,
    response: Response,
    settings: SettingsDep,
    clock: ClockDep,
    if_match: IfMatch = None,
) -> CustomerOut:
    """A contact person joining or leaving an organisation moves its history in and out
    of the organisations' indicators."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type not in (MERGE_PATCH, "application/json"):
        raise UnsupportedMediaType(f"Send {MERGE_PATCH} (or application/json).")
    try:
        patch: Any = bounded_json.loads(await request.body())
    except (ValueError, UnicodeDecodeError) as exc:
        raise invalid_field("body", f"invalid JSON: {exc}", "json_invalid") from None
    customer = await flows.patch_customer(
        session, customer_id, patch, if_match, principal, settings, clock
    )
    response.headers["ETag"] = etag(customer.version)
    return customer
