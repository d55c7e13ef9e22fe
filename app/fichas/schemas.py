"""Bodies of the ficha and template API."""

from datetime import date, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SerializerFunctionWrapHandler,
    WithJsonSchema,
    model_serializer,
)

from app.alerts.schemas import FLAG_CODES
from app.core.money import Money
from app.customers.schemas import (
    ContactChannel,
    ContactHours,
    CustomerStatus,
    Tier,
)
from app.fichas.templates import (
    BASE_SECTIONS,
    SECTIONS,
    labels_json_schema,
    sections_json_schema,
)
from app.indicators.schemas import MESSAGE_EXAMPLE, MessageFinding, SalesPoint

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
    label: str = Field(description="Its name in the ficha's language")
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
    """What every section has: its label in the ficha's language (its kind is its key in
    `sections`). Nulls and empty lists and objects are left out at every depth: a field
    the schema does not require may be absent."""

    label: str

    # Unannotated on purpose: pydantic then documents the section's own fields, where a
    # return annotation would replace them with that type's schema.
    @model_serializer(mode="wrap")
    def _compact(self, handler: SerializerFunctionWrapHandler):
        return compact(handler(self))


class IdentitySection(Section):
    """Who the customer is, by what an agent must know beyond the name: what is usual
    (active, verified, speaking the ficha's language) is left out. An organisation's is
    labelled as one ("Empresa", "Company"), a person's as a customer."""

    display_name: str
    organization: str | None = Field(
        default=None, description="A contact person's organisation, by its name"
    )
    tier: Tier
    language: str | None = Field(
        default=None, description="The customer's language, when not the ficha's"
    )
    status: Literal[CustomerStatus.ERASED, CustomerStatus.MERGED] | None = Field(
        default=None, description="Absent while active"
    )
    unverified: Literal[True] | None = Field(
        default=None, description="Created from a contact not yet confirmed"
    )


ICON = "An icon code a UI maps to its own picture and colour: `<indicator>_<level>`"


class ValueAtAGlance(BaseModel):
    level: Literal["high", "medium", "low", "none"] = Field(
        description="The value segment's: high: champion; medium: loyal or at_risk; low: "
        "new, occasional, lapsed (or a segment this version does not know); none: no purchase"
    )
    icon: Literal["value_high", "value_medium", "value_low", "value_none"] = Field(description=ICON)


class SatisfactionAtAGlance(BaseModel):
    """Absent until the customer has rated a contact or answered a survey."""

    level: Literal["unhappy", "neutral", "happy"] = Field(
        description="The worse of the latest CSAT (1-2 unhappy, 3 neutral, 4-5 happy) and the "
        "latest NPS (0-6, 7-8, 9-10)"
    )
    icon: Literal["satisfaction_unhappy", "satisfaction_neutral", "satisfaction_happy"] = Field(
        description=ICON
    )


class ChurnAtAGlance(BaseModel):
    level: Literal["high", "medium", "low"] = Field(description="The churn risk")
    icon: Literal["churn_high", "churn_medium", "churn_low"] = Field(description=ICON)
    churn_reason: str | None = Field(default=None, description="Why, in the ficha's language")


class SentimentIndicator(BaseModel):
    """How the customer feels, by the latest message analysed (docs/text-analysis.md);
    absent until a message is."""

    level: Literal["angry", "negative", "neutral", "positive"] = Field(
        description="angry: abusive or very negative (score <= -0.7)"
    )
    icon: Literal[
        "sentiment_angry", "sentiment_negative", "sentiment_neutral", "sentiment_positive"
    ] = Field(description=ICON)
    trend: Literal["improving", "steady", "worsening"] | None = None
    last_message: MessageFinding | None = Field(
        default=None,
        description="The latest message: its sentiment, urgency and intents, with the words "
        "that triggered them",
    )


class OrganizationIndicators(BaseModel):
    """A contact person's organisation's value and satisfaction (they count every contact
    person's history), each where it differs from the person's own."""

    value: ValueAtAGlance | None = None
    satisfaction: SatisfactionAtAGlance | None = None


class IndicatorsSection(Section):
    value: ValueAtAGlance
    satisfaction: SatisfactionAtAGlance | None = None
    churn_risk: ChurnAtAGlance
    sentiment: SentimentIndicator | None = None
    organization: OrganizationIndicators | None = Field(
        default=None,
        description="A contact person's organisation, where it differs; absent otherwise",
    )


class FichaFlag(BaseModel):
    severity: Literal["info", "warning", "danger"]
    label: str = Field(description="In the ficha's language")
    alert_id: UUID | None = Field(
        default=None,
        description="The open alert that raised it (among GET /v1/alerts?customer_id=)",
    )
    orders: list[str] = Field(
        default_factory=list, description="An incident's flag: the customer's orders it affects"
    )


