"""HTTP routes: the company summary report; the topics customers write about."""

from typing import Annotated

from fastapi import APIRouter, Query

from app.auth.dependencies import Admin
from app.core.bounded_json import BoundedJsonRoute
from app.core.db import DriverDep, SessionDep
from app.core.errors import (
    Forbidden,
    Unauthorized,
    ValidationFailed,
    invalid_field,
    problem_responses,
)
from app.core.timestamps import Timestamp
from app.reports import service
from app.reports.schemas import SummaryReport, TopicInterval, TopicsReport

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


@router.get(
    "/reports/topics",
    operation_id="get_topics_report",
    summary="What customers write about: intents and their words per period, and what rose",
    responses=problem_responses(Unauthorized, Forbidden, ValidationFailed),
)
async def get_topics_report(
    connection: DriverDep,
    principal: Admin,
    period_from: Annotated[Timestamp, Query(alias="from")],
    period_to: Annotated[Timestamp, Query(alias="to")],
    interval: TopicInterval = "day",
) -> TopicsReport:
    """From the analysed messages (e-mails received, chats, mentions, survey comments,
    tickets, calls' notes and transcripts), per `interval` (UTC; weeks start on Monday)
    from the period holding `from` until `to`: how many, how many negative, each intent,
    the words that told them, and the intents more frequent than in the period before.
    Company-wide, so admin keys only (never owned-only: docs/security.md). `to` must be
    after `from`, and at most 400 periods (422 otherwise)."""
    if period_to <= period_from:
        raise invalid_field("query.to", "must be after from")
    try:
        return await service.topics(connection, period_from, period_to, interval)
    except service.TooManyPeriods as exc:
        raise invalid_field("query.interval", f"{exc}: ask a longer interval") from None
