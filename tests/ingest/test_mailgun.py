"""Mailgun adapter: golden event webhook, signatures, inbound routes, redaction (pure, no database)."""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import pytest

from app.ingest.adapters.base import Delivery, PayloadError, SignatureError
from app.ingest.adapters.mailgun import MailgunAdapter
from app.timeline.catalog import Channel, Direction
from app.timeline.payloads import EmailPayload
from app.timeline.schemas import CustomerRefIn, IdentifiedEventIn
from tests.support.webhooks import mailgun_event_data, mailgun_signature

GOLDEN = Path(__file__).parent / "golden"
KEY = "refdata-test-mailgun-signing-key"  # headers.json, test-only
SAMPLE_TIMESTAMP = 1776161703
SAMPLE_SIGNATURE = "3c92312ece07bad1525a8fd4b726fb8192027182758c5e0f046b180c51d073b7"
NOW = datetime.fromtimestamp(SAMPLE_TIMESTAMP, tz=UTC) + timedelta(seconds=45)
MESSAGE_ID = "<20260414101502.1.48906CB188F1A454@mg.example.com>"

adapter = MailgunAdapter()


def golden_body() -> bytes:
    return (GOLDEN / "mailgun_webhook_delivered.json").read_bytes()


def golden_json() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(golden_body())
    return loaded


def delivery(body: bytes, content_type: str = "application/json") -> Delivery:
    return Delivery(
        url="https://hooks.example.com/webhooks/mailgun",
        headers={"content-type": content_type, "user-agent": "mailgun/treq-16.12.0"},
        body=body,
    )


def signed_event(
    event_data: dict[str, Any], *, key: str = KEY, timestamp: int = SAMPLE_TIMESTAMP
) -> Delivery:
    token = "b" * 50
    body = {
        "signature": {
            "timestamp": str(timestamp),
            "token": token,
            "signature": mailgun_signature(key, str(timestamp), token),
        },
        "event-data": event_data,
    }
    return delivery(json.dumps(body).encode())


def expected(type_: str, source_event_id: str, at: datetime, **payload: Any) -> IdentifiedEventIn:
    return IdentifiedEventIn(
        type=type_,
        occurred_at=at,
        channel=Channel.EMAIL,
        direction=Direction.OUTBOUND,
        source="mailgun",
        source_event_id=source_event_id,
        customer=CustomerRefIn(email="jane.doe@example.com"),
        payload={
            "from": "orders@mg.example.com",
            "to": ["jane.doe@example.com"],
            "cc": [],
            "subject": "Your order #1001 has shipped",
            "message_id": MESSAGE_ID,
            **payload,
        },
    )


SAMPLE_AT = datetime(2026, 4, 14, 10, 15, 3, 626182, tzinfo=UTC)


# --- golden -----------------------------------------------------------------------------


def test_the_golden_sample_verifies() -> None:
    adapter.verify(delivery(golden_body()), [KEY], NOW)


def test_the_golden_sample_is_one_delivered_email() -> None:
    [event] = adapter.normalize(delivery(golden_body()))

    assert event == expected("email.delivered", "hK7mQVt1QtqRiOfQXta4sw", SAMPLE_AT)
    assert event.occurred_at.utcoffset() == timedelta(0)
    EmailPayload.model_validate(event.payload)


def test_the_delivery_id_is_the_signed_token_not_the_event_id() -> None:
    """The body is not signed: an id from it would let a signature carry a second body."""
    token = golden_json()["signature"]["token"]
    assert adapter.delivery_id(delivery(golden_body())) == token


def test_the_stored_body_has_the_signature_redacted_and_nothing_else_changed() -> None:
    stored = adapter.stored_body(delivery(golden_body()))

    assert SAMPLE_SIGNATURE.encode() not in stored
    assert json.loads(stored)["signature"]["signature"] == "[redacted]"
    assert stored == golden_body().replace(SAMPLE_SIGNATURE.encode(), b"[redacted]")


