"""SendGrid Event Webhook: a JSON array of delivery and engagement events.

Signed with ECDSA (P-256, SHA-256): ``X-Twilio-Email-Event-Webhook-Signature`` is the
base64 DER signature of ``X-Twilio-Email-Event-Webhook-Timestamp`` + the raw body. The
secrets are the verification keys SendGrid shows for the webhook (base64 DER
SubjectPublicKeyInfo; PEM is accepted too).
"""

import base64
import binascii
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_public_key, load_pem_public_key
from pydantic import ValidationError

from app.ingest.adapters.base import Adapter, Delivery, PayloadError, SignatureError
from app.ingest.adapters.email_message import (
    Mailbox,
    clip,
    email_event,
    from_unix,
    message_id,
)
from app.ingest.adapters.signatures import require_fresh
from app.timeline.catalog import Channel, Direction
from app.timeline.payloads import MessagePayload
from app.timeline.schemas import CustomerRefIn, IdentifiedEventIn

SIGNATURE_HEADER = "x-twilio-email-event-webhook-signature"
TIMESTAMP_HEADER = "x-twilio-email-event-webhook-timestamp"

# SendGrid event -> our type; every other event (processed, deferred, spamreport,
# unsubscribe, group_unsubscribe, group_resubscribe, future ones) is skipped.
EVENT_TYPES = {
    "delivered": "email.delivered",
    "open": "email.opened",
    "click": "email.clicked",
    "bounce": "email.bounced",
    "dropped": "email.bounced",
}
# The custom argument the service's own messages carry (app/messages/providers.py), and
# what their events become instead: the message's status.
MESSAGE_ARG = "ch_message_id"
MESSAGE_TYPES = {
    "delivered": "message.delivered",
    "bounce": "message.failed",
    "dropped": "message.failed",
}


def _public_key(secret: str) -> ec.EllipticCurvePublicKey | None:
    secret = secret.strip()
    try:
        if secret.startswith("-----BEGIN"):
            key = load_pem_public_key(secret.encode())
        else:
            key = load_der_public_key(base64.b64decode(secret, validate=True))
    except (ValueError, TypeError, binascii.Error):
        return None
    return key if isinstance(key, ec.EllipticCurvePublicKey) else None


class SendGridEventsAdapter(Adapter):
    source = "sendgrid-events"
    secret_headers = frozenset({SIGNATURE_HEADER})

    def verify(self, delivery: Delivery, secrets: Sequence[str], now: datetime) -> None:
        signature_b64 = delivery.signature_header(SIGNATURE_HEADER)
        timestamp = delivery.signature_header(TIMESTAMP_HEADER)
        if not signature_b64:
            raise SignatureError(f"missing {SIGNATURE_HEADER}")
        require_fresh(timestamp or None, now, TIMESTAMP_HEADER)
        try:
            signature = base64.b64decode(signature_b64, validate=True)
        except (binascii.Error, ValueError):
            raise SignatureError("the signature is not base64") from None
        signed = timestamp.encode() + delivery.body
        for secret in secrets:
            key = _public_key(secret)
            if key is None:
                continue
            try:
                key.verify(signature, signed, ec.ECDSA(hashes.SHA256()))
                return
            except InvalidSignature:
                continue
        raise SignatureError("no verification key matches the signature")

    def delivery_id(self, delivery: Delivery) -> str:
        return delivery.body_hash()

    def normalize(self, delivery: Delivery) -> list[IdentifiedEventIn]:
        body = delivery.json()
        if not isinstance(body, list):
            raise PayloadError("expected a JSON array of events")
        events = []
        for index, item in enumerate(body):
            if not isinstance(item, dict) or not isinstance(item.get("event"), str):
                raise PayloadError(f"event {index}: not an object with an 'event'")
            if _our_message(item) and item["event"] in MESSAGE_TYPES:
                events.append(self._message_event(index, item))
                continue
            type_ = EVENT_TYPES.get(item["event"])
            if type_ is not None:
                events.append(self._event(index, type_, item))
        return events

    def _message_event(self, index: int, item: dict[str, Any]) -> IdentifiedEventIn:
        """What became of a message the service sent (it names it in ``ch_message_id``)."""
        event_id, email = item.get("sg_event_id"), item.get("email")
        if not isinstance(event_id, str) or not event_id:
            raise PayloadError(f"event {index}: no sg_event_id")
        if not isinstance(email, str) or "@" not in email:
            raise PayloadError(f"event {index}: no recipient email")
        reason = item.get("reason") or item.get("response")
        msg_id = item.get("sg_message_id")
        try:
            payload = MessagePayload.model_validate(
                {
                    "message_id": item[MESSAGE_ARG],
                    "channel": "email",
                    "provider": "sendgrid",
                    "provider_message_id": clip(msg_id, 200) if isinstance(msg_id, str) else None,
                    "status": item["event"],
                    "to": clip(email.strip(), 200),
                    "reason": clip(reason, 1000) if isinstance(reason, str) else None,
                }
            )
            return IdentifiedEventIn(
                type=MESSAGE_TYPES[item["event"]],
                occurred_at=from_unix(item.get("timestamp"), f"event {index}: timestamp"),
                channel=Channel.EMAIL,
                direction=Direction.OUTBOUND,
                source=self.source,
                source_event_id=event_id,
                customer=CustomerRefIn(email=email.strip()),
                payload=payload.model_dump(mode="json", by_alias=True, exclude_none=True),
            )
        except ValidationError as exc:
            raise PayloadError.from_validation(exc) from None

    def _event(self, index: int, type_: str, item: dict[str, Any]) -> IdentifiedEventIn:
        event_id, email = item.get("sg_event_id"), item.get("email")
        if not isinstance(event_id, str) or not event_id:
            raise PayloadError(f"event {index}: no sg_event_id")
        if not isinstance(email, str) or "@" not in email:
            raise PayloadError(f"event {index}: no recipient email")
        msg_id = item.get("sg_message_id") or item.get("smtp-id")
        url = item.get("url") if type_ == "email.clicked" else None
        reason = item.get("reason") if type_ == "email.bounced" else None
        return email_event(
            source=self.source,
            type_=type_,
            direction=Direction.OUTBOUND,
            occurred_at=from_unix(item.get("timestamp"), f"event {index}: timestamp"),
            source_event_id=event_id,
            customer=Mailbox(email.strip()),
            to=[email.strip()],
            message_id=message_id(msg_id) if isinstance(msg_id, str) else None,
            url=url if isinstance(url, str) else None,
            reason=reason if isinstance(reason, str) else None,
        )


def _our_message(item: dict[str, Any]) -> bool:
    """Whether the event is of a message the service sent (a custom arg names it)."""
    value = item.get(MESSAGE_ARG)
    if not isinstance(value, str):
        return False
    try:
        UUID(value)
    except ValueError:
        return False
    return True
