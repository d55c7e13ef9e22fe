"""Bodies of the indicators, sales series and rules API."""

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from app.alerts.schemas import FLAG_CODES, RULE_NAMES
from app.core.money import Money
from app.customers.schemas import Tier
from app.indicators.shapes import ChurnLevel
from app.text.rules import Intent, UrgencyReason
from app.text.schemas import SentimentLabel, UrgencyFinding, UrgencyLevel


class Flag(BaseModel):
    code: str = Field(description=FLAG_CODES)
    severity: Literal["info", "warning", "danger"]
    label: str
    orders: list[str] | None = Field(
        default=None, description="An incident's flag: the customer's orders it affects"
    )


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

    last_csat: int | None = Field(default=None, description="1-5")
    last_nps: int | None = Field(default=None, description="0-10")
    csat_90d_average: float | None = None
    nps_90d_average: float | None = None
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


class ChurnCause(BaseModel):
    """Why a churn risk is what it is, for a reader that words it in its own language."""

    code: str = Field(
        description="An open set: unsatisfied: `count` unsatisfied contacts in 90 days; "
        "cancellation, legal_threat: said in a message on `date`; silence: no purchase for "
        "`days` days where the customer `usually` bought every so many days"
    )
    count: int | None = None
    date: str | None = Field(default=None, description="YYYY-MM-DD")
    days: int | None = None
    usually: int | None = None


class RiskIndicators(BaseModel):
    churn: ChurnRisk
    churn_reason: str | None = Field(default=None, description="Why, in English")
    churn_cause: ChurnCause | None = None


class MatchedTerms(BaseModel):
    """The words of a message that the rules matched (folded), by what they told."""

    sentiment: list[str] = Field(default_factory=list)
    urgency: list[UrgencyFinding] = Field(default_factory=list)
    intents: dict[str, list[str]] = Field(default_factory=dict, description="By intent")
    abusive: list[str] = Field(default_factory=list)


class MessageFinding(BaseModel):
    """What the analysis of one of the customer's messages found (docs/text-analysis.md)."""

    at: datetime
    event_id: UUID
    language: str | None = None
    sentiment: SentimentLabel
    score: float = Field(ge=-1, le=1)
    urgency: UrgencyLevel
    reasons: list[UrgencyReason] = Field(
        default_factory=list, description="Why it is urgent (none: it is not)"
    )
    intents: list[Intent] = Field(default_factory=list)
    abusive: bool
    terms: MatchedTerms | None = Field(
        default=None, description="Null once the customer was erased"
    )


class UrgentMessage(BaseModel):
    at: datetime
    event_id: UUID
    reasons: list[UrgencyReason]


class AngryMessage(BaseModel):
    at: datetime
    event_id: UUID
    abusive: bool
    score: float = Field(ge=-1, le=1)


class ChurnSignal(BaseModel):
    at: datetime
    event_id: UUID
    intent: Literal["cancellation", "legal_threat"]


