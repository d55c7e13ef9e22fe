"""Mailgun: event webhooks (JSON) and inbound routes (``forward()`` form posts).

Both carry ``timestamp``, ``token`` and ``signature`` = hex HMAC-SHA256 of
``timestamp + token`` under the webhook signing key: in the JSON ``signature`` object for
events, as form fields for routes. The body is not signed, so the token is the delivery id:
a second body under a token already used is a duplicate. Since the signature is inside
the body, the stored body has its value redacted, and the body is parsed before anything
is proven: within the bounds of ``Delivery.json`` and ``form_fields`` (JSON depth, fields
and parts counted on the raw bytes first), past which the delivery is refused unread.
"""

import json
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from app.core import bounded_json
from app.ingest.adapters.base import (
    Adapter,
    BoundExceeded,
    Delivery,
    PayloadError,
    SignatureError,
)
from app.ingest.adapters.email_message import (
    Mailbox,
    MailHeaders,
    email_event,
    excerpt,
    form_fields,
    from_unix,
    mailbox,
    mailboxes,
    message_id,
    parse_date,
    parse_mime,
    stable_id,
)
from app.ingest.adapters.signatures import hmac_digest, require_any, require_fresh
from app.timeline.catalog import Direction
from app.timeline.schemas import IdentifiedEventIn

REDACTED = "[redacted]"

# event-data.event -> our type; "failed" counts only when permanent (see _event_type).
EVENT_TYPES = {
    "delivered": "email.delivered",
    "opened": "email.opened",
    "clicked": "email.clicked",
    "failed": "email.bounced",
}

_HEX_SIGNATURE = re.compile(r"^[0-9a-fA-F]{32,128}$")


def _is_json(delivery: Delivery) -> bool:
    if delivery.content_type == "application/json":
        return True
    return not delivery.content_type and delivery.body.lstrip()[:1] == b"{"


def _json_object(delivery: Delivery, **options: Any) -> dict[str, Any]:
    body = delivery.json(**options)
    if not isinstance(body, dict):
        raise PayloadError("expected a JSON object")
    return body


def _credentials(delivery: Delivery) -> dict[str, Any]:
    """The ``timestamp``/``token``/``signature`` triple, wherever this kind of post keeps it;
    BoundExceeded for a body past the bounds."""
    try:
        if _is_json(delivery):
            # Half a surrogate pair elsewhere in a genuine body: verified, then kept failed.
            found = _json_object(delivery, half_surrogates=True).get("signature")
            return found if isinstance(found, dict) else {}
        return form_fields(delivery)
    except BoundExceeded:
        raise
    except PayloadError:
        return {}