class FlagsSection(Section):
    items: dict[str, FichaFlag] = Field(
        default_factory=dict, description=f"Keyed by code ({FLAG_CODES}), each once"
    )


class OpenOrder(BaseModel):
    status: str
    total: Money | None = None
    carrier: str | None = None


class TicketItem(BaseModel):
    subject: str | None = None
    status: str | None = None
    resolution: str | None = None


class OpenItemsSection(Section):
    orders: dict[str, OpenOrder] = Field(
        default_factory=dict, description="Keyed by order id, latest change first"
    )
    tickets: dict[str, TicketItem] = Field(
        default_factory=dict, description="Keyed by ticket id, newest first"
    )
    disputes: list[str] = Field(default_factory=list, description="Payment ids of open disputes")
    overdue_invoices: list[str] = Field(
        default_factory=list, description="Invoice ids overdue and unpaid"
    )


class EventSummary(BaseModel):
    """An event as a ficha lists it: what happened, when, and what a person needs of its
    kind (the timeline has the whole event)."""

    occurred_at: datetime
    summary: str | None = Field(
        default=None,
        description="As its source gave it, else written in the ficha's language; a visit's "
        "page views are one item; absent for a note, whose `text` says it",
    )
    actor: str | None = None
    text: str | None = Field(default=None, description="A note's text")
    title: str | None = Field(default=None, description="A meeting's, content's or webinar's")
    next_step: str | None = Field(default=None, description="A meeting's agreed next step")
    amount: Money | None = Field(default=None, description="A quote's or opportunity's")
    valid_until: date | None = Field(default=None, description="Until when a quote holds")
    stage: str | None = Field(default=None, description="An opportunity's")
    subject: str | None = Field(default=None, description="A ticket's")
    status: str | None = Field(default=None, description="A ticket's, as this event left it")
    resolution: str | None = Field(default=None, description="A ticket's")
    pages: list[str] = Field(
        default_factory=list,
        description="A visit: the URLs of its page views (each within 30 minutes of the next), "
        "in the order seen",
    )


class EventsSection(Section):
    """The newest events of some types: recent interactions (the template's `types`),
    pinned notes, quotes and opportunities, web behaviour."""

    items: list[EventSummary] = Field(default_factory=list, description="Newest first")


class Product(BaseModel):
    sku: str
    name: str | None = Field(default=None, description="As the order's events named it")


class Purchase(BaseModel):
    status: str
    total: Money | None = None
    products: list[Product] = Field(default_factory=list, description="By SKU")


class PurchasesSection(Section):
    items: dict[str, Purchase] = Field(
        default_factory=dict, description="Keyed by order id, newest first"
    )


class TicketsSection(Section):
    items: dict[str, TicketItem] = Field(
        default_factory=dict, description="Keyed by ticket id, newest first"
    )


class PreferencesSection(Section):
    preferred_channel: ContactChannel | None = None
    contact_hours: list[ContactHours] = Field(default_factory=list)
    timezone: str | None = None
    content_interests: list[str] = Field(default_factory=list)
    do_not_call: bool = False
    notes: str | None = None


class ContactItem(BaseModel):
    """A contact person as a card shows them: how to name and reach them (their customer
    record has every identifier)."""

    display_name: str
    job_title: str | None = None
    phone: str | None = Field(default=None, description="Their first phone number, E.164")
    email: str | None = Field(default=None, description="Their first e-mail address")


class ContactsSection(Section):
    items: dict[str, ContactItem] = Field(
        default_factory=dict, description="An organisation's contact persons, keyed by customer id"
    )


class SalesSeriesSection(Section):
    interval: Literal["month", "quarter", "year"]
    items: list[SalesPoint] = Field(default_factory=list)


class OverdueInvoice(BaseModel):
    overdue_at: datetime
    amount: Money | None = None


class PaymentItem(BaseModel):
    at: datetime
    amount: Money | None = None
    order_id: str | None = None
    invoice_id: str | None = None
    reason: str | None = None


class DisputeItem(BaseModel):
    status: str
    opened_at: datetime


class CollectionsSection(Section):
    overdue_invoices: dict[str, OverdueInvoice] = Field(
        default_factory=dict, description="Keyed by invoice id"
    )
    failed_payments: dict[str, PaymentItem] = Field(
        default_factory=dict, description="Keyed by payment id, newest first"
    )
    disputes: dict[str, DisputeItem] = Field(
        default_factory=dict, description="Keyed by payment id"
    )
    payment_history: dict[str, PaymentItem] = Field(
        default_factory=dict, description="Payments received, keyed by payment id, newest first"
    )


class AlertBrief(BaseModel):
    """An open alert as a ficha lists it: the whole alert is in ``GET /v1/alerts``."""

    id: UUID
    title: str
    severity: str
    raised_at: datetime


