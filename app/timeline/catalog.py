"""The event catalog: every normalised type, its payload model and default channel."""

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from app.timeline.payloads import (
    CallPayload,
    ChatPayload,
    ConsentPayload,
    ContentPayload,
    CorrectionPayload,
    CustomPayload,
    EmailPayload,
    ErasurePayload,
    InvoicePayload,
    MeetingPayload,
    MergePayload,
    NotePayload,
    OpportunityPayload,
    OrderPayload,
    PageViewPayload,
    Payload,
    PaymentPayload,
    PreferencePayload,
    ProductUsagePayload,
    QuotePayload,
    SocialPayload,
    SurveyPayload,
    TicketPayload,
    WebinarPayload,
)

CUSTOM_PREFIX = "custom."


class Channel(StrEnum):
    """Where an event happened."""

    PHONE = "phone"
    EMAIL = "email"
    WEB = "web"
    STORE = "store"
    CHAT = "chat"
    SOCIAL = "social"
    IN_PERSON = "in_person"
    SYSTEM = "system"


class Direction(StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


@dataclass(frozen=True, slots=True)
class EventType:
    name: str
    payload: type[Payload]
    channel: Channel
    description: str


def _types(channel: Channel, payload: type[Payload], **names: str) -> list[EventType]:
    return [EventType(n.replace("__", "."), payload, channel, d) for n, d in names.items()]


CATALOG: dict[str, EventType] = {
    t.name: t
    for t in [
        *_types(
            Channel.PHONE,
            CallPayload,
            call__completed="A call that was answered and ended",
            call__missed="A call nobody answered (no answer, busy, failed, cancelled)",
            call__abandoned="The caller hung up while waiting",
            call__voicemail="The caller left a voicemail",
        ),
        *_types(
            Channel.EMAIL,
            EmailPayload,
            email__received="An email from the customer",
            email__sent="An email to the customer",
            email__delivered="An email reached the customer's mailbox",
            email__bounced="An email could not be delivered",
            email__opened="The customer opened an email",
            email__clicked="The customer clicked a link in an email",
        ),
        *_types(Channel.IN_PERSON, MeetingPayload, meeting__held="A meeting took place"),
        *_types(Channel.CHAT, ChatPayload, chat__conversation="A chat conversation"),
        *_types(Channel.SOCIAL, SocialPayload, social__mention="The customer mentioned us"),
        *_types(Channel.SYSTEM, NotePayload, note__added="An employee wrote a note"),
        *_types(
            Channel.STORE,
            OrderPayload,
            order__placed="An order was placed",
            order__paid="An order was paid",
            order__shipped="An order left the warehouse",
            order__delivered="An order was delivered",
            order__cancelled="An order was cancelled",
            order__refunded="An order was refunded, in whole or in part",
        ),
        *_types(
            Channel.STORE,
            PaymentPayload,
            payment__received="A payment was received",
            payment__failed="A payment failed",
            payment__disputed="The customer disputed a payment (chargeback)",
        ),
        *_types(Channel.SYSTEM, InvoicePayload, invoice__overdue="An invoice is past due"),
        *_types(
            Channel.SYSTEM,
            TicketPayload,
            ticket__opened="A support ticket was opened",
            ticket__updated="A support ticket changed",
            ticket__resolved="A support ticket was resolved",
        ),
        *_types(Channel.WEB, SurveyPayload, survey__answered="The customer answered a survey"),
        *_types(Channel.EMAIL, QuotePayload, quote__sent="A quote was sent"),
        *_types(
            Channel.SYSTEM, OpportunityPayload, opportunity__updated="A sales opportunity changed"
        ),
        *_types(Channel.WEB, PageViewPayload, web__page_viewed="The customer viewed a page"),
        *_types(Channel.WEB, ContentPayload, content__downloaded="The customer downloaded content"),
        *_types(Channel.WEB, WebinarPayload, webinar__attended="The customer attended a webinar"),
        *_types(Channel.WEB, ProductUsagePayload, product__used="The customer used a product"),
        *_types(Channel.SYSTEM, PreferencePayload, preference__updated="Preferences changed"),
        *_types(
            Channel.SYSTEM,
            ConsentPayload,
            consent__granted="Consent was granted",
            consent__withdrawn="Consent was withdrawn",
        ),
        *_types(
            Channel.SYSTEM,
            MergePayload,
            customer__merged="Two customer records were merged",
            customer__unmerged="A merge was undone",
        ),
        *_types(Channel.SYSTEM, ErasurePayload, customer__erased="Personal data was erased"),
        *_types(Channel.SYSTEM, CorrectionPayload, event__corrected="An earlier event was wrong"),
    ]
}

# Types only the service itself appends (they change the aggregate, not just the history).
SYSTEM_TYPES = frozenset(
    {"customer.merged", "customer.unmerged", "customer.erased", "preference.updated"}
    | {"consent.granted", "consent.withdrawn"}
)


def event_type(name: str) -> EventType | None:
    """The catalog entry for ``name``; custom.* types get a free payload."""
    if name in CATALOG:
        return CATALOG[name]
    if name.startswith(CUSTOM_PREFIX) and len(name) > len(CUSTOM_PREFIX):
        return EventType(name, CustomPayload, Channel.SYSTEM, "A custom event type")
    return None


def catalog_document() -> list[dict[str, Any]]:
    """The catalog as served by GET /v1/event-types, each with its payload JSON Schema."""
    entries = [
        {
            "type": t.name,
            "description": t.description,
            "default_channel": t.channel.value,
            "payload_schema": t.payload.model_json_schema(by_alias=True),
        }
        for t in CATALOG.values()
    ]
    entries.append(
        {
            "type": CUSTOM_PREFIX + "*",
            "description": "Any type under custom. with a free JSON object payload",
            "default_channel": Channel.SYSTEM.value,
            "payload_schema": {"type": "object"},
        }
    )
    return entries
