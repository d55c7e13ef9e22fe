"""Messages to customers: templates edited by admins, messages queued (by hand, by a
journey), listed with their status, and what the providers and the customer answer
(delivery status, a reply, the callback link)."""

import hmac
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.clock import Clock
from app.core.config import Settings
from app.core.db import new_id
from app.core.errors import NotFound, invalid_field
from app.core.pagination import cursor_id, keyset_page
from app.core.security import Principal
from app.customers import service as customers
from app.messages.models import Message, MessageTemplate
from app.messages.providers import RECEIVERS, REPLY_RECEIVERS
from app.messages.repository import MessageRepository
from app.messages.schemas import (
    MessageIn,
    MessageOut,
    MessagePage,
    MessageTemplateIn,
    MessageTemplateOut,
)
from app.messages.sending import record, token_hash
from app.messages.templates import LANGUAGES, SERVICE_FIELDS, unknown_placeholders

# How long a message's offer of a callback stands (a reply or the link after it is late).
CALLBACK_DAYS = 7


class TemplateNotFound(NotFound):
    """No message template of this name (GET /v1/message-templates lists them)."""

    code = "message-template-not-found"
    title = "Message template not found"
    example = ("No message template 'abandoned_call'.", {})


class MessageNotFound(NotFound):
    """No message with this id to this customer, or a customer the caller may not see."""

    code = "message-not-found"
    title = "Message not found"
    example = ("Message not found.", {})


class CallbackNotFound(NotFound):
    """The link is unknown, expired, or offered no callback."""

    code = "callback-link-not-found"
    title = "Callback link not found"
    example = ("This link is unknown or has expired.", {})


# --- templates --------------------------------------------------------------------------


def _template_out(template: MessageTemplate) -> MessageTemplateOut:
    return MessageTemplateOut.model_validate(template, from_attributes=True)


async def list_templates(session: AsyncSession) -> list[MessageTemplateOut]:
    return [_template_out(t) for t in await MessageRepository(session).templates()]


async def get_template(session: AsyncSession, name: str) -> MessageTemplateOut:
    template = await MessageRepository(session).template(name)
    if template is None:
        raise TemplateNotFound(f"No message template '{name}'.")
    return _template_out(template)


async def put_template(
    session: AsyncSession, name: str, data: MessageTemplateIn, clock: Clock
) -> MessageTemplateOut:
    """Create or replace a template; a 422 names each text whose placeholders are wrong,
    and a field that is the service's own or declared twice (whoever sends the template
    gives its fields: declaring ``name`` would let them write the customer's name)."""
    for index, field in enumerate(data.fields):
        if field in SERVICE_FIELDS:
            reason = f"${field} is filled in by the service; a template does not declare it"
            raise invalid_field(f"body.fields.{index}", reason)
        if field in data.fields[:index]:
            raise invalid_field(f"body.fields.{index}", f"'{field}' is declared twice")
    texts = data.texts.model_dump()
    for language in LANGUAGES:
        for part in ("subject", "body"):
            try:
                unknown = unknown_placeholders(texts[language][part], data.fields)
            except ValueError as exc:
                raise invalid_field(f"body.texts.{language}.{part}", str(exc)) from None
            if unknown:
                reason = (
                    f"unknown placeholder ${unknown[0]}: use name, given_name, callback_url "
                    "or a field the template declares in 'fields'"
                )
                raise invalid_field(f"body.texts.{language}.{part}", reason)
    template = await MessageRepository(session).put_template(
        MessageTemplate(
            name=name, purpose=data.purpose, fields=data.fields, texts=texts, updated_at=clock.now()
        )
    )
    await session.flush()
    return _template_out(template)


# --- messages ---------------------------------------------------------------------------


def message_out(message: Message) -> MessageOut:
    values = {
        name: getattr(message, name, None)
        for name in MessageOut.model_fields
        if name != "callback_requested_at"
    }
    return MessageOut.model_validate({**values, "callback_requested_at": message.callback_at})


async def queue(
    session: AsyncSession,
    customer_id: UUID,
    template: str,
    purpose: str,
    fields: dict[str, Any],
    origin: str,
    not_before: datetime,
    now: datetime,
    *,
    dedupe: str | None = None,
    alert_id: UUID | None = None,
) -> Message | None:
    """Queue a message, sent once ``not_before`` has passed; None when a message with the
    same ``dedupe`` key was queued for the customer before."""
    message = Message(
        id=new_id(),
        customer_id=customer_id,
        template=template,
        purpose=purpose,
        fields={k: str(v) for k, v in fields.items()},
        origin=origin,
        dedupe=dedupe,
        alert_id=alert_id,
        status="queued",
        not_before=not_before,
        attempts=0,
        created_at=now,
        status_at=now,
    )
    return message if await MessageRepository(session).add(message) else None


async def template_for(session: AsyncSession, name: str, field: str) -> MessageTemplate:
    """The template named in a request; a 422 naming ``field`` when there is none."""
    template = await MessageRepository(session).template(name)
    if template is None:
        raise invalid_field(field, f"no message template '{name}'; see GET /v1/message-templates")
    return template


async def send_by_hand(
    session: AsyncSession, customer_id: UUID, data: MessageIn, principal: Principal, clock: Clock
) -> MessageOut:
    """Queue a message to a customer the caller may see; the sender decides when and how."""
    customer = await customers.get_customer(session, customer_id, principal)
    template = await template_for(session, data.template, "body.template")
    for name in template.fields:
        if name not in data.fields:
            raise invalid_field(f"body.fields.{name}", "the template needs this field")
    for name in data.fields:
        if name not in template.fields:
            raise invalid_field(f"body.fields.{name}", "the template has no such field")
    now = clock.now()
    survivor = await customers.survivor_id(session, customer.id)
    message = await queue(
        session,
        survivor,
        template.name,
        template.purpose,
        data.fields,
        f"api:{principal.key_id}",
        now,
        now,
    )
    assert message is not None, "a message without a dedupe key is always queued"
    await session.flush()
    return message_out(message)


