"""The event catalog: every normalised type, its payload model and default channel."""

import typing
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydantic import BaseModel

from app.timeline.payloads import (
    CallbackPayload,
    CallPayload,
    ChatPayload,
    ConsentPayload,
    ContentPayload,
    CorrectionPayload,
    CustomPayload,
    EmailPayload,
    Erasure,
    ErasurePayload,
    InvoicePayload,
    MeetingPayload,
    MergePayload,
    MessagePayload,
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
    TaskPayload,
    TicketPayload,
    WebinarPayload,
    WrapUpPayload,
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
            Channel.PHONE,
            WrapUpPayload,
            call__wrapped_up="An agent wrapped a call up: disposition and wrap-up codes",
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
        *_types(
            Channel.SYSTEM,
            MessagePayload,
            message__sent="The service sent the customer a message (SMS, WhatsApp, e-mail)",
            message__delivered="The provider delivered a message to the customer",
            message__failed="A message to the customer could not be delivered",
            message__received="The customer sent a message (SMS, WhatsApp)",
        ),
        *_types(
            Channel.SYSTEM,
            CallbackPayload,
            callback__requested="The customer asked to be called back, answering a message",
        ),
        *_types(
            Channel.SYSTEM,
            TaskPayload,
            task__created="A follow-up task on the customer was created",
            task__completed="A follow-up task on the customer was done",
        ),
        *_types(Channel.SYSTEM, CorrectionPayload, event__corrected="An earlier event was wrong"),
    ]
}

# Types only the service itself appends (they change the aggregate, not just the history).
SYSTEM_TYPES = frozenset(
    {"customer.merged", "customer.unmerged", "customer.erased", "preference.updated"}
    | {"consent.granted", "consent.withdrawn"}
    | {"message.sent", "callback.requested"}
    | {"task.created", "task.completed"}
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


def appendable_types() -> dict[type[Payload], list[str]]:
    """The types a writer may append, by payload model (the system types are the service's
    own; custom.* types take any object)."""
    types_of: dict[type[Payload], list[str]] = {}
    for entry in CATALOG.values():
        if entry.name not in SYSTEM_TYPES:
            types_of.setdefault(entry.payload, []).append(entry.name)
    return types_of


def payload_models() -> list[type[BaseModel]]:
    """Every payload model of the catalog, and the models they nest (an order's items)."""
    found: list[type[BaseModel]] = []
    pending: list[Any] = [t.payload for t in CATALOG.values()]
    while pending:
        kind = pending.pop(0)
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            if kind not in found:
                found.append(kind)
                pending.extend(f.annotation for f in kind.model_fields.values())
        else:
            pending.extend(typing.get_args(kind))  # list[X], X | None, Annotated[X, ...]
    return found


class UnclassifiedPayload(ValueError):
    """A payload field without its erasure mark, or one name kept here and erased there."""


def erasure_keep_list() -> list[str]:
    """The payload fields, by JSON name, that a customer's erasure keeps (the marks on the
    payload models); UnclassifiedPayload naming every field that is not marked, or marked
    both ways under one name (the erasure reads names, not types)."""
    marks: dict[str, set[Erasure]] = {}
    problems = []
    for model in payload_models():
        for name, field in model.model_fields.items():
            found = {m for m in field.metadata if isinstance(m, Erasure)}
            if len(found) != 1:
                problems.append(f"{model.__name__}.{name} is marked neither KEEP nor ERASE")
            marks.setdefault(field.alias or name, set()).update(found)
    problems += [
        f"'{key}' is kept in one payload and erased in another"
        for key, m in marks.items()
        if len(m) > 1
    ]
    if problems:
        raise UnclassifiedPayload("; ".join(problems))
    return sorted(key for key, m in marks.items() if m == {Erasure.KEEP})
