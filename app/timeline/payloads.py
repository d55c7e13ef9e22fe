"""One payload model per event type family: what each kind of fact carries.

Every field says what a customer's erasure does with it: ``KEEP`` (what keeps company
figures true: ids of orders, tickets and payments, amounts, currencies, quantities,
skus, statuses, categories, scores, durations) or ``ERASE`` (whatever may say who the
customer is: names, addresses, phones, emails, subjects, notes, bodies, transcripts,
urls, comments). The erasure (``ch_redact``, in the database) keeps a field by its JSON
name wherever it occurs, so one name is kept everywhere or nowhere; its keep-list is
generated from these marks (``python -m migrations.keep_list``) and
``tests/privacy/test_keep_list.py`` fails when the installed list and the marks differ.
A kept object or list is redacted inside by the same list; strings in a list never stay.
"""

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal, Self
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.core.money import Amount, Currency

Short = Annotated[str, Field(max_length=200)]
Medium = Annotated[str, Field(max_length=1000)]
Long = Annotated[str, Field(max_length=10_000)]
Url = Annotated[str, Field(max_length=2000)]
# A count, a duration or a quantity; bounded as a PostgreSQL integer is (WooCommerce's
# quantities are read as Decimals: 1e5000 became an integer no JSON encoder writes).
Quantity = Annotated[int, Field(ge=0, le=2_147_483_647)]


class Erasure(StrEnum):
    """What a customer's erasure does with a payload field: ``Annotated[Short, KEEP]``."""

    KEEP = "keep"
    ERASE = "erase"


KEEP = Erasure.KEEP
ERASE = Erasure.ERASE


