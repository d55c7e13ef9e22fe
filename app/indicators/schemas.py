"""Bodies of the indicators, rules, alerts, incidents, routing, segments and reports API."""

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.core.money import Money
from app.core.timestamps import Timestamp
from app.customers.schemas import ContactChannel, Purpose, Tier

FLAG_CODES = (
    "Open set (show an unknown one by its label): today at_risk, abandoned_calls, "
    "recurring_problem, open_dispute, incident_affected"
)
RULE_NAMES = (
    "Open set: today unsatisfied_streak, premium_abandoned_calls, recurring_problem, "
    "open_dispute, incident_affected"
)


class Flag(BaseModel):
    code: str = Field(description=FLAG_CODES)
    severity: Literal["info", "warning", "danger"]
    label: str


ChurnRisk = Literal["low", "medium", "high"]


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


class AlertOut(BaseModel):
    id: UUID
    customer_id: UUID
    rule: str = Field(description=RULE_NAMES)
    code: str = Field(description=FLAG_CODES)
    severity: str
    title: str
    detail: dict[str, Any]
    owner_id: str | None
    status: Literal["open", "acknowledged", "cleared"]
    raised_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None = Field(description="The agent who acknowledged it")
    acknowledged_by_key_id: UUID | None = Field(
        default=None, description="The API key it was acknowledged with"
    )
    cleared_at: datetime | None


class AlertPage(BaseModel):
    items: list[AlertOut]
    next_cursor: str | None


class ShipmentMatcher(BaseModel):
    """Orders shipped (by a carrier) between two times and not delivered."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["shipment_delay"] = "shipment_delay"
    carrier: Annotated[str, Field(max_length=200)] | None = None
    shipped_from: Timestamp
    shipped_to: Timestamp

    @model_validator(mode="after")
    def _ordered(self) -> "ShipmentMatcher":
        if self.shipped_to <= self.shipped_from:
            raise ValueError("shipped_to must be after shipped_from")
        return self


class IncidentIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "title": "SEUR delays in Madrid",
                    "matcher": {
                        "kind": "shipment_delay",
                        "carrier": "SEUR",
                        "shipped_from": "2026-11-20T00:00:00+01:00",
                        "shipped_to": "2026-11-23T00:00:00+01:00",
                    },
                }
            ]
        },
    )

    title: Annotated[str, Field(min_length=1, max_length=300)]
    matcher: ShipmentMatcher


class IncidentOut(BaseModel):
    id: UUID
    title: str
    matcher: dict[str, Any]
    status: Literal["open", "closed"]
    declared_at: datetime
    closed_at: datetime | None
    affected: int = Field(description="Customers it affects, of those the caller may see")
    queue: str


class IncidentList(BaseModel):
    items: list[IncidentOut]


class RoutingPolicy(BaseModel):
    """How callers are queued and prioritised; admin-editable."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "default_queue": "default",
                    "unknown_priority": 10,
                    "tiers": {
                        "vip": {"queue": "vip", "priority": 70},
                        "premium": {"queue": "premium", "priority": 50},
                        "standard": {"queue": "default", "priority": 20},
                    },
                    "flag_priority": {"open_dispute": 20, "abandoned_calls": 25, "at_risk": 15},
                    "incident_priority": 60,
                    "language_queues": {"pt": "support-pt"},
                }
            ]
        },
    )

    default_queue: Annotated[str, Field(min_length=1, max_length=100)] = "default"
    unknown_priority: Annotated[int, Field(ge=0, le=100)] = 10
    tiers: dict[Tier, dict[str, Any]] = Field(
        default_factory=lambda: {
            Tier.VIP: {"queue": "vip", "priority": 70},
            Tier.PREMIUM: {"queue": "premium", "priority": 50},
            Tier.STANDARD: {"queue": "default", "priority": 20},
        }
    )
    flag_priority: dict[str, Annotated[int, Field(ge=0, le=100)]] = Field(
        default_factory=lambda: {
            "open_dispute": 20,
            "abandoned_calls": 25,
            "at_risk": 15,
            "recurring_problem": 10,
        }
    )
    incident_priority: Annotated[int, Field(ge=0, le=100)] = 60
    language_queues: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _tier_entries(self) -> "RoutingPolicy":
        for tier, entry in self.tiers.items():
            if not isinstance(entry.get("queue"), str) or not isinstance(
                entry.get("priority"), int
            ):
                raise ValueError(f"tiers.{tier.value} needs a queue (text) and a priority (0-100)")
        return self