class AlertsSection(Section):
    items: list[AlertBrief] = Field(default_factory=list, description="Newest first")


class FollowUp(BaseModel):
    id: UUID = Field(description="The task (GET /v1/tasks/{id})")
    title: str
    assignee: str | None = None
    due_at: datetime | None = None
    overdue: bool
    alert_id: UUID | None = Field(default=None, description="The alert it was created from")


class FollowUpsSection(Section):
    items: list[FollowUp] = Field(
        default_factory=list, description="Open follow-up tasks, soonest due first"
    )


class ConsentsSection(Section):
    channels: dict[str, dict[str, bool]] = Field(
        default_factory=dict,
        description="Per channel, per purpose (service, marketing), whether the customer "
        "consents, by the latest record (GET /v1/customers/{id} has each record)",
    )


class SegmentsSection(Section):
    value_segment: str
    tags: list[str] = Field(default_factory=list)


class FichaSections(BaseModel):
    """The sections a template names, keyed by kind, in the template's order; a section
    with nothing to show is left out (identity, indicators and flags excepted). Section
    kinds are an open set: skip one whose name you do not know."""

    identity: IdentitySection
    indicators: IndicatorsSection
    flags: FlagsSection
    open_items: OpenItemsSection | None = None
    recent_interactions: EventsSection | None = None
    purchases: PurchasesSection | None = None
    tickets: TicketsSection | None = None
    preferences: PreferencesSection | None = None
    pinned_notes: EventsSection | None = None
    contacts: ContactsSection | None = None
    sales_series: SalesSeriesSection | None = None
    opportunities_and_quotes: EventsSection | None = None
    collections: CollectionsSection | None = None
    behaviour: EventsSection | None = None
    alerts: AlertsSection | None = None
    follow_ups: FollowUpsSection | None = None
    consents: ConsentsSection | None = None
    segments: SegmentsSection | None = None

    _order: list[str] = PrivateAttr(default_factory=list)

    @classmethod
    def shown(cls, built: dict[str, dict[str, Any]]) -> "FichaSections":
        """The sections built, in the order they were built (the template's)."""
        sections = cls.model_validate(built)
        sections._order = list(built)
        return sections

    # Unannotated on purpose, as Section's.
    @model_serializer(mode="wrap")
    def _in_order(self, handler: SerializerFunctionWrapHandler):
        shown = handler(self)
        order = self._order or [name for name, section in shown.items() if section is not None]
        return {name: shown[name] for name in order}


class Ficha(BaseModel):
    """A customer card for one job, as of when it is answered: only the sections its
    template names, each saying only what is known, in the language its Content-Language
    header names."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "customer_id": "01933b8e-8a52-7cc2-9d0e-0c6f2b1e3a10",
                    "sections": {
                        "identity": {
                            "label": "Cliente",
                            "display_name": "José Núñez",
                            "organization": "Talleres Núñez S.L.",
                            "tier": "premium",
                        },
                        "indicators": {
                            "label": "Indicadores clave",
                            "value": {"level": "high", "icon": "value_high"},
                            "satisfaction": {"level": "unhappy", "icon": "satisfaction_unhappy"},
                            "churn_risk": {
                                "level": "medium",
                                "icon": "churn_medium",
                                "churn_reason": "2 contactos insatisfechos en 90 días",
                            },
                            "sentiment": {
                                "level": "angry",
                                "icon": "sentiment_angry",
                                "trend": "worsening",
                                "last_message": MESSAGE_EXAMPLE,
                            },
                        },
                        "flags": {
                            "label": "Avisos",
                            "items": {
                                "recurring_problem": {
                                    "severity": "warning",
                                    "label": "Problema recurrente",
                                    "alert_id": "01933b8e-8a52-7cc2-9d0e-0c6f2b1e3a13",
                                }
                            },
                        },
                        "tickets": {
                            "label": "Incidencias",
                            "items": {
                                "T-88": {"subject": "Late again", "status": "open"},
                                "T-71": {
                                    "subject": "Late",
                                    "status": "resolved",
                                    "resolution": "Resent by courier",
                                },
                            },
                        },
                        "recent_interactions": {
                            "label": "Interacciones recientes",
                            "items": [
                                {
                                    "occurred_at": "2026-11-02T09:15:00Z",
                                    "summary": "Llamada, 180 s",
                                    "actor": "agent-17",
                                }
                            ],
                        },
                    },
                    "actions": [
                        {"type": "call", "label": "Llamar", "target": "+34612345678"},
                        {
                            "type": "email",
                            "label": "Enviar email",
                            "target": "jose.nunez@example.com",
                        },
                    ],
                }
            ]
        }
    )

    customer_id: UUID
    sections: FichaSections
    actions: list[Action] = Field(description="Ways to reach the customer this job may use")
