"""SendGrid Inbound Parse adapter: golden payload, URL credentials, variants (pure, no database)."""

import base64
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from app.ingest.adapters.base import Delivery, PayloadError, SignatureError
from app.ingest.adapters.sendgrid_inbound import SendGridInboundAdapter
from app.timeline.catalog import Channel, Direction
from app.timeline.payloads import EmailPayload
from app.timeline.schemas import CustomerRefIn, IdentifiedEventIn
from tests.support.webhooks import INBOUND_BOUNDARY, INBOUND_CONTENT_TYPE, inbound_parse_body

GOLDEN = Path(__file__).parent / "golden"
NOW = datetime(2026, 4, 14, 10, 20, 7, tzinfo=UTC)
MESSAGE_ID = "<CAN_P_JMvV7ZpAQhOnDienypLrJmuhN=LQWweu4yScw4jQyXY2w@mail.gmail.com>"

adapter = SendGridInboundAdapter()


def multipart(fields: list[tuple[str, str | bytes]], boundary: str = INBOUND_BOUNDARY) -> bytes:
    out = b""
    for name, value in fields:
        data = value.encode() if isinstance(value, str) else value
        out += f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
        out += data + b"\r\n"
    return out + f"--{boundary}--\r\n".encode()


def delivery(
    body: bytes | None = None,
    *,
    authorization: str | None = None,
    path_token: str | None = None,
    content_type: str = INBOUND_CONTENT_TYPE,
    received_at: datetime | None = None,
) -> Delivery:
    headers = {"content-type": content_type, "user-agent": "Sendlib/1.0 parse.sendgrid.net"}
    if authorization:
        headers["authorization"] = authorization
    return Delivery(
        url="https://hooks.example.com/webhooks/sendgrid-inbound",
        headers=headers,
        body=inbound_parse_body() if body is None else body,
        path_token=path_token,
        received_at=received_at,
    )


def basic(credentials: str) -> str:
    return "Basic " + base64.b64encode(credentials.encode()).decode()


HEADERS = (
    "From: Jane Doe <jane.doe@example.com>\n"
    "Date: Tue, 14 Apr 2026 11:20:05 +0100\n"
    "Message-ID: <variant-1@mail.example.com>\n"
    "Subject: Hello\n"
    "To: support@parse.example.com\n"
)


def variant(**overrides: str | None) -> bytes:
    fields: dict[str, str | None] = {
        "headers": HEADERS,
        "from": "Jane Doe <jane.doe@example.com>",
        "to": "support@parse.example.com",
        "subject": "Hello",
        "text": "Hi there",
    }
    fields.update(overrides)
    return multipart([(k, v) for k, v in fields.items() if v is not None])


# --- golden -----------------------------------------------------------------------------


def test_the_golden_sample_is_one_received_email() -> None:
    [event] = adapter.normalize(delivery())

    assert event == IdentifiedEventIn(
        type="email.received",
        occurred_at=datetime.fromisoformat("2026-04-14T11:20:05+01:00"),
        channel=Channel.EMAIL,
        direction=Direction.INBOUND,
        source="sendgrid-inbound",
        source_event_id=MESSAGE_ID,
        customer=CustomerRefIn(email="jane.doe@example.com", display_name="Jane Doe"),
        payload={
            "from": "jane.doe@example.com",
            "to": ["support@parse.example.com"],
            "cc": [],
            "subject": "Re: Your order #1001 has shipped",
            "message_id": MESSAGE_ID,
            "in_reply_to": "<20260414101502.1.48906CB188F1A454@mg.example.com>",
            # The quoted reply and its "On ... wrote:" line are left out.
            "excerpt": "Thanks - could you change the delivery address?",
        },
    )
    assert event.occurred_at.utcoffset() is not None
    EmailPayload.model_validate(event.payload)


def test_the_delivery_id_is_the_message_id() -> None:
    assert adapter.delivery_id(delivery()) == MESSAGE_ID


# --- credentials ------------------------------------------------------------------------


def test_basic_auth_in_the_url_passes() -> None:
    adapter.verify(delivery(authorization=basic("parse:s3cret")), ["parse:s3cret"], NOW)


def test_a_path_token_passes() -> None:
    adapter.verify(delivery(path_token="tok-123"), ["tok-123"], NOW)


def test_a_rotated_secret_passes() -> None:
    adapter.verify(delivery(authorization=basic("parse:new")), ["parse:old", "parse:new"], NOW)
    adapter.verify(delivery(path_token="new-token"), ["old-token", "new-token"], NOW)


@pytest.mark.parametrize(
    ("authorization", "token", "secrets"),
    [
        (basic("parse:wrong"), None, ["parse:s3cret"]),
        (None, "wrong-token", ["tok-123"]),
        # A user:password secret is never a path token, and a token is not a password.
        (None, "parse:s3cret", ["parse:s3cret"]),
        (basic("tok-123"), None, ["tok-123"]),
        ("Bearer tok-123", None, ["tok-123"]),
        ("Basic not-base64!", None, ["parse:s3cret"]),
        (basic("parse:s3cret"), None, []),
    ],
)
def test_wrong_credentials_are_refused(
    authorization: str | None, token: str | None, secrets: list[str]
) -> None:
    with pytest.raises(SignatureError):
        adapter.verify(delivery(authorization=authorization, path_token=token), secrets, NOW)


