"""HTTP routes: alerts, listed and acknowledged."""

import asyncio
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Header, Query, Request, Response
from sse_starlette import EventSourceResponse

from app.alerts import service, stream
from app.alerts.schemas import AlertChangeOut, AlertOut, AlertPage
from app.auth.dependencies import Reader, StreamReader
from app.auth.service import still_active
from app.core.bounded_json import BoundedJsonRoute
from app.core.clock import ClockDep
from app.core.config import SettingsDep
from app.core.db import Database, SessionDep
from app.core.errors import (
    Forbidden,
    TooManyRequests,
    Unauthorized,
    ValidationFailed,
    problem_responses,
)
from app.core.openapi import event_stream
from app.core.pagination import InvalidCursor, Limit

# Listed with the indicators in the API document, as it has always been.
router = APIRouter(prefix="/v1", tags=["indicators"], route_class=BoundedJsonRoute)


@router.get(
    "/alerts",
    operation_id="list_alerts",
    summary="Alerts raised by the rules, newest first",
    responses=problem_responses(InvalidCursor, Unauthorized, Forbidden, ValidationFailed),
)
async def list_alerts(
    session: SessionDep,
    principal: Reader,
    alert_status: Annotated[
        Literal["open", "acknowledged", "cleared"] | None, Query(alias="status")
    ] = None,
    owner_id: Annotated[str | None, Query(max_length=200)] = None,
    customer_id: UUID | None = None,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    limit: Limit = 50,
) -> AlertPage:
    return await service.list_alerts(
        session,
        principal,
        status=alert_status,
        owner_id=owner_id,
        customer_id=customer_id,
        limit=limit,
        cursor=cursor,
    )


@router.post(
    "/alerts/{alert_id}/ack",
    operation_id="acknowledge_alert",
    summary="Acknowledge an alert",
    responses=problem_responses(Unauthorized, Forbidden, service.AlertNotFound, ValidationFailed),
)
async def acknowledge_alert(
    alert_id: UUID, session: SessionDep, principal: Reader, clock: ClockDep
) -> AlertOut:
    return await service.acknowledge(session, alert_id, principal, clock)


@router.get(
    "/alerts/stream",
    operation_id="stream_alerts",
    summary="Server-Sent Events of alerts raised, acknowledged and cleared",
    response_class=Response,
    responses={
        200: event_stream(
            "An event stream; each `event` is `alert.raised`, `alert.acknowledged` or "
            "`alert.cleared`, each `data` an AlertChange, each `id` its `seq`"
        ),
        **problem_responses(Unauthorized, Forbidden, ValidationFailed, TooManyRequests),
    },
)
async def stream_alerts(
    request: Request,
    principal: StreamReader,
    settings: SettingsDep,
    clock: ClockDep,
    owner_id: Annotated[
        list[str] | None,
        Query(description="Only alerts of these owners (repeat it for a team)", max_length=100),
    ] = None,
    last_event_id: Annotated[
        int | None,
        Header(
            alias="Last-Event-ID",
            description="Resume after this change (its `seq`)",
            ge=0,
            le=2**63 - 1,
        ),
    ] = None,
) -> Any:
    """Every change of an alert whose customer the key may see (an owned-only key: its own
    customers' only), from any process, within a second. On reconnect with
    `Last-Event-ID`, changes around that point are sent again (at least once: dedupe by
    `id`). The stream ends within a second of its key being revoked, and when the session
    token it was opened with expires. A key holds at most `CH_MAX_STREAMS_PER_KEY` streams
    open at once (429 past it). A browser's EventSource passes a session token as
    `?access_token=`."""
    feed: stream.AlertFeed = request.app.state.alert_feed
    database: Database = request.app.state.db
    wanted = stream.StreamFilter(principal, tuple(owner_id or ()))
    limit = settings.max_streams_per_key
    if feed.streams_of(principal.key_id) >= limit:
        raise TooManyRequests(f"This key holds {limit} open streams already; close one first.")

    def until_expiry() -> float | None:
        """Seconds the stream's session token has left; None for an API key."""
        if principal.token_expires_at is None:
            return None
        return (principal.token_expires_at - clock.now()).total_seconds()

    def sent(change: AlertChangeOut) -> dict[str, str]:
        return {
            "id": str(change.seq),
            "event": f"alert.{change.change}",
            "data": change.model_dump_json(),
        }

    async def changes() -> Any:
        seen: set[int] = set()
        with feed.watch(principal.key_id) as watch:
            if feed.streams_of(principal.key_id) > limit:
                return  # opened together with others of its key, past the check above
            if last_event_id is not None:
                async with database.sessionmaker() as s:
                    for change in await stream.replay_after(s, wanted, last_event_id):
                        seen.add(change.seq)
                        yield sent(change)
            while True:
                try:
                    lost, seqs = await asyncio.wait_for(watch.next(), until_expiry())
                except TimeoutError:
                    return  # the session token expired: it opens nothing past its life
                left = until_expiry()
                if left is not None and left <= 0:
                    return
                async with database.sessionmaker() as s:
                    if not await still_active(s, principal):
                        return
                    found = await stream.changes(s, wanted, seqs)
                    if lost:
                        found += await stream.since(s, wanted, stream.RESUME_WINDOW)
                for change in sorted(found, key=lambda c: c.seq):
                    if change.seq not in seen:
                        seen.add(change.seq)
                        yield sent(change)
                if len(seen) > stream.MAX_PENDING:  # the oldest cannot come again
                    seen = set(sorted(seen)[-stream.MAX_PENDING // 2 :])

    return EventSourceResponse(changes(), ping=settings.sse_ping_seconds)