class TextIndicators(BaseModel):
    """What the customer's analysed messages say: e-mails received, chats, mentions,
    survey comments, tickets, calls' notes and transcripts."""

    last_inbound: MessageFinding | None = Field(description="The latest analysed message")
    negative_30d: int = Field(description="Negative messages in 30 days")
    sentiment_trend: Literal["improving", "steady", "worsening"] | None = Field(
        description="Mean sentiment of the last 30 days against the 60 before (a change of "
        "0.2 or more); null without messages in both"
    )
    urgent_24h: list[UrgentMessage] = Field(description="High-urgency messages in 24 hours")
    angry_24h: list[AngryMessage] = Field(
        description="Abusive or very negative (score <= -0.7) messages in 24 hours"
    )
    churn_signal: ChurnSignal | None = Field(
        description="The latest message of 90 days asking to cancel or threatening legal action"
    )


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
MESSAGE_EXAMPLE: dict[str, Any] = {
    "at": "2026-11-02T09:10:00Z",
    "event_id": "01933b8e-8a52-7cc2-9d0e-0c6f2b1e3a11",
    "language": "es",
    "sentiment": "negative",
    "score": -0.81,
    "urgency": "high",
    "reasons": ["deadline", "urgent_word"],
    "intents": ["delivery", "complaint"],
    "abusive": False,
    "terms": {
        "sentiment": ["inaceptable", "muy enfadada"],
        "urgency": [
            {"reason": "urgent_word", "term": "urgente"},
            {"reason": "deadline", "term": "hoy mismo"},
        ],
        "intents": {"delivery": ["pedido"], "complaint": ["inaceptable"]},
        "abusive": [],
    },
}
TEXT_EXAMPLE: dict[str, Any] = {
    "last_inbound": MESSAGE_EXAMPLE,
    "negative_30d": 2,
    "sentiment_trend": "worsening",
    "urgent_24h": [
        {
            "at": "2026-11-02T09:10:00Z",
            "event_id": "01933b8e-8a52-7cc2-9d0e-0c6f2b1e3a11",
            "reasons": ["deadline", "urgent_word"],
        }
    ],
    "angry_24h": [
        {
            "at": "2026-11-02T09:10:00Z",
            "event_id": "01933b8e-8a52-7cc2-9d0e-0c6f2b1e3a11",
            "abusive": False,
            "score": -0.81,
        }
    ],
    "churn_signal": None,
}
RISK_EXAMPLE: dict[str, Any] = {
    "churn": "medium",
    "churn_reason": "2 unsatisfied contacts in 90 days",
    "churn_cause": {"code": "unsatisfied", "count": 2},
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
                    "text": TEXT_EXAMPLE,
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
    text: TextIndicators
    flags: list[Flag] = Field(description="Set by the rules at the last evaluation")


class RuleOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "rule": "unsatisfied_streak",
                    "config": {"enabled": True, "threshold": 3, "actions": []},
                    "windows": {"days": 90},
                }
            ]
        }
    )

    rule: str = Field(description=RULE_NAMES)
    config: dict[str, Any] = Field(
        description="Its settings, each settable with PUT /v1/rules/{rule} (RuleConfig)"
    )
    windows: dict[str, int] = Field(
        default_factory=dict,
        description="What it counts over (days, hours): the indicators' windows, not settable",
    )


class RuleList(BaseModel):
    items: list[RuleOut]


class MessageAction(BaseModel):
    """Message the customer with a template ``after_minutes`` after the alert is raised,
    if it is still open then (neither acknowledged nor cleared)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["message"] = "message"
    template: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,79}$")] = Field(
        description="A message template (GET /v1/message-templates); its fields are the "
        "alert's details and alert_title"
    )
    after_minutes: Annotated[int, Field(ge=0, le=10_080)] = 0


class FollowUpAction(BaseModel):
    """Create a follow-up task when an alert of the rule is raised, once per alert (at the
    next maintenance pass), due ``due_minutes`` after the alert."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["create_follow_up"]
    title: Annotated[str, Field(min_length=1, max_length=300)] | None = Field(
        default=None, description="The alert's title when omitted"
    )
    assignee: Annotated[str, Field(min_length=1, max_length=200)] | None = Field(
        default=None, description="An agent id; the customer's owner when omitted"
    )
    due_minutes: Annotated[int, Field(ge=0, le=43_200)] = 0


# No discriminator: a message action may leave its kind out, as it always could.
RuleAction = MessageAction | FollowUpAction


class RuleConfig(BaseModel):
    """Thresholds of a rule; omitted fields keep their defaults."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"enabled": True, "threshold": 3},
                {
                    "actions": [
                        {"kind": "message", "template": "abandoned_calls", "after_minutes": 30},
                        {"kind": "create_follow_up", "due_minutes": 60},
                    ]
                },
            ]
        },
    )

    enabled: bool = True
    threshold: Annotated[int, Field(ge=1, le=1000)] | None = None
    tiers: list[Tier] | None = None
    actions: list[RuleAction] | None = Field(
        default=None, max_length=5, description="What to do while an alert of the rule is open"
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
