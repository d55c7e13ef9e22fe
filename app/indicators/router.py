"""HTTP routes: indicators, rules, alerts, incidents, routing, segments, sales and reports."""

import csv
import io
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Path, Query, Request, Response, status
from fastapi.responses import StreamingResponse

from app.auth.dependencies import Admin, Reader, require_roles
from app.core.bounded_json import BoundedJsonRoute
from app.core.clock import ClockDep
from app.core.config import SettingsDep
from app.core.db import Database, DriverDep, SessionDep
from app.core.errors import (
    Forbidden,
    Unauthorized,
    ValidationFailed,
    invalid_field,
    problem_responses,
)
from app.core.pagination import InvalidCursor, Limit
from app.core.security import Principal, Role
from app.core.spreadsheet import safe_cell
from app.core.timestamps import Timestamp
from app.customers.identifiers import normalize_phone
from app.customers.schemas import PhoneText
from app.customers.service import CustomerNotFound
from app.indicators import service
from app.indicators.schemas import (
    AlertOut,
    AlertPage,
    IncidentIn,
    IncidentList,
    IncidentOut,
    IndicatorsOut,
    RoutingAnswer,
    RoutingPolicy,
    RuleConfig,
    RuleList,
    RuleOut,
    SalesSeries,
    SegmentPage,
    SegmentQuery,
    SummaryReport,
)
from app.indicators.service import AlertNotFound, IncidentNotFound, RuleNotFound

router = APIRouter(prefix="/v1", tags=["indicators"], route_class=BoundedJsonRoute)

Campaigns = Annotated[
    Principal, Depends(require_roles(Role.ADMIN, Role.MARKETING, Role.SALES, Role.COLLECTIONS))
]


@router.get(
    "/customers/{customer_id}/indicators",
    operation_id="get_indicators",
    summary="Value, service, satisfaction, contact and risk indicators, as of now",
    responses=problem_responses(Unauthorized, Forbidden, CustomerNotFound, ValidationFailed),
)
async def get_indicators(
    customer_id: UUID, session: SessionDep, principal: Reader, clock: ClockDep
) -> IndicatorsOut:
    return await service.indicators_of(session, customer_id, principal, clock)


@router.get(
    "/customers/{customer_id}/sales-series",
    operation_id="get_sales_series",
    summary="Order totals per month, quarter or year, per currency",
    responses=problem_responses(Unauthorized, Forbidden, CustomerNotFound, ValidationFailed),
)
async def get_sales_series(
    customer_id: UUID,
    session: SessionDep,
    principal: Reader,
    interval: Literal["month", "quarter", "year"] = "month",
) -> SalesSeries:
    return await service.sales(session, customer_id, interval, principal)


@router.get(
    "/rules",
    operation_id="list_rules",
    summary="The built-in rules and their thresholds",
    responses=problem_responses(Unauthorized, Forbidden),
)
async def list_rules(session: SessionDep, principal: Reader) -> RuleList:
    return RuleList(items=await service.rules(session))


@router.get(
    "/rules/{rule}",
    operation_id="get_rule",
    summary="One rule and its thresholds",
    responses=problem_responses(Unauthorized, Forbidden, RuleNotFound, ValidationFailed),
)
async def get_rule(rule: str, session: SessionDep, principal: Reader) -> RuleOut:
    for item in await service.rules(session):
        if item.rule == rule:
            return item
    raise service.RuleNotFound(f"No rule '{rule}'.")


@router.put(
    "/rules/{rule}",
    operation_id="put_rule",
    summary="Change a rule's thresholds (takes effect on the next evaluation)",
    responses=problem_responses(Unauthorized, Forbidden, RuleNotFound, ValidationFailed),
)
async def put_rule(rule: str, body: RuleConfig, session: SessionDep, principal: Admin) -> RuleOut:
    return await service.put_rule(session, rule, body)


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
    responses=problem_responses(Unauthorized, Forbidden, AlertNotFound, ValidationFailed),
)
async def acknowledge_alert(
    alert_id: UUID, session: SessionDep, principal: Reader, clock: ClockDep
) -> AlertOut:
    return await service.acknowledge(session, alert_id, principal, clock)


@router.post(
    "/incidents",
    operation_id="declare_incident",
    status_code=status.HTTP_201_CREATED,
    summary="Declare an incident: matching customers are flagged and routed to its queue",
    responses=problem_responses(Unauthorized, Forbidden, ValidationFailed),
)
async def declare_incident(
    body: IncidentIn, session: SessionDep, principal: Admin, clock: ClockDep
) -> IncidentOut:
    return await service.declare_incident(session, body, clock)


