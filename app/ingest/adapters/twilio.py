"""Twilio callbacks (form-encoded), signed with ``X-Twilio-Signature``: voice call status,
the status of messages the service sent (SMS, WhatsApp), and messages customers send.

Twilio signs parsed values: base64(HMAC-SHA1(auth token, URL + each POST parameter's name
and value, sorted)), so the form is read before the signature can be checked: within
MAX_FORM_FIELDS fields (counted on the raw bytes first) and only once. The URL is the one
Twilio called: the pipeline passes the public base URL, a trusted proxy's, or the one the
server is bound to (never the Host a caller chose).
"""

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pydantic import ValidationError

from app.ingest.adapters.base import (
    Adapter,
    BoundExceeded,
    Delivery,
    PayloadError,
    SignatureError,
)
from app.ingest.adapters.signatures import base64_hmacs, require_any
from app.timeline.catalog import Channel, Direction
from app.timeline.payloads import CallPayload, MessagePayload
from app.timeline.schemas import CustomerRefIn, IdentifiedEventIn

# CallStatus values that close a call, and the event each one is.
FINAL_STATUSES = {
    "completed": "call.completed",
    "no-answer": "call.missed",
    "busy": "call.missed",
    "failed": "call.missed",
    "canceled": "call.missed",
}
# Progress callbacks: the outcome comes later.
PROGRESS_STATUSES = frozenset({"queued", "initiated", "ringing", "in-progress"})
DIRECTIONS = {
    "inbound": Direction.INBOUND,
    "outbound-api": Direction.OUTBOUND,
    "outbound-dial": Direction.OUTBOUND,
}
# MessageStatus values that end a message's way, and the event each one is; the others
# (queued, sending, sent, accepted, scheduled, read...) add none.
MESSAGE_STATUSES = {
    "delivered": "message.delivered",
    "undelivered": "message.failed",
    "failed": "message.failed",
    "received": "message.received",
}
_WHATSAPP = "whatsapp:"
# Something a customer can be found by; Twilio also sends "anonymous", "client:alice", sip URIs.
_PHONE = re.compile(r"^\+?[0-9][0-9 ().\-]{2,30}$")
_DEFAULT_PORTS = {"https": 443, "http": 80}


def _signed_urls(url: str) -> list[str]:
    """The URL without and with its port, as twilio-python's RequestValidator tries both."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        return [url]
    if port is None:
        default = _DEFAULT_PORTS.get(parts.scheme.lower(), 80)
        return [url, urlunsplit(parts._replace(netloc=f"{parts.netloc}:{default}"))]
    without_port = parts.netloc.rsplit(":", 1)[0]
    return [urlunsplit(parts._replace(netloc=without_port)), url]


def signed_parameters(pairs: Sequence[tuple[str, str]]) -> bytes:
    """Every POST parameter's name and value, sorted by name then value (each distinct
    value once), as twilio-python's RequestValidator joins them after the URL."""
    values: dict[str, set[str]] = {}
    for name, value in pairs:
        values.setdefault(name, set()).add(value)
    return "".join(
        name + value for name in sorted(values) for value in sorted(values[name])
    ).encode()


def _int(value: str | None, name: str) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise PayloadError(f"{name} is not a whole number: {value!r}") from None


def _timestamp(form: dict[str, str], delivery: Delivery) -> datetime:
    raw = form.get("Timestamp")
    if raw:
        try:
            when = parsedate_to_datetime(raw)
        except (TypeError, ValueError, IndexError):
            raise PayloadError(f"Timestamp is not an RFC 2822 date: {raw!r}") from None
        return when if when.tzinfo else when.replace(tzinfo=UTC)
    if delivery.received_at is not None:
        received = delivery.received_at
        return received if received.tzinfo else received.replace(tzinfo=UTC)
    raise PayloadError("the callback has no Timestamp")


