"""The sender: queued messages whose time has come go out, each decided at that moment.

For each message: a journey's message whose alert is no longer open is cancelled; then the
customer is read as they are now (a merged one's survivor) and ``reach.decide`` says on
which channel, or why none (skipped), or until when to wait (contact hours: the message
stays queued, ``not_before`` moved to the window's opening). Sent, it is rendered in the
customer's language and handed to the channel's provider, and ``message.sent`` is
appended to the timeline through the append path (indicators and rules see it). A
provider that is down or busy is tried again later, ``RETRIES`` times with a doubling
delay; a refusal fails the message, recorded as ``message.failed``.

A crash between the provider's acceptance and the commit leaves the message queued: it is
sent again on the next pass (at least once).
"""

import hashlib
import secrets
import uuid
from datetime import datetime, timedelta
from typing import Any

import httpx
import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from app.alerts import service as alerts
from app.core.clock import Clock
from app.core.config import Settings
from app.core.security import Principal, Role
from app.customers import service as customers
from app.customers.schemas import CustomerOut
from app.customers.service import CustomerNotFound
from app.messages import reach
from app.messages.models import INCIDENT_ORIGIN, Message, MessageTemplate
from app.messages.providers import Accepted, Outgoing, Provider, ProviderError, configured
from app.messages.repository import MessageRepository
from app.messages.templates import (
    CALLBACK_FIELD,
    language_for,
    one_line,
    placeholders,
    render,
)
from app.timeline import service as timeline
from app.timeline.catalog import Channel, Direction
from app.timeline.schemas import EventIn
from app.timeline.sources import SERVICE_SOURCE

log = structlog.get_logger("app.messages")

# The service reading the customers it messages (no API key: nothing is logged as read).
SENDER = Principal(key_id=uuid.uuid5(uuid.NAMESPACE_URL, "service:messages"), role=Role.ADMIN)
RETRIES = 5
BATCH = 50


def callback_url(settings: Settings, message_id: uuid.UUID, secret: str) -> str:
    """The link by which the customer chooses a time to be called back."""
    base = (settings.public_base_url or "").rstrip("/")
    return f"{base}/v1/callbacks/{message_id.hex}{secret}"


def token_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _contact(customer: CustomerOut) -> reach.Contact:
    def first(kind: str) -> str | None:
        return next((i.value for i in customer.identifiers if i.kind == kind), None)

    prefs = customer.preferences
    return reach.Contact(
        preferences=prefs.model_dump(mode="json", by_alias=True) if prefs else {},
        consents={(c.channel.value, c.purpose.value): c.granted for c in customer.consents},
        phone=first("phone"),
        email=first("email"),
    )


def _close(message: Message, status: str, reason: str | None, now: datetime) -> None:
    message.status, message.reason, message.status_at = status, reason, now


async def record(
    session: AsyncSession,
    customer_id: uuid.UUID,
    type_: str,
    payload: dict[str, Any],
    summary: str,
    settings: Settings,
    clock: Clock,
) -> None:
    """Append a message's fact to the customer's timeline, as the service."""
    data = EventIn(
        type=type_,
        occurred_at=clock.now(),
        channel=Channel.EMAIL if payload.get("channel") == "email" else Channel.PHONE,
        direction=Direction.INBOUND if type_ == "callback.requested" else Direction.OUTBOUND,
        source=SERVICE_SOURCE,
        summary=summary[:280],
        payload=payload,
    )
    new = timeline.prepare_event(data, None)
    await timeline.append(session, customer_id, new, None, None, settings, clock, None)


async def send_due(
    session: AsyncSession, settings: Settings, clock: Clock, client: httpx.AsyncClient
) -> int:
    """Take up to ``BATCH`` due messages; how many were taken."""
    providers = configured(settings)
    due = await MessageRepository(session).due(clock.now(), BATCH)
    for message in due:
        message_id = message.id
        try:
            async with session.begin_nested():
                await _attempt(session, message, providers, settings, clock, client)
        except Exception as exc:  # one message's fault must not stop the others' sending
            reason = f"unforeseen error: {type(exc).__name__}"  # its text may quote data
            log.error("message_failed", message_id=str(message_id), error=type(exc).__name__)
            await MessageRepository(session).fail(message_id, reason, clock.now())
    await session.flush()
    return len(due)