class Payload(BaseModel):
    """Base of every payload: unknown fields are refused so typos do not pass silently."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Outcome(StrEnum):
    SATISFIED = "satisfied"
    NEUTRAL = "neutral"
    UNSATISFIED = "unsatisfied"


class CallPayload(Payload):
    from_: Annotated[Short | None, ERASE] = Field(
        default=None, alias="from", description="Caller number"
    )
    to: Annotated[Short | None, ERASE] = None
    duration_s: Annotated[Quantity | None, KEEP] = None
    agent: Annotated[Short | None, KEEP] = None
    queue: Annotated[Short | None, KEEP] = None
    disposition: Annotated[Short | None, KEEP] = None
    recording_url: Annotated[Url | None, ERASE] = None
    notes: Annotated[Long | None, ERASE] = None
    transcript: Annotated[Long | None, ERASE] = Field(
        default=None, description="What was said, when the platform transcribes calls"
    )
    satisfaction: Annotated[Outcome | None, KEEP] = None
    tags: Annotated[list[Short], ERASE] = Field(default_factory=list)
    comments: Annotated[list[Long], ERASE] = Field(default_factory=list)
    call_id: Annotated[Short | None, KEEP] = None


class WrapUpPayload(Payload):
    """What the agent recorded when the call ended: its disposition and wrap-up codes."""

    call_id: Annotated[Short | None, KEEP] = Field(
        default=None, description="The telephony platform's id of the call"
    )
    disposition: Annotated[Short, KEEP] = Field(
        description="How the call ended for the business: resolved, callback, sale, promise "
        "to pay... (the center's own codes)"
    )
    wrap_up_codes: Annotated[list[Short], KEEP] = Field(
        default_factory=list, max_length=20, description="Why the customer called"
    )
    satisfaction: Annotated[Outcome | None, KEEP] = Field(
        default=None, description="The agent's reading of the customer's mood"
    )
    notes: Annotated[Long | None, ERASE] = None


class EmailPayload(Payload):
    from_: Annotated[Short | None, ERASE] = Field(default=None, alias="from")
    to: Annotated[list[Short], ERASE] = Field(default_factory=list)
    cc: Annotated[list[Short], ERASE] = Field(default_factory=list)
    subject: Annotated[Medium | None, ERASE] = None
    message_id: Annotated[Medium | None, ERASE] = None
    in_reply_to: Annotated[Medium | None, ERASE] = None
    excerpt: Annotated[Long | None, ERASE] = None
    url: Annotated[Url | None, ERASE] = Field(default=None, description="The link clicked")
    reason: Annotated[Medium | None, ERASE] = Field(default=None, description="Why it bounced")


class MeetingPayload(Payload):
    title: Annotated[Short | None, ERASE] = None
    attendees: Annotated[list[Short], ERASE] = Field(default_factory=list)
    location: Annotated[Short | None, ERASE] = None
    duration_min: Annotated[Quantity | None, KEEP] = None
    notes: Annotated[Long | None, ERASE] = None
    next_step: Annotated[Medium | None, ERASE] = Field(
        default=None, description="What was agreed to do next"
    )


class ChatPayload(Payload):
    conversation_id: Annotated[Short | None, KEEP] = None
    agent: Annotated[Short | None, KEEP] = None
    transcript: Annotated[Long | None, ERASE] = None
    satisfaction: Annotated[Outcome | None, KEEP] = None


class SocialPayload(Payload):
    network: Annotated[Short, KEEP]
    url: Annotated[Url | None, ERASE] = None
    text: Annotated[Long | None, ERASE] = None
    sentiment: Annotated[
        Annotated[str, Field(pattern="^(positive|neutral|negative)$")] | None, KEEP
    ] = None


class NotePayload(Payload):
    text: Annotated[Long, ERASE]
    pinned: Annotated[bool, KEEP] = False


class OrderItem(Payload):
    sku: Annotated[Short | None, KEEP] = None
    name: Annotated[Short | None, ERASE] = None
    qty: Annotated[Quantity, KEEP] = 1
    unit_price: Annotated[Amount | None, KEEP] = None


class OrderPayload(Payload):
    order_id: Annotated[Short, KEEP]
    items: Annotated[list[OrderItem], KEEP] = Field(default_factory=list)
    total: Annotated[Amount | None, KEEP] = None
    currency: Annotated[Currency | None, KEEP] = None
    status: Annotated[Short | None, KEEP] = None
    carrier: Annotated[Short | None, KEEP] = None
    tracking: Annotated[Short | None, ERASE] = None
    refund_amount: Annotated[Amount | None, KEEP] = None
    shipping_address: Annotated[dict[str, Any] | None, ERASE] = None

    @model_validator(mode="after")
    def _money_has_currency(self) -> Self:
        priced = (
            self.total is not None
            or self.refund_amount is not None
            or any(i.unit_price is not None for i in self.items)
        )
        if priced and self.currency is None:
            raise ValueError("currency is required when an amount is given")
        return self


class PaymentPayload(Payload):
    payment_id: Annotated[Short | None, KEEP] = None
    amount: Annotated[Amount, KEEP]
    currency: Annotated[Currency, KEEP]
    order_id: Annotated[Short | None, KEEP] = None
    invoice_id: Annotated[Short | None, KEEP] = None
    method: Annotated[Short | None, KEEP] = None
    reason: Annotated[Medium | None, ERASE] = None
    dispute_status: Annotated[Short | None, KEEP] = None


class InvoicePayload(Payload):
    invoice_id: Annotated[Short, KEEP]
    amount: Annotated[Amount, KEEP]
    currency: Annotated[Currency, KEEP]
    due_date: Annotated[date | None, KEEP] = None
    days_overdue: Annotated[Quantity | None, KEEP] = None


class TicketPayload(Payload):
    ticket_id: Annotated[Short, KEEP]
    category: Annotated[Short | None, KEEP] = None
    subject: Annotated[Medium | None, ERASE] = None
    description: Annotated[Long | None, ERASE] = Field(
        default=None, description="What the customer wrote when opening it"
    )
    status: Annotated[Short | None, KEEP] = None
    priority: Annotated[Short | None, KEEP] = None
    resolution: Annotated[Long | None, ERASE] = None
    satisfaction: Annotated[Outcome | None, KEEP] = None


class SurveyPayload(Payload):
    survey_id: Annotated[Short | None, KEEP] = None
    csat: Annotated[Annotated[int, Field(ge=1, le=5)] | None, KEEP] = None
    nps: Annotated[Annotated[int, Field(ge=0, le=10)] | None, KEEP] = None
    comment: Annotated[Long | None, ERASE] = None

    @model_validator(mode="after")
    def _has_a_score(self) -> Self:
        if self.csat is None and self.nps is None:
            raise ValueError("a survey answer carries csat (1-5) or nps (0-10)")
        return self


class QuotePayload(Payload):
    quote_id: Annotated[Short, KEEP]
    amount: Annotated[Amount | None, KEEP] = None
    currency: Annotated[Currency | None, KEEP] = None
    valid_until: Annotated[date | None, KEEP] = None
    items: Annotated[list[OrderItem], KEEP] = Field(default_factory=list)


class OpportunityPayload(Payload):
    opportunity_id: Annotated[Short, KEEP]
    stage: Annotated[Short | None, KEEP] = None
    amount: Annotated[Amount | None, KEEP] = None
    currency: Annotated[Currency | None, KEEP] = None
    probability: Annotated[Annotated[int, Field(ge=0, le=100)] | None, KEEP] = None


class PageViewPayload(Payload):
    url: Annotated[Url, ERASE]
    title: Annotated[Short | None, ERASE] = None
    referrer: Annotated[Url | None, ERASE] = None
    duration_s: Annotated[Quantity | None, KEEP] = None


class ContentPayload(Payload):
    content_id: Annotated[Short | None, KEEP] = None
    title: Annotated[Short | None, ERASE] = None
    url: Annotated[Url | None, ERASE] = None


class WebinarPayload(Payload):
    webinar_id: Annotated[Short | None, KEEP] = None
    title: Annotated[Short | None, ERASE] = None
    duration_min: Annotated[Quantity | None, KEEP] = None


class ProductUsagePayload(Payload):
    product: Annotated[Short, KEEP]
    feature: Annotated[Short | None, KEEP] = None
    count: Annotated[Quantity, KEEP] = 1


class PreferencePayload(Payload):
    preferences: Annotated[dict[str, Any], ERASE]


class ConsentPayload(Payload):
    channel: Annotated[Short, KEEP]
    purpose: Annotated[Short, KEEP]
    source: Annotated[Short, ERASE]
    evidence: Annotated[Url | None, ERASE] = None


class MergePayload(Payload):
    survivor_id: Annotated[UUID, KEEP]
    absorbed_id: Annotated[UUID, KEEP]
    identifiers_moved: Annotated[int, KEEP] = 0


class ErasurePayload(Payload):
    reason: Annotated[Medium, ERASE]
    requested_at: Annotated[str | None, ERASE] = None


class CorrectionPayload(Payload):
    corrects_event_id: Annotated[UUID, KEEP]
    reason: Annotated[Medium, ERASE]
    summary: Annotated[Annotated[str, Field(max_length=280)] | None, ERASE] = Field(
        default=None, description="The summary the original should have had"
    )
    # Kept: its fields are the original payload's, which the same keep-list redacts.
    payload: Annotated[dict[str, Any] | None, KEEP] = Field(
        default=None, description="Fields of the original payload that were wrong, corrected"
    )


class MessageChannel(StrEnum):
    SMS = "sms"
    WHATSAPP = "whatsapp"
    EMAIL = "email"


class MessagePayload(Payload):
    """A message to or from the customer through a provider, and what became of it."""

    message_id: Annotated[UUID | None, ERASE] = Field(
        default=None, description="The message (GET /v1/customers/{id}/messages)"
    )
    channel: Annotated[MessageChannel, KEEP]
    template: Annotated[Short | None, KEEP] = None
    language: Annotated[Short | None, KEEP] = None
    purpose: Annotated[Short | None, KEEP] = None
    provider: Annotated[Short | None, KEEP] = None
    provider_message_id: Annotated[Short | None, KEEP] = None
    status: Annotated[Short | None, KEEP] = Field(
        default=None, description="The provider's own word for it (delivered, undelivered...)"
    )
    error_code: Annotated[Short | None, KEEP] = None
    from_: Annotated[Short | None, ERASE] = Field(default=None, alias="from")
    to: Annotated[Short | None, ERASE] = None
    subject: Annotated[Medium | None, ERASE] = None
    body: Annotated[Long | None, ERASE] = None
    reason: Annotated[Medium | None, ERASE] = Field(default=None, description="Why it failed")
    alert_id: Annotated[UUID | None, KEEP] = Field(
        default=None, description="The alert whose rule sent it"
    )
    incident_id: Annotated[UUID | None, ERASE] = Field(
        default=None, description="The incident that sent it"
    )


class TaskPayload(Payload):
    """A follow-up task on the customer: created by an agent or from an alert, completed."""

    task_id: Annotated[UUID, KEEP] = Field(description="The task (GET /v1/tasks/{id})")
    title: Annotated[Medium, ERASE]
    assignee: Annotated[Short | None, KEEP] = Field(
        default=None, description="The agent it is assigned to"
    )
    due_at: Annotated[datetime | None, KEEP] = None
    alert_id: Annotated[UUID | None, KEEP] = Field(
        default=None, description="The alert it was created from"
    )


class CallbackPayload(Payload):
    """The customer asked to be called back, answering a message that offered it."""

    message_id: Annotated[UUID | None, ERASE] = None
    via: Annotated[Literal["link", "reply"], KEEP]
    slot: Annotated[Short | None, KEEP] = Field(
        default=None, description="The time the customer chose (RFC 3339), by the link"
    )
    text: Annotated[Long | None, ERASE] = Field(default=None, description="Their reply")


class CustomPayload(Payload):
    """A free object: an erasure keeps the fields named as a kept field of the catalog."""

    model_config = ConfigDict(extra="allow")