class RoutingAnswer(BaseModel):
    known: bool
    phone: str
    customer_id: UUID | None = None
    display_name: str | None = None
    language: str | None = None
    tier: Tier | None = None
    priority: int
    queue: str
    reasons: list[str]


class SegmentQuery(BaseModel):
    """Who to contact: every filter given must hold; consent and do-not-call are enforced."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "channel": "email",
                    "purpose": "marketing",
                    "tier": ["premium", "vip"],
                    "churn_risk": ["high"],
                    "last_purchase_before": "2026-06-01T00:00:00Z",
                    "limit": 100,
                }
            ]
        },
    )

    channel: ContactChannel
    purpose: Purpose = Purpose.MARKETING
    tier: list[Tier] | None = None
    tags: list[Annotated[str, Field(max_length=50)]] | None = None
    owner_id: Annotated[str, Field(max_length=200)] | None = None
    value_segment: list[str] | None = None
    churn_risk: list[ChurnRisk] | None = None
    has_flag: Annotated[str, Field(max_length=80)] | None = None
    has_open_order: bool | None = None
    last_purchase_before: Timestamp | None = None
    last_purchase_after: Timestamp | None = None
    bought_sku: Annotated[str, Field(max_length=200)] | None = None
    language: Annotated[str, Field(max_length=35)] | None = None
    country: Annotated[str, Field(min_length=2, max_length=2)] | None = None
    limit: Annotated[int, Field(ge=1, le=1000)] = 100
    cursor: Annotated[str, Field(max_length=500)] | None = None


class SegmentMember(BaseModel):
    customer_id: UUID
    display_name: str
    language: str | None
    tier: Tier
    channel: ContactChannel
    contact: str = Field(description="Where to reach them on the channel asked for")


class SegmentPage(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "items": [
                        {
                            "customer_id": "01933b8e-8a52-7cc2-9d0e-0c6f2b1e3a10",
                            "display_name": "José Núñez",
                            "language": "es",
                            "tier": "premium",
                            "channel": "email",
                            "contact": "jose.nunez@example.com",
                        }
                    ],
                    "next_cursor": None,
                    "matched": 3,
                    "excluded": {"no_consent": 1, "do_not_call": 0, "no_contact": 1},
                }
            ]
        }
    )

    items: list[SegmentMember]
    next_cursor: str | None
    matched: int = Field(description="Customers matching the filters")
    excluded: dict[str, int] = Field(
        description="Left out: no_consent, do_not_call, no_contact for the channel"
    )


class SalesPoint(BaseModel):
    """Orders placed in one period in one currency, refunds subtracted."""

    period: str = Field(examples=["2026-11", "2026-Q4", "2026"])
    orders: int
    total: Money


class SalesSeries(BaseModel):
    customer_id: UUID
    interval: Literal["month", "quarter", "year"]
    items: list[SalesPoint]


class SummaryReport(BaseModel):
    period_from: datetime
    period_to: datetime
    revenue: list[Money] = Field(description="Per currency: orders minus refunds")
    orders: int
    average_order_value: list[Money] = Field(description="Per currency")
    customers: int
    repeat_purchase_rate: float | None
    retention_rate: float | None
    top_products: list[dict[str, Any]]
    top_ticket_categories: list[dict[str, Any]]