def test_missing_credentials_are_refused() -> None:
    with pytest.raises(SignatureError, match="missing"):
        adapter.verify(delivery(), ["parse:s3cret", "tok-123"], NOW)


def test_credentials_are_not_stored() -> None:
    d = delivery(authorization=basic("parse:s3cret"))
    assert "authorization" not in adapter.stored_headers(d)
    assert adapter.stored_headers(d)["content-type"] == INBOUND_CONTENT_TYPE
    assert adapter.stored_body(d) == d.body


# --- variants ---------------------------------------------------------------------------


def test_cc_encoded_names_and_folded_headers() -> None:
    headers = (
        "From: =?UTF-8?B?Sm9zw6kgUMOpcmV6?= <jose@example.com>\n"
        "Date: Tue, 14 Apr 2026 11:20:05 +0100\n"
        "Message-ID:\n <folded@mail.example.com>\n"
        "In-Reply-To: <a@x.example> <b@x.example>\n"
        "Cc: Ana <ana@example.com>, bob@example.com\n"
    )
    body = variant(headers=headers, **{"from": None, "subject": None})
    [event] = adapter.normalize(delivery(body))

    assert event.customer == CustomerRefIn(email="jose@example.com", display_name="José Pérez")
    assert event.payload["cc"] == ["ana@example.com", "bob@example.com"]
    assert event.payload["message_id"] == "<folded@mail.example.com>"
    assert event.payload["in_reply_to"] == "<a@x.example>"
    assert "subject" not in event.payload


def test_field_charsets_are_honoured() -> None:
    body = multipart(
        [
            ("headers", HEADERS),
            ("from", "Jane Doe <jane.doe@example.com>"),
            ("subject", "Caf\xe9".encode("latin-1")),
            ("text", "Ol\xe1".encode("latin-1")),
            ("charsets", json.dumps({"subject": "iso-8859-1", "text": "iso-8859-1"})),
        ]
    )
    [event] = adapter.normalize(delivery(body))
    assert event.payload["subject"] == "Café"
    assert event.payload["excerpt"] == "Olá"


def test_long_bodies_are_excerpted() -> None:
    [event] = adapter.normalize(delivery(variant(text="word " * 1000)))
    assert 100 < len(event.payload["excerpt"]) <= 300
    assert event.payload["excerpt"].endswith("…")


def test_send_raw_mode_reads_the_mime_message() -> None:
    raw = (
        "From: Jane Doe <jane.doe@example.com>\r\n"
        "To: support@parse.example.com\r\n"
        "Date: Tue, 14 Apr 2026 11:20:05 +0100\r\n"
        "Message-ID: <raw-1@mail.example.com>\r\n"
        "Subject: Raw mode\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/alternative; boundary="alt"\r\n\r\n'
        "--alt\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nPlain body\r\n"
        "--alt\r\nContent-Type: text/html\r\n\r\n<p>Plain body</p>\r\n--alt--\r\n"
    )
    body = multipart(
        [
            ("email", raw),
            ("from", "Jane Doe <jane.doe@example.com>"),
            ("to", "support@parse.example.com"),
            ("subject", "Raw mode"),
        ]
    )
    d = delivery(body)
    [event] = adapter.normalize(d)

    assert adapter.delivery_id(d) == "<raw-1@mail.example.com>"
    assert event.source_event_id == "<raw-1@mail.example.com>"
    assert event.payload["excerpt"] == "Plain body"
    assert event.payload["subject"] == "Raw mode"


def test_without_message_id_the_body_hash_is_the_id() -> None:
    d = delivery(
        variant(headers="From: jane.doe@example.com\nDate: Tue, 14 Apr 2026 11:20:05 +0100\n")
    )
    [event] = adapter.normalize(d)
    assert adapter.delivery_id(d) == d.body_hash()
    assert event.source_event_id == d.body_hash()
    assert "message_id" not in event.payload


def test_without_a_date_the_receipt_time_is_used_else_payload_error() -> None:
    body = variant(headers="From: jane.doe@example.com\nMessage-ID: <x@y>\n")
    [event] = adapter.normalize(delivery(body, received_at=NOW))
    assert event.occurred_at == NOW
    with pytest.raises(PayloadError, match="Date"):
        adapter.normalize(delivery(body))


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b'{"headers": "x"}', "application/json"),
        (b"not multipart at all", INBOUND_CONTENT_TYPE),
        (b"--xYzZY--\r\n", "multipart/form-data"),
        (multipart([("text", "no headers field")]), INBOUND_CONTENT_TYPE),
    ],
)
def test_unreadable_bodies_are_payload_errors(body: bytes, content_type: str) -> None:
    d = delivery(body, content_type=content_type)
    with pytest.raises(PayloadError):
        adapter.normalize(d)
    assert adapter.delivery_id(d) == d.body_hash()


def test_a_mail_without_a_sender_address_is_a_payload_error() -> None:
    body = variant(headers="Date: Tue, 14 Apr 2026 11:20:05 +0100\n", **{"from": "undisclosed"})
    with pytest.raises(PayloadError, match="sender"):
        adapter.normalize(delivery(body))
