"""Twilio Voice status callbacks (form-encoded), signed with ``X-Twilio-Signature``.

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
from app.timeline.payloads import CallPayload
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
        if not form.get("CallSid"):
            return delivery.body_hash()
        keys = ("CallSid", "CallStatus", "SequenceNumber")
        return ":".join(form.get(k, "") for k in keys)

    def normalize(self, delivery: Delivery) -> list[IdentifiedEventIn]:
        form = delivery.form()
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
