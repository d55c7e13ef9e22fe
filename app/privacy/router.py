"""HTTP routes: who read a customer's data, its export and erasure, the retention policy."""

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Request

from app.auth.dependencies import Admin
from app.core.bounded_json import BoundedJsonRoute
from app.core.clock import ClockDep
from app.core.config import SettingsDep
from app.core.db import SessionDep
from app.core.errors import Forbidden, Unauthorized, ValidationFailed, problem_responses
from app.core.pagination import InvalidCursor, Limit
from app.core.streaming import BegunStreamingResponse
from app.customers.service import CustomerNotFound
from app.privacy import service
from app.privacy.schemas import (
    AccessPage,
    CustomerExport,
    ErasureIn,
    ErasureReceipt,
    RetentionPolicy,
)
from app.privacy.service import CustomerMerged

router = APIRouter(prefix="/v1", tags=["privacy"], route_class=BoundedJsonRoute)


@router.get(
    "/customers/{customer_id}/access-log",
    operation_id="get_access_log",
    summary="Who read this customer's data, when, in which role",
    responses=problem_responses(
        InvalidCursor, Unauthorized, Forbidden, CustomerNotFound, ValidationFailed
    ),
)
async def get_access_log(
    customer_id: UUID,
    session: SessionDep,
    principal: Admin,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    limit: Limit = 50,
) -> AccessPage:
    return await service.access_page(session, customer_id, principal, limit=limit, cursor=cursor)


@router.get(
    "/customers/{customer_id}/export",
    operation_id="export_customer",
    summary="Everything held about a customer, as one streamed JSON document",
    response_class=BegunStreamingResponse,
    responses={
        200: {"model": CustomerExport, "description": "The export (streamed)"},
        **problem_responses(
            Unauthorized, Forbidden, CustomerNotFound, CustomerMerged, ValidationFailed
        ),
    },
)
async def export_customer(
    customer_id: UUID, request: Request, session: SessionDep, principal: Admin, clock: ClockDep
) -> Any:
    """Profile, identifiers (current and past), consent history, indicators, alerts, the
    access log, every event (merged-in histories included) and the raw webhook deliveries
    the events came from. Streamed: memory does not grow with the history."""
    family = await service.export_family(session, customer_id, principal)
    return BegunStreamingResponse(
        service.export_stream(request.app.state.db, family, clock),
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="customer-{family[0]}.json"'},
    )


@router.post(
    "/customers/{customer_id}/erasure",
    operation_id="erase_customer",
    summary="Erase a customer's personal data (right to be forgotten)",
    responses=problem_responses(
        Unauthorized, Forbidden, CustomerNotFound, CustomerMerged, ValidationFailed
    ),
)
async def erase_customer(
    customer_id: UUID,
    body: ErasureIn,
    request: Request,
    principal: Admin,
    settings: SettingsDep,
    clock: ClockDep,
) -> ErasureReceipt:
    """Names, identifiers, free text in the history and raw webhook bodies go; event
    types, times, channels, amounts, currencies and skus stay, so company figures do not
    change. The customer keeps its id with status `erased`; a `customer.erased` event
    records when and why. Repeating the request returns `already_erased: true`."""
    # Not the request's unit of work: the erasure commits in two transactions of its own.
    database = request.app.state.db
    return await service.erase(database, customer_id, body, principal, settings, clock)


@router.get(
    "/retention-policy",
    operation_id="get_retention_policy",
    summary="How long raw deliveries, the access log and each event type are kept",
    responses=problem_responses(Unauthorized, Forbidden),
)
async def get_retention_policy(session: SessionDep, principal: Admin) -> RetentionPolicy:
    return await service.retention_policy(session)


@router.put(
    "/retention-policy",
    operation_id="put_retention_policy",
    summary="Set the retention periods (applied by `customer-history retention run`)",
    responses=problem_responses(Unauthorized, Forbidden, ValidationFailed),
)
async def put_retention_policy(
    body: RetentionPolicy, session: SessionDep, principal: Admin
) -> RetentionPolicy:
    return await service.put_retention_policy(session, body)
