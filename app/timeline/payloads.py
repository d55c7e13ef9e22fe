"""One payload model per event type family: what each kind of fact carries."""

from datetime import date
from enum import StrEnum
from typing import Annotated, Any, Self
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.core.money import Amount, Currency

Short = Annotated[str, Field(max_length=200)]
Long = Annotated[str, Field(max_length=10_000)]


class Payload(BaseModel):
    """Base of every payload: unknown fields are refused so typos do not pass silently."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Outcome(StrEnum):
    SATISFIED = "satisfied"
    NEUTRAL = "neutral"
    UNSATISFIED = "unsatisfied"


class CallPayload(Payload):
    from_: Short | None = Field(default=None, alias="from", description="Caller number")
    to: Short | None = None
    duration_s: Annotated[int, Field(ge=0)] | None = None
    agent: Short | None = None
    queue: Short | None = None
    disposition: Short | None = None
    recording_url: Annotated[str, Field(max_length=2000)] | None = None
    notes: Long | None = None
    satisfaction: Outcome | None = None
    tags: list[Short] = Field(default_factory=list)
    comments: list[Long] = Field(default_factory=list)
    call_id: Short | None = None


class EmailPayload(Payload):
    from_: Short | None = Field(default=None, alias="from")
    to: list[Short] = Field(default_factory=list)
    cc: list[Short] = Field(default_factory=list)
    subject: Annotated[str, Field(max_length=1000)] | None = None
    message_id: Annotated[str, Field(max_length=1000)] | None = None
    in_reply_to: Annotated[str, Field(max_length=1000)] | None = None
    excerpt: Long | None = None
    url: Annotated[str, Field(max_length=2000)] | None = Field(
        default=None, description="The link clicked"
    )
    reason: Annotated[str, Field(max_length=1000)] | None = Field(
        default=None, description="Why it bounced"
    )


class MeetingPayload(Payload):
    title: Short | None = None
    attendees: list[Short] = Field(default_factory=list)
    location: Short | None = None
    duration_min: Annotated[int, Field(ge=0)] | None = None
    notes: Long | None = None


class ChatPayload(Payload):
    conversation_id: Short | None = None
    agent: Short | None = None
    transcript: Long | None = None
    satisfaction: Outcome | None = None


class SocialPayload(Payload):
    network: Short
    url: Annotated[str, Field(max_length=2000)] | None = None
    text: Long | None = None
    sentiment: Annotated[str, Field(pattern="^(positive|neutral|negative)$")] | None = None


class NotePayload(Payload):
    text: Long
    pinned: bool = False


class OrderItem(Payload):
    sku: Short | None = None
    name: Short | None = None
    qty: Annotated[int, Field(ge=0)] = 1
    unit_price: Amount | None = None


class OrderPayload(Payload):
    order_id: Short
    items: list[OrderItem] = Field(default_factory=list)
    total: Amount | None = None
    currency: Currency | None = None
    status: Short | None = None
    carrier: Short | None = None
    tracking: Short | None = None
    refund_amount: Amount | None = None
    shipping_address: dict[str, Any] | None = None

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
    payment_id: Short | None = None
    amount: Amount
    currency: Currency
    order_id: Short | None = None
    invoice_id: Short | None = None
    method: Short | None = None
    reason: Annotated[str, Field(max_length=1000)] | None = None
    dispute_status: Short | None = None


class InvoicePayload(Payload):
    invoice_id: Short
    amount: Amount
    currency: Currency
    due_date: date | None = None
    days_overdue: Annotated[int, Field(ge=0)] | None = None


class TicketPayload(Payload):
    ticket_id: Short
    category: Short | None = None
    subject: Annotated[str, Field(max_length=1000)] | None = None
    status: Short | None = None
    priority: Short | None = None
    resolution: Long | None = None
    satisfaction: Outcome | None = None


class SurveyPayload(Payload):
    survey_id: Short | None = None
    csat: Annotated[int, Field(ge=1, le=5)] | None = None
    nps: Annotated[int, Field(ge=0, le=10)] | None = None
    comment: Long | None = None

    @model_validator(mode="after")
    def _has_a_score(self) -> Self:
        if self.csat is None and self.nps is None:
            raise ValueError("a survey answer carries csat (1-5) or nps (0-10)")
        return self


class QuotePayload(Payload):
    quote_id: Short
    amount: Amount | None = None
    currency: Currency | None = None
    valid_until: date | None = None
    items: list[OrderItem] = Field(default_factory=list)


class OpportunityPayload(Payload):
    opportunity_id: Short
    stage: Short | None = None
    amount: Amount | None = None
    currency: Currency | None = None
    probability: Annotated[int, Field(ge=0, le=100)] | None = None


class PageViewPayload(Payload):
    url: Annotated[str, Field(max_length=2000)]
    title: Short | None = None
    referrer: Annotated[str, Field(max_length=2000)] | None = None
    duration_s: Annotated[int, Field(ge=0)] | None = None


class ContentPayload(Payload):
    content_id: Short | None = None
    title: Short | None = None
    url: Annotated[str, Field(max_length=2000)] | None = None


class WebinarPayload(Payload):
    webinar_id: Short | None = None
    title: Short | None = None
    duration_min: Annotated[int, Field(ge=0)] | None = None


class ProductUsagePayload(Payload):
    product: Short
    feature: Short | None = None
    count: Annotated[int, Field(ge=0)] = 1


class PreferencePayload(Payload):
    preferences: dict[str, Any]


class ConsentPayload(Payload):
    channel: Short
    purpose: Short
    source: Short
    evidence: Annotated[str, Field(max_length=2000)] | None = None


class MergePayload(Payload):
    survivor_id: UUID
    absorbed_id: UUID
    identifiers_moved: int = 0


class ErasurePayload(Payload):
    reason: Annotated[str, Field(max_length=1000)]
    requested_at: str | None = None


class CorrectionPayload(Payload):
    corrects_event_id: UUID
    reason: Annotated[str, Field(max_length=1000)]
    summary: Annotated[str, Field(max_length=280)] | None = Field(
        default=None, description="The summary the original should have had"
    )
    payload: dict[str, Any] | None = Field(
        default=None, description="Fields of the original payload that were wrong, corrected"
    )


class CustomPayload(Payload):
    model_config = ConfigDict(extra="allow")