async def _attempt(
    session: AsyncSession,
    message: Message,
    providers: dict[str, Provider],
    settings: Settings,
    clock: Clock,
    client: httpx.AsyncClient,
) -> None:
    now = clock.now()
    if message.alert_id and not await alerts.is_open(
        session, message.customer_id, message.alert_id
    ):
        return _close(message, "cancelled", "the alert was acknowledged or cleared", now)
    try:
        customer_id = await customers.survivor_id(session, message.customer_id)
        customer = await customers.get_customer(session, customer_id, SENDER)
    except CustomerNotFound:
        return _close(message, "skipped", "the customer is gone", now)
    if customer.status == "erased":
        return _close(message, "skipped", "the customer's data was erased", now)
    template = await MessageRepository(session).template(message.template)
    if template is None:
        return _close(message, "failed", f"no template '{message.template}'", now)
    missing = [f for f in template.fields if f not in message.fields]
    if missing:
        return _close(message, "failed", f"the template needs {', '.join(missing)}", now)
    decision = reach.decide(
        _contact(customer),
        template.purpose,
        providers,
        now,
        reach.default_windows(settings.message_hours),
        settings.message_timezone,
    )
    if isinstance(decision, reach.Skip):
        return _close(message, "skipped", decision.reason, now)
    if isinstance(decision, reach.Wait):
        message.not_before = decision.until
        message.reason = f"outside the customer's contact hours until {decision.until.isoformat()}"
        return None
    await _send(session, message, customer, template, decision, providers, settings, clock, client)
    return None


async def _send(
    session: AsyncSession,
    message: Message,
    customer: CustomerOut,
    template: MessageTemplate,
    send: reach.Send,
    providers: dict[str, Provider],
    settings: Settings,
    clock: Clock,
    client: httpx.AsyncClient,
) -> None:
    now = clock.now()
    language = language_for(customer.preferred_language)
    values = {
        "name": customer.display_name,
        "given_name": customer.given_name or customer.display_name,
        **message.fields,
    }
    text = template.texts[language]
    secret = None
    if CALLBACK_FIELD in placeholders(text["subject"]) + placeholders(text["body"]):
        if not settings.public_base_url:
            return _close(message, "failed", "CH_PUBLIC_BASE_URL is not set: no link", now)
        secret = secrets.token_urlsafe(24)
        values[CALLBACK_FIELD] = callback_url(settings, message.id, secret)
    subject, body = render(template.texts, language, values)
    provider = providers[send.channel]
    facts = {
        "message_id": str(message.id),
        "channel": send.channel,
        "template": message.template,
        "language": language,
        "purpose": template.purpose,
        "provider": provider.name,
        "to": send.address,
    }
    if message.alert_id is not None:  # its texts may tell the alert (visibility.py)
        facts["alert_id"] = str(message.alert_id)
    if message.origin.startswith(INCIDENT_ORIGIN):  # it tells the customer is affected
        facts["incident_id"] = message.origin.removeprefix(INCIDENT_ORIGIN)
    try:
        accepted = await provider.send(
            Outgoing(message.id, send.address, one_line(customer.display_name), subject, body),
            client,
        )
    except ProviderError as exc:
        message.attempts += 1
        if exc.retry and message.attempts < RETRIES:
            message.not_before = now + timedelta(minutes=2**message.attempts)
            message.reason = f"attempt {message.attempts}: {exc.reason}"
            return None
        _close(message, "failed", exc.reason, now)
        summary = f"{send.channel} message '{message.template}' failed"
        failed = {**facts, "reason": exc.reason}
        return await record(
            session, customer.id, "message.failed", failed, summary, settings, clock
        )
    _sent(message, accepted, send.channel, language, secret, now)
    shown = {"subject": subject} if send.channel == "email" else {}
    payload = {**facts, "provider_message_id": accepted.provider_message_id, **shown, "body": body}
    summary = (
        f"{send.channel.upper() if send.channel == 'sms' else send.channel.capitalize()} "
        f"'{message.template}' sent"
    )
    await record(session, customer.id, "message.sent", payload, summary, settings, clock)
    return None


def _sent(
    message: Message,
    accepted: Accepted,
    channel: str,
    language: str,
    secret: str | None,
    now: datetime,
) -> None:
    _close(message, "sent", None, now)
    message.attempts += 1
    message.channel, message.language = channel, language
    message.provider, message.provider_message_id = accepted.provider, accepted.provider_message_id
    message.sent_at = now
    message.callback_token = token_hash(secret) if secret else None