def test_a_signature_json_cannot_carry_verbatim_is_redacted_by_reserialising() -> None:
    body = golden_json()
    body["signature"]["signature"] = "x/y"
    raw = json.dumps(body).replace("x/y", "x\\/y").encode()
    stored = json.loads(adapter.stored_body(delivery(raw)))
    assert stored["signature"]["signature"] == "[redacted]"
    assert stored["event-data"] == body["event-data"]


# --- signatures -------------------------------------------------------------------------


def test_a_rotated_key_passes() -> None:
    adapter.verify(delivery(golden_body()), ["old-key", KEY], NOW)


def test_the_wrong_key_is_refused() -> None:
    with pytest.raises(SignatureError, match="does not match"):
        adapter.verify(delivery(golden_body()), ["another-key"], NOW)


@pytest.mark.parametrize(
    ("field", "value"),
    [("token", "c" * 50), ("timestamp", str(SAMPLE_TIMESTAMP + 1)), ("signature", "0" * 64)],
)
def test_a_tampered_signature_block_is_refused(field: str, value: str) -> None:
    body = golden_json()
    body["signature"][field] = value
    with pytest.raises(SignatureError):
        adapter.verify(delivery(json.dumps(body).encode()), [KEY], NOW)


@pytest.mark.parametrize("missing", ["signature", "token", "timestamp"])
def test_missing_credentials_are_refused(missing: str) -> None:
    body = golden_json()
    del body["signature"][missing]
    with pytest.raises(SignatureError, match="missing"):
        adapter.verify(delivery(json.dumps(body).encode()), [KEY], NOW)


@pytest.mark.parametrize("body", [b"not json", b"[]", b'{"event-data": {}}', b'{"signature": "x"}'])
def test_bodies_without_a_signature_block_are_refused(body: bytes) -> None:
    with pytest.raises(SignatureError):
        adapter.verify(delivery(body), [KEY], NOW)


@pytest.mark.parametrize("offset", [301, -301, 3600])
def test_a_stale_timestamp_is_refused(offset: int) -> None:
    now = datetime.fromtimestamp(SAMPLE_TIMESTAMP + offset, tz=UTC)
    with pytest.raises(SignatureError, match="from now"):
        adapter.verify(delivery(golden_body()), [KEY], now)


def test_a_fresh_resigned_variant_passes() -> None:
    later = SAMPLE_TIMESTAMP + 10_000
    adapter.verify(
        signed_event(mailgun_event_data("opened"), timestamp=later),
        [KEY],
        datetime.fromtimestamp(later + 10, tz=UTC),
    )


# --- event variants ---------------------------------------------------------------------


def test_opened_and_clicked() -> None:
    opened = signed_event(mailgun_event_data("opened", timestamp=1776162000.5))
    clicked = signed_event(mailgun_event_data("clicked", url="https://shop.example.com/o/1001"))
    adapter.verify(opened, [KEY], NOW)

    assert adapter.normalize(opened) == [
        expected("email.opened", "id-opened", datetime(2026, 4, 14, 10, 20, 0, 500000, tzinfo=UTC))
    ]
    assert adapter.normalize(clicked) == [
        expected("email.clicked", "id-clicked", SAMPLE_AT, url="https://shop.example.com/o/1001")
    ]


def test_a_permanent_failure_is_a_bounce_with_its_reason() -> None:
    data = mailgun_event_data(
        "failed",
        severity="permanent",
        reason="bounce",
        **{
            "delivery-status": {
                "code": 550,
                "message": "5.1.1 The email account that you tried to reach does not exist",
                "description": "",
            }
        },
    )
    assert adapter.normalize(signed_event(data)) == [
        expected(
            "email.bounced",
            "id-failed",
            SAMPLE_AT,
            reason="5.1.1 The email account that you tried to reach does not exist",
        )
    ]
    del data["delivery-status"]
    [event] = adapter.normalize(signed_event(data))
    assert event.payload["reason"] == "bounce"


