"""HTTP routes: a customer's indicators and sales series, and the rules' thresholds."""

from typing import Literal
from uuid import UUID

from fastapi import APIRouter

from app.auth.dependencies import Admin, Reader
from app.core.bounded_json import BoundedJsonRoute
from app.core.clock import ClockDep
from app.core.config import SettingsDep
from app.core.db import SessionDep
from app.core.errors import Forbidden, Unauthorized, ValidationFailed, problem_responses
from app.customers.service import CustomerNotFound
from app.indicators import service
from app.indicators.schemas import (
    IndicatorsOut,
    RuleConfig,
    RuleList,
    RuleOut,
    SalesSeries,
)
from app.indicators.service import RuleNotFound

router = APIRouter(prefix="/v1", tags=["indicators"], route_class=BoundedJsonRoute)


@router.get(
    "/customers/{customer_id}/indicators",
    operation_id="get_indicators",
    summary="Value, service, satisfaction, contact and risk indicators, as of now",
    responses=problem_responses(Unauthorized, Forbidden, CustomerNotFound, ValidationFailed),
)
async def get_indicators(
    customer_id: UUID,
    session: SessionDep,
    principal: Reader,
    settings: SettingsDep,
    clock: ClockDep,
) -> IndicatorsOut:
    return await service.indicators_of(session, customer_id, principal, settings, clock)


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
    settings: SettingsDep,
    clock: ClockDep,
    interval: Literal["month", "quarter", "year"] = "month",
) -> SalesSeries:
    return await service.sales(session, customer_id, interval, principal, settings, clock)


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
    summary="Change a rule's settings (everyone it concerns is evaluated at the next pass)",
    responses=problem_responses(Unauthorized, Forbidden, RuleNotFound, ValidationFailed),
)
async def put_rule(
    rule: str, body: RuleConfig, session: SessionDep, principal: Admin, clock: ClockDep
) -> RuleOut:
    """The customers the rule concerns are evaluated again at the next maintenance pass
    (and `customer-history rules sweep`): a lower threshold raises, a higher one clears."""
    return await service.put_rule(session, rule, body, clock)
