"""Bodies of the ficha and template API."""

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    WithJsonSchema,
    model_serializer,
)

from app.alerts.schemas import AlertOut
from app.core.money import Money
from app.customers.schemas import (
    ConsentOut,
    ContactChannel,
    ContactHours,
    ContactOut,
    CustomerKind,
    CustomerRef,
    CustomerStatus,
    IdentifierRef,
    Tier,
)
from app.fichas.templates import (
    BASE_SECTIONS,
    SECTIONS,
    labels_json_schema,
    sections_json_schema,
)
from app.indicators.schemas import (
    FLAG_EXAMPLE,
    LAST_INTERACTION_EXAMPLE,
    MESSAGE_EXAMPLE,
    RISK_EXAMPLE,
    SATISFACTION_EXAMPLE,
    VALUE_EXAMPLE,
    ChurnRisk,
    Flag,
    LastInteraction,
    MessageFinding,
    RiskIndicators,
    SalesPoint,
    SatisfactionIndicators,
)
from app.timeline.catalog import Channel, Direction
from app.timeline.schemas import EVENT_TYPES

TEMPLATE_EXAMPLE: dict[str, Any] = {
    "sections": [
        {"name": "identity"},
        {"name": "indicators"},
        {"name": "flags"},
        {"name": "open_items"},
        {"name": "tickets", "limit": 5, "open_only": True},
        {"name": "recent_interactions", "limit": 10, "types": ["call.*", "email.*"]},
        {"name": "preferences"},
    ],
    "labels": {"es": {"open_items": "Pendiente"}},
}


class TemplateIn(BaseModel):
    """Sections in the order shown, each with its options; labels per language."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [TEMPLATE_EXAMPLE]})

    # Validated by app/fichas/templates.py, which names the section at fault; the schema
    # says what that admits.
    sections: Annotated[
        list[dict[str, Any]],
        Field(min_length=len(BASE_SECTIONS), max_length=len(SECTIONS)),
        WithJsonSchema(sections_json_schema()),
    ]
    labels: Annotated[dict[str, dict[str, str]], WithJsonSchema(labels_json_schema())] = Field(
        default_factory=dict
    )


class TemplateOut(BaseModel):
    role: str
    sections: list[dict[str, Any]]
    labels: dict[str, dict[str, str]]
    updated_at: datetime


class TemplateList(BaseModel):
    items: list[TemplateOut]


class Action(BaseModel):
    type: str = Field(description="call, email, sms, whatsapp")
    target: str


def compact(value: Any) -> Any:
    """``value`` without its nulls and its empty lists and objects, at every depth: a card
    shows what is known, and only that."""
    if isinstance(value, dict):
        kept = ((k, compact(v)) for k, v in value.items())
        return {k: v for k, v in kept if v is not None and v != [] and v != {}}
    if isinstance(value, list):
        return [compact(v) for v in value]
    return value


class Section(BaseModel):
    """What every section has: its name, its label in the ficha's language, and as of when
    its data is (now, or when the indicators were last derived). Nulls and empty lists are
    left out at every depth: a field the schema does not require may be absent."""

    name: str = Field(description="The section's kind: the same as its key in `sections`")
    label: str
    as_of: datetime

    # Unannotated on purpose: pydantic then documents the section's own fields, where a
    # return annotation would replace them with that type's schema.
    @model_serializer(mode="wrap")
    def _compact(self, handler: SerializerFunctionWrapHandler):
        return compact(handler(self))


class IdentitySection(Section):
    name: Literal["identity"]
    display_name: str
    kind: CustomerKind
    organization: CustomerRef | None = None
    identifiers: list[IdentifierRef] = Field(default_factory=list)
    language: str | None = None
    tier: Tier
    owner_id: str | None = None
    unverified: bool
    status: CustomerStatus


class ValueAtAGlance(BaseModel):
    lifetime_value: list[Money] = Field(default_factory=list)
    lifetime_value_base: Money
    order_count: int
    average_order_value: Money | None = None
    last_purchase_at: datetime | None = None
    segment: str = Field(description="As in the indicators' value.segment (an open set)")


class SentimentIndicator(BaseModel):
    """How the customer feels, by the latest message analysed (docs/text-analysis.md)."""

    level: Literal["angry", "negative", "neutral", "positive", "unknown"] = Field(
        description="angry: abusive or very negative (score <= -0.7); unknown: no message yet"
    )
    icon: Literal[
        "sentiment_angry",
        "sentiment_negative",
        "sentiment_neutral",
        "sentiment_positive",
        "sentiment_unknown",
    ] = Field(description="An icon code a UI maps to its own picture")
    trend: Literal["improving", "steady", "worsening"] | None = None
    negative_30d: int
    last_message: MessageFinding | None = Field(
        default=None,
        description="The latest message: its sentiment, urgency and intents, with the words "
        "that triggered them",
    )


class OrganizationIndicators(BaseModel):
    """A contact person's organisation, at a glance: its value and satisfaction count
    every contact person's history."""

    customer_id: UUID
    display_name: str
    value: ValueAtAGlance
    satisfaction: SatisfactionIndicators