class MailgunAdapter(Adapter):
    source = "mailgun"

    def verify(self, delivery: Delivery, secrets: Sequence[str], now: datetime) -> None:
        credentials = _credentials(delivery)
        timestamp, token = credentials.get("timestamp"), credentials.get("token")
        signature = credentials.get("signature")
        if not isinstance(signature, str) or not signature or not token:
            raise SignatureError("missing signature, timestamp or token")
        if not isinstance(timestamp, str | int) or isinstance(timestamp, bool):
            raise SignatureError("missing signature timestamp")
        signed = f"{timestamp}{token}".encode("utf-8", "surrogatepass")  # see require_any
        # Compared first so that a wrong key reports as such even on an old delivery.
        require_any((hmac_digest(s, signed).hex() for s in secrets), signature.lower(), "signature")
        require_fresh(timestamp, now, "signature timestamp")

    def delivery_id(self, delivery: Delivery) -> str:
        # The signature covers the timestamp and the token, not the body: the token is the
        # delivery's id, so that a signature seen once cannot carry a second body (Mailgun's
        # advice: accept a token once). Retries come with a fresh token; their events, keyed
        # by the event's or the message's own id, are then duplicates.
        try:
            token = _credentials(delivery).get("token")
        except BoundExceeded:
            token = None
        return stable_id(token) if isinstance(token, str) and token else delivery.body_hash()

    def stored_body(self, delivery: Delivery) -> bytes:
        signature = _credentials(delivery).get("signature")
        if not isinstance(signature, str) or not signature:
            return delivery.body
        if _HEX_SIGNATURE.match(signature) and signature.encode() in delivery.body:
            # Everything else kept byte for byte.
            return delivery.body.replace(signature.encode(), REDACTED.encode())
        if _is_json(delivery):
            # Half a surrogate pair verified with the signature is kept, as an escape.
            body = _json_object(delivery, half_surrogates=True)
            body["signature"]["signature"] = REDACTED
            return json.dumps(body).encode()
        return delivery.body  # a verified form body always holds the hex value verbatim

    def normalize(self, delivery: Delivery) -> list[IdentifiedEventIn]:
        if _is_json(delivery):
            data = _json_object(delivery).get("event-data")
            if not isinstance(data, dict):
                raise PayloadError("no 'event-data' object")
            return self._event(data)
        return [self._inbound(delivery, form_fields(delivery))]

    def _event(self, data: dict[str, Any]) -> list[IdentifiedEventIn]:
        name = data.get("event")
        type_ = EVENT_TYPES.get(name) if isinstance(name, str) else None
        if type_ is None:
            return []
        if name == "failed" and data.get("severity") != "permanent":
            return []  # temporary failures are retried by Mailgun
        event_id, recipient = data.get("id"), data.get("recipient")
        if not isinstance(event_id, str) or not event_id:
            raise PayloadError(f"{name}: no event-data.id")
        if not isinstance(recipient, str) or "@" not in recipient:
            raise PayloadError(f"{name}: no recipient")
        message = data.get("message")
        listed = message.get("headers") if isinstance(message, dict) else None
        headers = MailHeaders(
            (k, v)
            for k, v in (listed or {}).items()
            if isinstance(listed, dict) and isinstance(v, str)
        )
        named = {m.address.lower(): m for m in mailboxes(headers.get("to"))}
        to_header = named.get(recipient.strip().lower())
        customer = Mailbox(recipient.strip(), to_header.name if to_header else None)
        sender = mailbox(headers.get("from"))
        url = data.get("url") if name == "clicked" else None
        return [
            email_event(
                source=self.source,
                type_=type_,
                direction=Direction.OUTBOUND,
                occurred_at=from_unix(data.get("timestamp"), "event-data.timestamp"),
                source_event_id=event_id,
                customer=customer,
                sender=sender.address if sender else None,
                to=[recipient.strip()],
                subject=headers.get("subject"),
                message_id=message_id(headers.get("message-id")),
                url=url if isinstance(url, str) else None,
                reason=_failure_reason(data) if name == "failed" else None,
            )
        ]

    def _inbound(self, delivery: Delivery, fields: dict[str, str]) -> IdentifiedEventIn:
        headers = _route_headers(fields)
        text = fields.get("stripped-text") or fields.get("body-plain")
        if text is None and fields.get("body-mime"):
            text = parse_mime(fields["body-mime"].encode()).text
        sender = mailbox(fields.get("from"), headers.get("from"), fields.get("sender"))
        # No Date header: Mailgun's signed timestamp of the post.
        occurred_at = parse_date(headers.get("date"))
        if occurred_at is None:
            occurred_at = from_unix(fields.get("timestamp"), "timestamp")
        msg_id = message_id(headers.get("message-id"))
        token = fields.get("token") or delivery.body_hash()
        return email_event(
            source=self.source,
            type_="email.received",
            direction=Direction.INBOUND,
            occurred_at=occurred_at,
            source_event_id=msg_id or token,
            customer=sender,
            sender=sender.address if sender else None,
            to=[m.address for m in mailboxes(headers.get("to") or fields.get("recipient"))],
            cc=[m.address for m in mailboxes(headers.get("cc"))],
            subject=fields.get("subject") or headers.get("subject"),
            message_id=msg_id,
            in_reply_to=message_id(headers.get("in-reply-to")),
            excerpt=excerpt(text),
        )


def _route_headers(fields: dict[str, str]) -> MailHeaders:
    """The message's headers: the MIME-header form fields (``Message-Id``, ``To``...), then
    ``message-headers`` (JSON list of [name, value]), then a raw ``body-mime``."""
    pairs: list[tuple[str, str]] = [
        (k, v) for k, v in fields.items() if k[:1].isupper() and isinstance(v, str)
    ]
    try:
        listed = bounded_json.loads(fields.get("message-headers") or "[]")
    except ValueError:
        listed = []
    if isinstance(listed, list):
        pairs += [
            (p[0], p[1])
            for p in listed
            if isinstance(p, list) and len(p) == 2 and all(isinstance(x, str) for x in p)
        ]
    if fields.get("body-mime"):
        pairs += parse_mime(fields["body-mime"].encode()).headers.pairs()
    return MailHeaders(pairs)


def _failure_reason(data: dict[str, Any]) -> str | None:
    status = data.get("delivery-status")
    status = status if isinstance(status, dict) else {}
    for candidate in (status.get("description"), status.get("message"), data.get("reason")):
        if isinstance(candidate, str) and candidate.strip():
            return candidate
    return None
