"""Postmark inbound webhook: a received email as JSON.

Postmark signs nothing; the documented protection is HTTP basic auth in the configured URL
(``https://user:pass@host/...``). Secrets are ``user:password`` pairs.

Postmark's top-level ``MessageID`` is Postmark's own id for the inbound message (the
delivery id and ``source_event_id``); the RFC 5322 Message-ID is in ``Headers[]``.
"""

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from app.ingest.adapters.base import Adapter, Delivery, PayloadError
from app.ingest.adapters.email_message import (
    Mailbox,
    MailHeaders,
    email_event,
    excerpt,
    mailbox,
    mailboxes,
    message_id,
    parse_date,
    stable_id,
    verify_basic_or_token,
)
from app.timeline.catalog import Direction
from app.timeline.schemas import IdentifiedEventIn


def _full(value: Any) -> list[Mailbox]:
    """Postmark's ``FromFull`` / ``ToFull`` entries (``{"Email", "Name"}``)."""
    entries = value if isinstance(value, list) else [value]
    found = []
    for entry in entries:
        if isinstance(entry, dict) and isinstance(entry.get("Email"), str):
            address = entry["Email"].strip()
            name = entry.get("Name")
            if "@" in address:
                found.append(
                    Mailbox(address, (name.strip() or None) if isinstance(name, str) else None)
                )
    return found


def _text(body: dict[str, Any], key: str) -> str | None:
    value = body.get(key)
    return value if isinstance(value, str) and value else None


class PostmarkAdapter(Adapter):
    source = "postmark"

    def verify(self, delivery: Delivery, secrets: Sequence[str], now: datetime) -> None:
        verify_basic_or_token(delivery, secrets, allow_token=False)

    def delivery_id(self, delivery: Delivery) -> str:
        try:
            body = delivery.json()
        except PayloadError:
            return delivery.body_hash()
        postmark_id = body.get("MessageID") if isinstance(body, dict) else None
        if isinstance(postmark_id, str) and postmark_id:
            return stable_id(postmark_id)
        return delivery.body_hash()

    def normalize(self, delivery: Delivery) -> list[IdentifiedEventIn]:
        body = delivery.json()
        if not isinstance(body, dict):
            raise PayloadError("expected a JSON object")
        listed = body.get("Headers")
        headers = MailHeaders(
            (h["Name"], h["Value"])
            for h in (listed if isinstance(listed, list) else [])
            if isinstance(h, dict) and isinstance(h.get("Name"), str)
            if isinstance(h.get("Value"), str)
        )
        full = _full(body.get("FromFull"))
        sender = full[0] if full else mailbox(_text(body, "From"))
        if sender is not None and sender.name is None and _text(body, "FromName"):
            sender = Mailbox(sender.address, _text(body, "FromName"))
        to = _full(body.get("ToFull")) or mailboxes(_text(body, "To"))
        cc = _full(body.get("CcFull")) or mailboxes(_text(body, "Cc"))
        # No Date (Postmark always sends one): when the delivery was received, else refused.
        occurred_at = parse_date(_text(body, "Date")) or delivery.received_at
        if occurred_at is None:
            raise PayloadError("no readable Date")
        msg_id = message_id(headers.get("message-id"))
        stripped = _text(body, "StrippedTextReply")
        return [
            email_event(
                source=self.source,
                type_="email.received",
                direction=Direction.INBOUND,
                occurred_at=occurred_at,
                source_event_id=_text(body, "MessageID") or msg_id or delivery.body_hash(),
                customer=sender,
                sender=sender.address if sender else None,
                to=[m.address for m in to],
                cc=[m.address for m in cc],
                subject=_text(body, "Subject"),
                message_id=msg_id,
                in_reply_to=message_id(headers.get("in-reply-to")),
                excerpt=excerpt(stripped) if stripped else excerpt(_text(body, "TextBody")),
            )
        ]