class IndicatorsSection(Section):
    name: Literal["indicators"]
    value: ValueAtAGlance
    satisfaction: SatisfactionIndicators
    churn_risk: RiskIndicators
    last_interaction: LastInteraction | None = None
    sentiment: SentimentIndicator
    organization: OrganizationIndicators | None = Field(
        default=None, description="A contact person's organisation; absent otherwise"
    )


class FlagsSection(Section):
    name: Literal["flags"]
    items: list[Flag] = Field(default_factory=list)


class OpenOrder(BaseModel):
    order_id: str
    status: str
    total: Money | None = None
    since: datetime = Field(description="When it reached its status")
    carrier: str | None = None


class TicketItem(BaseModel):
    ticket_id: str
    status: str | None = None
    category: str | None = None
    opened_at: datetime | None = None
    resolved_at: datetime | None = None


class OpenItemsSection(Section):
    name: Literal["open_items"]
    orders: list[OpenOrder] = Field(default_factory=list)
    tickets: list[TicketItem] = Field(default_factory=list)
    disputes: list[str] = Field(default_factory=list, description="Payment ids of open disputes")
    overdue_invoices: list[str] = Field(
        default_factory=list, description="Invoice ids overdue and unpaid"
    )


class EventSummary(BaseModel):
    """An event as a ficha lists it (the timeline has the whole event)."""

    id: UUID
    type: str = Field(description=EVENT_TYPES)
    occurred_at: datetime
    channel: Channel
    direction: Direction | None = None
    summary: str
    actor: str | None = None


class EventsSection(Section):
    """The newest events of some types: recent interactions (the template's `types`),
    pinned notes, quotes and opportunities, web behaviour."""

    name: Literal["recent_interactions", "pinned_notes", "opportunities_and_quotes", "behaviour"]
    items: list[EventSummary] = Field(default_factory=list)


class Purchase(BaseModel):
    order_id: str
    placed_at: datetime | None = None
    status: str
    total: Money | None = None
    skus: list[str] = Field(default_factory=list)


class PurchasesSection(Section):
    name: Literal["purchases"]
    items: list[Purchase] = Field(default_factory=list)


class TicketsSection(Section):
    name: Literal["tickets"]
    items: list[TicketItem] = Field(default_factory=list)


class PreferencesSection(Section):
    name: Literal["preferences"]
    preferred_channel: ContactChannel | None = None
    contact_hours: list[ContactHours] = Field(default_factory=list)
    timezone: str | None = None
    content_interests: list[str] = Field(default_factory=list)
    do_not_call: bool = False
    notes: str | None = None


class ContactsSection(Section):
    name: Literal["contacts"]
    items: list[ContactOut] = Field(default_factory=list)


class SalesSeriesSection(Section):
    name: Literal["sales_series"]
    interval: Literal["month", "quarter", "year"]
    items: list[SalesPoint] = Field(default_factory=list)


class OverdueInvoice(BaseModel):
    invoice_id: str
    overdue_at: datetime
    amount: Money | None = None


class PaymentItem(BaseModel):
    payment_id: str
    type: str = Field(description="payment.received or payment.failed")
    at: datetime
    amount: Money | None = None
    order_id: str | None = None
    invoice_id: str | None = None
    reason: str | None = None


class DisputeItem(BaseModel):
    payment_id: str
    status: str
    opened_at: datetime
    at: datetime = Field(description="When it reached its status")


class CollectionsSection(Section):
    name: Literal["collections"]
    overdue_invoices: list[OverdueInvoice] = Field(default_factory=list)
    failed_payments: list[PaymentItem] = Field(default_factory=list)
    disputes: list[DisputeItem] = Field(default_factory=list)
    payment_history: list[PaymentItem] = Field(default_factory=list)


