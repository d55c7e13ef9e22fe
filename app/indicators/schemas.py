"""Bodies of the indicators, sales series and rules API."""

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from app.alerts.schemas import FLAG_CODES, RULE_NAMES
from app.core.money import Money
from app.customers.schemas import Tier
from app.indicators.shapes import ChurnLevel


class Flag(BaseModel):
    code: str = Field(description=FLAG_CODES)
    severity: Literal["info", "warning", "danger"]
    label: str


ChurnRisk = Literal[ChurnLevel.LOW, ChurnLevel.MEDIUM, ChurnLevel.HIGH]


class ValueIndicators(BaseModel):
    """What the customer is worth: purchases, refunds, disputes, invoices."""

    lifetime_value: list[Money] = Field(
        description="Orders and standalone payments minus refunds, one entry per currency"
    )
    lifetime_value_base: Money = Field(
        description="The same in the base currency (CH_BASE_CURRENCY), from CH_CURRENCY_RATES"
    )
    unconverted_currencies: list[str] = Field(
        description="Currencies without a rate, left out of lifetime_value_base"
    )
    order_count: int
    average_order_value: Money | None = Field(description="In the base currency")
    first_purchase_at: datetime | None
    last_purchase_at: datetime | None
    median_days_between_purchases: float | None
    open_orders: list[str] = Field(description="Order ids not yet delivered or cancelled")
    refunds: int
    disputes: int
    open_disputes: list[str] = Field(description="Payment ids of disputes not closed")
    overdue_invoices: list[str] = Field(description="Invoice ids overdue and unpaid")
    segment: str = Field(
        description="Open set, today: none, new, occasional, loyal, champion, at_risk, lapsed",
        examples=["loyal"],
    )


class ServiceIndicators(BaseModel):
    """Support: tickets and recurring problems."""

    open_tickets: list[str] = Field(description="Ticket ids not resolved")
    tickets_90d: int
    recurring_problems: list[str] = Field(description="Categories opened twice in 60 days")
    ticket_categories_60d: dict[str, int]
    average_resolution_hours: float | None


class SatisfactionIndicators(BaseModel):
    """Surveys and rated contacts (corrections applied)."""

    last_csat: int | None = Field(description="1-5")
    last_nps: int | None = Field(description="0-10")
    csat_90d_average: float | None
    nps_90d_average: float | None
    unsatisfied_90d: int = Field(
        description="CSAT <= 2, NPS <= 6 or a contact rated unsatisfied, in 90 days"
    )


class LastInteraction(BaseModel):
    at: datetime
    channel: str = Field(description="The event's channel")
    type: str = Field(description="The event's type")


class ContactIndicators(BaseModel):
    """Recent contact: the last interaction and missed or abandoned calls."""

    last_interaction: LastInteraction | None
    missed_calls_today: int = Field(description="Since midnight UTC")
    missed_calls_4h: int


class RiskIndicators(BaseModel):
    churn: ChurnRisk
    churn_reason: str | None


VALUE_EXAMPLE: dict[str, Any] = {
    "lifetime_value": [
        {"amount": "1240.50", "currency": "EUR"},
        {"amount": "80.00", "currency": "USD"},
    ],
    "lifetime_value_base": {"amount": "1314.10", "currency": "EUR"},
    "unconverted_currencies": [],
    "order_count": 7,
    "average_order_value": {"amount": "187.73", "currency": "EUR"},
    "first_purchase_at": "2025-03-14T10:02:00Z",
    "last_purchase_at": "2026-10-28T18:45:00Z",
    "median_days_between_purchases": 61.0,
    "open_orders": ["SO-1001"],
    "refunds": 1,
    "disputes": 0,
    "open_disputes": [],
    "overdue_invoices": [],
    "segment": "champion",
}
SATISFACTION_EXAMPLE: dict[str, Any] = {
    "last_csat": 2,
    "last_nps": None,
    "csat_90d_average": 2.5,
    "nps_90d_average": None,
    "unsatisfied_90d": 2,
}
RISK_EXAMPLE: dict[str, Any] = {
    "churn": "medium",
    "churn_reason": "2 unsatisfied contacts in 90 days",
}
LAST_INTERACTION_EXAMPLE: dict[str, Any] = {
    "at": "2026-11-02T09:15:00Z",
    "channel": "phone",
    "type": "call.completed",
}
FLAG_EXAMPLE: dict[str, Any] = {"code": "at_risk", "severity": "danger", "label": "At risk"}


class IndicatorsOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "customer_id": "01933b8e-8a52-7cc2-9d0e-0c6f2b1e3a10",
                    "as_of": "2026-11-02T09:30:00Z",
                    "value": VALUE_EXAMPLE,
                    "service": {
                        "open_tickets": ["T-88"],
                        "tickets_90d": 2,
                        "recurring_problems": ["delivery"],
                        "ticket_categories_60d": {"delivery": 2},
                        "average_resolution_hours": 26.5,
                    },
                    "satisfaction": SATISFACTION_EXAMPLE,
                    "contact": {
                        "last_interaction": LAST_INTERACTION_EXAMPLE,
                        "missed_calls_today": 1,
                        "missed_calls_4h": 1,
                    },
                    "risk": RISK_EXAMPLE,
                    "flags": [FLAG_EXAMPLE],
                }
            ]
        }
    )

    customer_id: UUID
    as_of: datetime
    value: ValueIndicators
    service: ServiceIndicators
    satisfaction: SatisfactionIndicators
    contact: ContactIndicators
    risk: RiskIndicators
    flags: list[Flag] = Field(description="Set by the rules at the last evaluation")


class RuleOut(BaseModel):
    rule: str = Field(description=RULE_NAMES)
    config: dict[str, Any]


class RuleList(BaseModel):
    items: list[RuleOut]


class RuleConfig(BaseModel):
    """Thresholds of a rule; omitted fields keep their defaults."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"enabled": True, "threshold": 3}]}
    )

    enabled: bool = True
    threshold: Annotated[int, Field(ge=1, le=1000)] | None = None
    tiers: list[Tier] | None = None


class SalesPoint(BaseModel):
    """Orders placed in one period in one currency, refunds subtracted."""

    period: str = Field(examples=["2026-11", "2026-Q4", "2026"])
    orders: int
    total: Money


class SalesSeries(BaseModel):
    customer_id: UUID
    interval: Literal["month", "quarter", "year"]
    items: list[SalesPoint]