@pytest.mark.parametrize(
    "data",
    [
        mailgun_event_data("failed", severity="temporary", reason="generic"),
        mailgun_event_data("accepted"),
        mailgun_event_data("rejected"),
        mailgun_event_data("complained"),
        mailgun_event_data("unsubscribed"),
        mailgun_event_data("stored"),
    ],
)
def test_other_events_are_skipped(data: dict[str, Any]) -> None:
    assert adapter.normalize(signed_event(data)) == []


def test_the_recipient_name_comes_from_the_to_header() -> None:
    data = mailgun_event_data("delivered")
    data["message"]["headers"]["to"] = '"Jane Doe" <Jane.Doe@example.com>, other@example.com'
    [event] = adapter.normalize(signed_event(data))
    assert event.customer == CustomerRefIn(email="jane.doe@example.com", display_name="Jane Doe")
    assert event.payload["to"] == ["jane.doe@example.com"]


@pytest.mark.parametrize(
    "mutate",
    [
        lambda b: b.pop("event-data"),
        lambda b: b.update({"event-data": []}),
        lambda b: b["event-data"].pop("id"),
        lambda b: b["event-data"].pop("recipient"),
        lambda b: b["event-data"].update(timestamp="soon"),
    ],
)
def test_signed_but_unreadable_bodies_are_payload_errors(mutate: Any) -> None:
    body = golden_json()
    mutate(body)
    d = delivery(json.dumps(body).encode())
    adapter.verify(d, [KEY], NOW)
    with pytest.raises(PayloadError):
        adapter.normalize(d)


def test_without_an_event_id_the_token_is_still_the_delivery_id() -> None:
    body = golden_json()
    del body["event-data"]["id"]
    assert adapter.delivery_id(delivery(json.dumps(body).encode())) == body["signature"]["token"]
    assert adapter.delivery_id(delivery(b"garbage")) == delivery(b"garbage").body_hash()


# --- inbound routes ---------------------------------------------------------------------

ROUTE_TOKEN = "d" * 50


def route_fields(timestamp: int = SAMPLE_TIMESTAMP, key: str = KEY) -> dict[str, str]:
    return {
        "timestamp": str(timestamp),
        "token": ROUTE_TOKEN,
        "signature": mailgun_signature(key, str(timestamp), ROUTE_TOKEN),
        "domain": "mg.example.com",
        "recipient": "support@mg.example.com",
        "sender": "bounce+jane@example.com",
        "from": "Jane Doe <jane.doe@example.com>",
        "subject": "Re: Your order #1001 has shipped",
        "body-plain": "Thanks - where is it?\r\n\r\nOn Tue, 14 Apr 2026, Example Shop wrote:\r\n> Shipped.\r\n",
        "stripped-text": "Thanks - where is it?",
        "Message-Id": "<reply-1@mail.example.com>",
        "In-Reply-To": MESSAGE_ID,
        "To": "Support <support@mg.example.com>",
        "message-headers": json.dumps(
            [
                ["Date", "Tue, 14 Apr 2026 11:20:05 +0100"],
                ["Cc", "Ana <ana@example.com>"],
                ["Message-Id", "<reply-1@mail.example.com>"],
            ]
        ),
    }


def multipart(fields: dict[str, str], boundary: str = "mgBOUNDARY") -> bytes:
    out = b""
    for name, value in fields.items():
        out += f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
    out += (
        f'--{boundary}\r\nContent-Disposition: form-data; name="attachment-1"; filename="a.txt"\r\n'
        f"Content-Type: text/plain\r\n\r\nfile\r\n--{boundary}--\r\n"
    ).encode()
    return out


