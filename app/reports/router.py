"""HTTP route: the company summary report."""

from typing import Annotated

from fastapi import APIRouter, Query

from app.auth.dependencies import Admin
from app.core.bounded_json import BoundedJsonRoute
from app.core.db import SessionDep
from app.core.errors import (
    Forbidden,
    Unauthorized,
    ValidationFailed,
    invalid_field,
    problem_responses,
)
from app.core.timestamps import Timestamp
from app.reports import service
from app.reports.schemas import SummaryReport

# Listed with the indicators in the API document, as it has always been.
router = APIRouter(prefix="/v1", tags=["indicators"], route_class=BoundedJsonRoute)


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