class TwilioAdapter(Adapter):
    """One event per call outcome: ``completed`` or a missed call; progress callbacks add none.

    The customer is the remote party: ``From`` on inbound calls, ``To`` on outbound ones.
    """

    source = "twilio"
    secret_headers = frozenset({"x-twilio-signature"})

    def verify(self, delivery: Delivery, secrets: Sequence[str], now: datetime) -> None:
        # Twilio signs no timestamp: there is no replay window to check against ``now``.
        given = delivery.signature_header("x-twilio-signature")
        try:
            parameters = signed_parameters(delivery.form_pairs())
        except BoundExceeded:
            raise
        except PayloadError:
            raise SignatureError("the body is not a form Twilio could have signed") from None
        expected: list[str] = []
        for url in _signed_urls(delivery.url):
            expected += base64_hmacs(secrets, url.encode() + parameters, "sha1")
        require_any(expected, given, "X-Twilio-Signature")

    def delivery_id(self, delivery: Delivery) -> str:
        token = delivery.headers.get("i-twilio-idempotency-token")
        if token:
            return token
        try:
            form = delivery.form()
        except PayloadError:
            return delivery.body_hash()
        if form.get("CallSid"):
            keys = ("CallSid", "CallStatus", "SequenceNumber")
            return ":".join(form.get(k, "") for k in keys)
        if _message_sid(form):
            return f"{_message_sid(form)}:{_message_status(form)}"
        return delivery.body_hash()

    def normalize(self, delivery: Delivery) -> list[IdentifiedEventIn]:
        form = delivery.form()
        if not form.get("CallSid") and _message_sid(form):
            return _message_event(form, delivery, self.source)
        call_sid = form.get("CallSid")
        status = form.get("CallStatus", "").strip().lower()
        if not call_sid or not status:
            raise PayloadError("not a voice status callback: CallSid or CallStatus missing")
        if status in PROGRESS_STATUSES:
            return []
        if status not in FINAL_STATUSES:
            raise PayloadError(f"unknown CallStatus {status!r}")
        raw_direction = form.get("Direction", "").strip().lower()
        direction = DIRECTIONS.get(raw_direction)
        if direction is None:
            raise PayloadError(f"unknown Direction {raw_direction!r}")

        caller, callee = form.get("From") or None, form.get("To") or None
        remote = caller if direction is Direction.INBOUND else callee
        if not remote or not _PHONE.match(remote.strip()):
            return []  # a withheld number or a client/SIP leg: no customer to put it on

        payload: dict[str, Any] = {
            "from": caller,
            "to": callee,
            "duration_s": _int(form.get("CallDuration"), "CallDuration"),
            "recording_url": form.get("RecordingUrl") or None,
            "call_id": call_sid,
            "disposition": status,
        }
        try:
            checked = CallPayload.model_validate(payload)
            event = IdentifiedEventIn(
                type=FINAL_STATUSES[status],
                occurred_at=_timestamp(form, delivery),
                channel=Channel.PHONE,
                direction=direction,
                source=self.source,
                source_event_id=call_sid,
                customer=CustomerRefIn(phone=remote.strip()),
                payload=checked.model_dump(by_alias=True, exclude_defaults=True),
            )
        except ValidationError as exc:
            raise PayloadError.from_validation(exc) from None
        return [event]


def _message_sid(form: dict[str, str]) -> str | None:
    return form.get("MessageSid") or form.get("SmsSid") or None


def _message_status(form: dict[str, str]) -> str:
    return (form.get("MessageStatus") or form.get("SmsStatus") or "").strip().lower()


def _number(address: str | None) -> str | None:
    """A message's end as a phone number: ``whatsapp:+34...`` is +34..."""
    if not address:
        return None
    number = address.removeprefix(_WHATSAPP).strip()
    return number if _PHONE.match(number) else None


def _message_event(
    form: dict[str, str], delivery: Delivery, source: str
) -> list[IdentifiedEventIn]:
    """A message status callback (to the customer, ``To``) or an incoming message (from
    them, ``From``): one event when the message reached its end or came in."""
    sid = _message_sid(form)
    status = _message_status(form)
    type_ = MESSAGE_STATUSES.get(status)
    if type_ is None:
        return []
    inbound = type_ == "message.received"
    remote = _number(form.get("From") if inbound else form.get("To"))
    if remote is None:
        return []
    whatsapp = any(form.get(k, "").startswith(_WHATSAPP) for k in ("From", "To"))
    payload: dict[str, Any] = {
        "channel": "whatsapp" if whatsapp else "sms",
        "provider": source,
        "provider_message_id": sid,
        "status": status,
        "error_code": form.get("ErrorCode") or None,
        "from": form.get("From") or None,
        "to": form.get("To") or None,
        "body": form.get("Body") if inbound else None,
    }
    try:
        checked = MessagePayload.model_validate(payload)
        event = IdentifiedEventIn(
            type=type_,
            occurred_at=_timestamp(form, delivery),
            channel=Channel.PHONE,
            direction=Direction.INBOUND if inbound else Direction.OUTBOUND,
            source=source,
            source_event_id=f"{sid}:{status}",
            customer=CustomerRefIn(phone=remote),
            payload=checked.model_dump(by_alias=True, exclude_none=True),
        )
    except ValidationError as exc:
        raise PayloadError.from_validation(exc) from None
    return [event]