@router.get(
    "/incidents",
    operation_id="list_incidents",
    summary="Incidents, newest first",
    responses=problem_responses(Unauthorized, Forbidden),
)
async def list_incidents(session: SessionDep, principal: Reader) -> IncidentList:
    return await service.list_incidents(session, principal)


@router.post(
    "/incidents/{incident_id}/close",
    operation_id="close_incident",
    summary="Close an incident: its flags and routing end",
    responses=problem_responses(Unauthorized, Forbidden, IncidentNotFound, ValidationFailed),
)
async def close_incident(
    incident_id: UUID, session: SessionDep, principal: Admin, clock: ClockDep
) -> IncidentOut:
    return await service.close_incident(session, incident_id, clock)


@router.get(
    "/routing/by-phone/{phone}",
    operation_id="route_by_phone",
    summary="Queue and priority for an incoming call (IVR / ACD)",
    response_model=RoutingAnswer,
    responses=problem_responses(Unauthorized, Forbidden, ValidationFailed),
)
async def route_by_phone(
    phone: Annotated[
        PhoneText,
        Path(
            description="Any common spelling. By hand, the `+` goes as it is or as `%2B`; "
            "a generated client encodes the path itself: give it the number as written",
        ),
    ],
    connection: DriverDep,
    principal: Reader,
    settings: SettingsDep,
) -> Any:
    try:
        normalised = normalize_phone(phone, settings.default_region)
    except ValueError as exc:
        raise invalid_field("path.phone", str(exc)) from None
    answer = await service.route(connection, normalised, principal)
    # Called on every incoming call: serialise once instead of validating the model again.
    return Response(answer.model_dump_json(), media_type="application/json")


@router.get(
    "/routing/policy",
    operation_id="get_routing_policy",
    summary="The routing policy",
    responses=problem_responses(Unauthorized, Forbidden),
)
async def get_routing_policy(session: SessionDep, principal: Reader) -> RoutingPolicy:
    return await service.routing_policy(session)


@router.put(
    "/routing/policy",
    operation_id="put_routing_policy",
    summary="Replace the routing policy",
    responses=problem_responses(Unauthorized, Forbidden, ValidationFailed),
)
async def put_routing_policy(
    body: RoutingPolicy, session: SessionDep, principal: Admin
) -> RoutingPolicy:
    return await service.put_routing_policy(session, body)


CSV_COLUMNS = ("customer_id", "display_name", "language", "tier", "channel", "contact")


@router.post(
    "/segments/query",
    operation_id="query_segment",
    summary="Customers to contact for a campaign, with consent and do-not-call enforced",
    response_model=SegmentPage,
    responses={
        200: {
            "description": "JSON pages, or the whole list as CSV with `Accept: text/csv`",
            "content": {"text/csv": {"schema": {"type": "string"}}},
        },
        **problem_responses(InvalidCursor, Unauthorized, Forbidden, ValidationFailed),
    },
)
async def query_segment(
    body: SegmentQuery, request: Request, session: SessionDep, principal: Campaigns
) -> Any:
    """Only customers the key may see, listed and counted. In the CSV every cell that a
    spreadsheet would read as a formula starts with a quote (E.164 phone numbers excepted:
    see app/core/spreadsheet.py)."""
    if "text/csv" not in request.headers.get("accept", ""):
        return await service.segment_page(session, body, principal)
    database: Database = request.app.state.db

    async def rows() -> AsyncIterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(CSV_COLUMNS)
        query = body.model_copy(update={"limit": 1000, "cursor": None})
        while True:
            async with database.sessionmaker() as s:
                page = await service.segment_page(s, query, principal, counts=False)
            for member in page.items:
                cells = [
                    str(member.customer_id),
                    member.display_name,
                    member.language or "",
                    member.tier.value,
                    member.channel.value,
                    member.contact,
                ]
                writer.writerow([safe_cell(cell) for cell in cells])
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
            if page.next_cursor is None:
                return
            query = query.model_copy(update={"cursor": page.next_cursor})

    return StreamingResponse(
        rows(),
        media_type="text/csv",
        headers={"Content-Disposition": 'attachment; filename="segment.csv"'},
    )


@router.get(
    "/reports/summary",
    operation_id="get_summary_report",
    summary="Revenue, orders, repeat purchase, retention, top products and ticket categories",
    responses=problem_responses(Unauthorized, Forbidden, ValidationFailed),
)
async def get_summary_report(
    session: SessionDep,
    principal: Admin,
    period_from: Annotated[Timestamp, Query(alias="from")],
    period_to: Annotated[Timestamp, Query(alias="to")],
) -> SummaryReport:
    """`to` must be after `from` (422 otherwise); the period before, as long, is compared
    for retention."""
    if period_to <= period_from:
        raise invalid_field("query.to", "must be after from")
    return await service.summary(session, period_from, period_to)