async def list_messages(
    session: AsyncSession,
    customer_id: UUID,
    principal: Principal,
    *,
    limit: int,
    cursor: str | None,
) -> MessagePage:
    """The messages to a customer (merged-in customers' included), newest first."""
    _, family = await customers.readable_family(session, customer_id, principal)
    before = cursor_id(cursor, "before")
    rows = await MessageRepository(session).page(family, principal, limit + 1, before)
    page, next_cursor = keyset_page(list(rows), limit, lambda m: {"before": str(m.id)})
    return MessagePage(items=[message_out(m) for m in page], next_cursor=next_cursor)


async def get_message(
    session: AsyncSession, customer_id: UUID, message_id: UUID, principal: Principal
) -> MessageOut:
    _, family = await customers.readable_family(session, customer_id, principal)
    message = await MessageRepository(session).get(message_id, principal)
    if message is None or message.customer_id not in family:
        raise MessageNotFound("Message not found.")
    return message_out(message)


# --- what comes back ----------------------------------------------------------------------

# The event types a webhook delivery may bring that concern messages.
OBSERVED = frozenset({"message.delivered", "message.failed", "message.received"})


async def observe(
    session: AsyncSession,
    source: str,
    customer_id: UUID,
    type_: str,
    payload: dict[str, Any],
    settings: Settings,
    clock: Clock,
) -> None:
    """What a provider's webhook (``source``, whose signature was checked) told of a
    message to the customer: its delivery status, or the customer's reply, which asks for
    the callback the latest message offered (``callback.requested``). Any other source
    writes the event and changes nothing: the status is the provider's to say, of a
    message to that customer."""
    repo = MessageRepository(session)
    now = clock.now()
    if type_ == "message.received":
        if source not in REPLY_RECEIVERS:
            return
        offer = await repo.callback_offer(customer_id, now - timedelta(days=CALLBACK_DAYS))
        if offer is not None:
            await _callback(session, offer, "reply", None, payload.get("body"), settings, clock)
        return
    message = None
    if payload.get("message_id"):
        message = await repo.get(UUID(payload["message_id"]), lock=True)
    elif payload.get("provider") and payload.get("provider_message_id"):
        message = await repo.by_provider_id(payload["provider"], payload["provider_message_id"])
    if (
        message is None
        or message.status not in ("sent", "delivered", "failed")
        or RECEIVERS.get(message.provider or "") != source
        or await customers.survivor_id(session, message.customer_id) != customer_id
    ):
        return
    if type_ == "message.delivered" or message.status != "delivered":
        message.status = type_.removeprefix("message.")
        message.reason = payload.get("reason") or payload.get("error_code")
        message.status_at = now


async def _callback(
    session: AsyncSession,
    message: Message,
    via: str,
    slot: str | None,
    text: str | None,
    settings: Settings,
    clock: Clock,
) -> None:
    message.callback_at = clock.now()
    payload = {"message_id": str(message.id), "via": via, "slot": slot, "text": text}
    payload = {k: v for k, v in payload.items() if v is not None}
    summary = f"Asked to be called back ({'at ' + slot if slot else 'by ' + via})"
    customer_id = await customers.survivor_id(session, message.customer_id)
    await record(session, customer_id, "callback.requested", payload, summary, settings, clock)


async def _offer(session: AsyncSession, token: str, clock: Clock) -> Message:
    """The message a callback link names, if the link is genuine and still stands."""
    try:
        message_id, secret = UUID(hex=token[:32]), token[32:]
    except ValueError:
        raise CallbackNotFound("This link is unknown or has expired.") from None
    message = await MessageRepository(session).get(message_id, lock=True)
    if (
        message is None
        or message.callback_token is None
        or not hmac.compare_digest(message.callback_token, token_hash(secret))
        or message.sent_at is None
        or message.sent_at < clock.now() - timedelta(days=CALLBACK_DAYS)
    ):
        raise CallbackNotFound("This link is unknown or has expired.")
    return message


SLOTS = 6


def _slots(now: datetime) -> list[datetime]:
    """The times a page opened at ``now`` offers: the next whole hours, ``SLOTS`` of them."""
    start = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    return [start + timedelta(hours=h) for h in range(SLOTS)]


async def callback_slots(session: AsyncSession, token: str, clock: Clock) -> list[datetime]:
    """The times a link offers; none once the customer has chosen."""
    message = await _offer(session, token, clock)
    return [] if message.callback_at is not None else _slots(clock.now())


async def request_callback(
    session: AsyncSession, token: str, slot: datetime, settings: Settings, clock: Clock
) -> bool:
    """Record the customer's choice by the link; False when they had chosen already (the
    first choice stands). A time the page did not offer (opened now, or within the hour
    before) is a 422 naming ``body.slot``."""
    message = await _offer(session, token, clock)
    if message.callback_at is not None:
        return False
    now = clock.now()
    if slot <= now or slot not in {*_slots(now), *_slots(now - timedelta(hours=1))}:
        reason = "must be one of the times the page offers; open the link again"
        raise invalid_field("body.slot", reason)
    await _callback(session, message, "link", slot.isoformat(), None, settings, clock)
    return True
