"""HTTP routes: alerts, listed and acknowledged."""

from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Query

from app.alerts import service
from app.alerts.schemas import AlertOut, AlertPage
from app.auth.dependencies import Reader
from app.core.bounded_json import BoundedJsonRoute
from app.core.clock import ClockDep
from app.core.db import SessionDep
from app.core.errors import Forbidden, Unauthorized, ValidationFailed, problem_responses
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
