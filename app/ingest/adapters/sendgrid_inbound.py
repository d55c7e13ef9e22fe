"""SendGrid Inbound Parse: a received email posted as multipart/form-data.

SendGrid signs nothing by default; its documented protection is a secret in the configured
URL: HTTP basic auth (``https://user:pass@host/...``) or a token in the path. A secret with
``:`` is a ``user:password`` pair checked against ``Authorization: Basic``; the others are
path tokens checked against ``delivery.path_token``.

Both Parse modes are read: the default one (parsed fields ``headers``, ``from``, ``to``,
``cc``, ``subject``, ``text``...) and "Send Raw" (the whole MIME message in ``email``).
"""

from collections.abc import Sequence
from datetime import datetime

from app.ingest.adapters.base import Adapter, Delivery, PayloadError
from app.ingest.adapters.email_message import (
    MailHeaders,
    MimeMessage,
    email_event,
    excerpt,
    mailbox,
    mailboxes,
    message_id,
    multipart_fields,
    parse_date,
    parse_mime,
    stable_id,
    verify_basic_or_token,
)
from app.timeline.catalog import Direction
from app.timeline.schemas import IdentifiedEventIn


class SendGridInboundAdapter(Adapter):
    source = "sendgrid-inbound"

    def verify(self, delivery: Delivery, secrets: Sequence[str], now: datetime) -> None:
        verify_basic_or_token(delivery, secrets)

    def delivery_id(self, delivery: Delivery) -> str:
        try:
            mail = _read(delivery)
        except PayloadError:
            return delivery.body_hash()
        found = message_id(mail.headers.get("message-id"))
        return stable_id(found) if found else delivery.body_hash()

    def normalize(self, delivery: Delivery) -> list[IdentifiedEventIn]:
        mail = _read(delivery)
        headers, fields = mail.headers, mail.fields
        sender = mailbox(fields.get("from"), headers.get("from"))
        # No Date header (rare: MTAs add one): when the delivery was received, else refused.
        occurred_at = parse_date(headers.get("date")) or delivery.received_at
        if occurred_at is None:
            raise PayloadError("the message has no readable Date header")
        msg_id = message_id(headers.get("message-id"))
        return [
            email_event(
                source=self.source,
                type_="email.received",
                direction=Direction.INBOUND,
                occurred_at=occurred_at,
                source_event_id=msg_id or delivery.body_hash(),
                customer=sender,
                sender=sender.address if sender else None,
                to=[m.address for m in mailboxes(fields.get("to") or headers.get("to"))],
                cc=[m.address for m in mailboxes(fields.get("cc") or headers.get("cc"))],
                subject=fields.get("subject") or headers.get("subject"),
                message_id=msg_id,
                in_reply_to=message_id(headers.get("in-reply-to")),
                excerpt=excerpt(fields.get("text") or mail.text),
            )
        ]


class _Mail:
    """The form fields and the message's own headers (from ``headers`` or the raw MIME)."""

    def __init__(self, fields: dict[str, str], headers: MailHeaders, text: str | None) -> None:
        self.fields = fields
        self.headers = headers
        self.text = text


def _read(delivery: Delivery) -> _Mail:
    if delivery.content_type != "multipart/form-data":
        raise PayloadError(f"expected multipart/form-data, got {delivery.content_type or 'none'}")
    fields = multipart_fields(delivery)
    if "headers" in fields:
        return _Mail(fields, MailHeaders.parse(fields["headers"]), None)
    if "email" in fields:  # "Send Raw" mode
        raw: MimeMessage = parse_mime(fields["email"].encode())
        return _Mail(fields, raw.headers, raw.text)
    raise PayloadError("neither a 'headers' nor an 'email' field: not an Inbound Parse post")