ROUTE_EVENT = IdentifiedEventIn(
    type="email.received",
    occurred_at=datetime.fromisoformat("2026-04-14T11:20:05+01:00"),
    channel=Channel.EMAIL,
    direction=Direction.INBOUND,
    source="mailgun",
    source_event_id="<reply-1@mail.example.com>",
    customer=CustomerRefIn(email="jane.doe@example.com", display_name="Jane Doe"),
    payload={
        "from": "jane.doe@example.com",
        "to": ["support@mg.example.com"],
        "cc": ["ana@example.com"],
        "subject": "Re: Your order #1001 has shipped",
        "message_id": "<reply-1@mail.example.com>",
        "in_reply_to": MESSAGE_ID,
        "excerpt": "Thanks - where is it?",
    },
)


def route_deliveries(fields: dict[str, str]) -> list[Delivery]:
    return [
        delivery(urlencode(fields).encode(), "application/x-www-form-urlencoded"),
        delivery(multipart(fields), "multipart/form-data; boundary=mgBOUNDARY"),
    ]


@pytest.mark.parametrize("kind", ["urlencoded", "multipart"])
def test_an_inbound_route_is_a_received_email(kind: str) -> None:
    d = route_deliveries(route_fields())[kind == "multipart"]
    adapter.verify(d, [KEY], NOW)

    assert adapter.normalize(d) == [ROUTE_EVENT]
    assert adapter.delivery_id(d) == ROUTE_TOKEN


@pytest.mark.parametrize("kind", ["urlencoded", "multipart"])
def test_an_inbound_route_is_refused_with_a_wrong_key_or_stale(kind: str) -> None:
    index = kind == "multipart"
    with pytest.raises(SignatureError):
        adapter.verify(route_deliveries(route_fields(key="other"))[index], [KEY], NOW)
    with pytest.raises(SignatureError):
        adapter.verify(route_deliveries(route_fields())[index], [KEY], NOW + timedelta(minutes=6))
    fields = route_fields()
    del fields["signature"]
    with pytest.raises(SignatureError, match="missing"):
        adapter.verify(route_deliveries(fields)[index], [KEY], NOW)


def test_an_inbound_route_stored_body_has_the_signature_redacted() -> None:
    for d in route_deliveries(route_fields()):
        stored = adapter.stored_body(d)
        assert route_fields()["signature"].encode() not in stored
        assert b"[redacted]" in stored
    urlencoded = route_deliveries(route_fields())[0]
    assert dict(parse_qsl(adapter.stored_body(urlencoded).decode()))["signature"] == "[redacted]"


def test_an_inbound_route_without_stripped_text_date_or_message_id() -> None:
    fields = route_fields()
    for name in ("stripped-text", "Message-Id", "message-headers", "To"):
        del fields[name]
    d = route_deliveries(fields)[0]
    [event] = adapter.normalize(d)

    assert event.occurred_at == datetime.fromtimestamp(SAMPLE_TIMESTAMP, tz=UTC)
    assert event.source_event_id == ROUTE_TOKEN
    assert adapter.delivery_id(d) == ROUTE_TOKEN
    assert event.payload["excerpt"] == "Thanks - where is it?"
    assert event.payload["to"] == ["support@mg.example.com"]
    assert "message_id" not in event.payload


def test_an_inbound_route_without_a_sender_is_a_payload_error() -> None:
    fields = route_fields()
    for name in ("from", "sender"):
        del fields[name]
    with pytest.raises(PayloadError, match="sender"):
        adapter.normalize(route_deliveries(fields)[0])


def test_an_unknown_content_type_is_a_payload_error() -> None:
    with pytest.raises(PayloadError):
        adapter.normalize(delivery(b"<xml/>", "text/xml"))


@pytest.mark.parametrize("timestamp", ["nan", "NaN", "inf", "-inf"])
def test_a_timestamp_that_is_no_instant_is_refused(timestamp: str) -> None:
    """Signed with the right key, but "nan" is within no distance of now: no replay window."""
    body = golden_json()
    token = body["signature"]["token"]
    body["signature"] = {
        "timestamp": timestamp,
        "token": token,
        "signature": mailgun_signature(KEY, timestamp, token),
    }
    with pytest.raises(SignatureError, match="from now"):
        adapter.verify(delivery(json.dumps(body).encode()), [KEY], NOW)