class AlertsSection(Section):
    name: Literal["alerts"]
    items: list[AlertOut] = Field(default_factory=list)


class FollowUp(BaseModel):
    id: UUID = Field(description="The task (GET /v1/tasks/{id})")
    title: str
    assignee: str | None = None
    due_at: datetime | None = None
    overdue: bool
    alert_id: UUID | None = Field(default=None, description="The alert it was created from")


class FollowUpsSection(Section):
    name: Literal["follow_ups"]
    items: list[FollowUp] = Field(
        default_factory=list, description="Open follow-up tasks, soonest due first"
    )


class ConsentsSection(Section):
    name: Literal["consents"]
    items: list[ConsentOut] = Field(default_factory=list)


class SegmentsSection(Section):
    name: Literal["segments"]
    value_segment: str
    churn_risk: ChurnRisk
    tags: list[str] = Field(default_factory=list)


FichaSection = Annotated[
    IdentitySection
    | IndicatorsSection
    | FlagsSection
    | OpenItemsSection
    | EventsSection
    | PurchasesSection
    | TicketsSection
    | PreferencesSection
    | ContactsSection
    | SalesSeriesSection
    | CollectionsSection
    | AlertsSection
    | FollowUpsSection
    | ConsentsSection
    | SegmentsSection,
    Field(discriminator="name"),
]


class Ficha(BaseModel):
    """A customer card for one job: only the sections its template names."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "customer_id": "01933b8e-8a52-7cc2-9d0e-0c6f2b1e3a10",
                    "role": "support",
                    "language": "es",
                    "generated_at": "2026-11-02T09:30:00Z",
                    "sections": {
                        "identity": {
                            "name": "identity",
                            "label": "Cliente",
                            "as_of": "2026-11-02T09:20:00Z",
                            "display_name": "José Núñez",
                            "kind": "person",
                            "organization": None,
                            "identifiers": [{"kind": "phone", "value": "+34612345678"}],
                            "language": "es",
                            "tier": "premium",
                            "owner_id": "agent-17",
                            "unverified": False,
                            "status": "active",
                        },
                        "indicators": {
                            "name": "indicators",
                            "label": "Indicadores",
                            "as_of": "2026-11-02T09:30:00Z",
                            "value": {
                                k: VALUE_EXAMPLE[k]
                                for k in (
                                    "lifetime_value",
                                    "lifetime_value_base",
                                    "order_count",
                                    "average_order_value",
                                    "last_purchase_at",
                                    "segment",
                                )
                            },
                            "satisfaction": SATISFACTION_EXAMPLE,
                            "churn_risk": RISK_EXAMPLE,
                            "last_interaction": LAST_INTERACTION_EXAMPLE,
                            "sentiment": {
                                "level": "angry",
                                "icon": "sentiment_angry",
                                "trend": "worsening",
                                "negative_30d": 2,
                                "last_message": MESSAGE_EXAMPLE,
                            },
                        },
                        "flags": {
                            "name": "flags",
                            "label": "Avisos",
                            "as_of": "2026-11-02T09:15:02Z",
                            "items": [FLAG_EXAMPLE],
                        },
                        "recent_interactions": {
                            "name": "recent_interactions",
                            "label": "Interacciones recientes",
                            "as_of": "2026-11-02T09:30:00Z",
                            "items": [
                                {
                                    "id": "01933b8e-8a52-7cc2-9d0e-0c6f2b1e3a12",
                                    "type": "call.completed",
                                    "occurred_at": "2026-11-02T09:15:00Z",
                                    "channel": "phone",
                                    "direction": "inbound",
                                    "summary": "Call from +34612345678, 3 min",
                                    "actor": "agent-17",
                                }
                            ],
                        },
                    },
                    "actions": [
                        {"type": "call", "target": "+34612345678"},
                        {"type": "email", "target": "jose.nunez@example.com"},
                    ],
                }
            ]
        }
    )

    customer_id: UUID
    role: str = Field(description="An open set: the job roles, and any an admin adds")
    language: str
    generated_at: datetime
    sections: dict[str, FichaSection] = Field(
        description="Keyed by section name, in template order; each names its kind in "
        "`name` (the same as its key). Section kinds are an open set: skip one whose name "
        "you do not know."
    )
    actions: list[Action] = Field(description="Ways to reach the customer this job may use")
