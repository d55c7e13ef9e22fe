"""Postmark inbound adapter: golden payload, basic auth, variants (pure, no database)."""

import base64
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from app.ingest.adapters.base import Delivery, PayloadError, SignatureError
from app.ingest.adapters.postmark import PostmarkAdapter
from app.timeline.catalog import Channel, Direction
from app.timeline.payloads import EmailPayload
from app.timeline.schemas import CustomerRefIn, IdentifiedEventIn

GOLDEN = Path(__file__).parent / "golden"
# headers.json: https://postmark:refdata-test-pass@hooks.example.com/... (test-only)
SECRET = "postmark:refdata-test-pass"
AUTHORIZATION = "Basic cG9zdG1hcms6cmVmZGF0YS10ZXN0LXBhc3M="
NOW = datetime(2026, 4, 14, 10, 20, 7, tzinfo=UTC)
POSTMARK_ID = "73e6d360-66eb-11e1-8e72-a8904824019b"
RFC_MESSAGE_ID = "<CAN_P_JMvV7ZpAQhOnDienypLrJmuhN=LQWweu4yScw4jQyXY2w@mail.gmail.com>"

adapter = PostmarkAdapter()


def golden_body() -> bytes:
    return (GOLDEN / "postmark_inbound.json").read_bytes()


def golden_json() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(golden_body())
    return loaded


def delivery(
    body: bytes | dict[str, Any] | None = None,
    authorization: str | None = AUTHORIZATION,
    path_token: str | None = None,
    received_at: datetime | None = None,
) -> Delivery:
    raw = golden_body() if body is None else body
    headers = {"content-type": "application/json", "user-agent": "Postmark"}
    if authorization:
        headers["authorization"] = authorization
    return Delivery(
        url="https://hooks.example.com/webhooks/postmark",
        headers=headers,
        body=json.dumps(raw).encode() if isinstance(raw, dict) else raw,
        path_token=path_token,
        received_at=received_at,
    )


def basic(credentials: str) -> str:
    return "Basic " + base64.b64encode(credentials.encode()).decode()


# --- golden -----------------------------------------------------------------------------


def test_the_golden_sample_is_one_received_email() -> None:
    [event] = adapter.normalize(delivery())

    assert event == IdentifiedEventIn(
        type="email.received",
        occurred_at=datetime.fromisoformat("2026-04-14T11:20:05+01:00"),
        channel=Channel.EMAIL,
        direction=Direction.INBOUND,
        source="postmark",
        # Postmark's own id, not the RFC Message-ID.
        source_event_id=POSTMARK_ID,
        customer=CustomerRefIn(email="jane.doe@example.com", display_name="Jane Doe"),
        payload={
            "from": "jane.doe@example.com",
            "to": ["yourhash+cust_000123@inbound.postmarkapp.com"],
            "cc": [],
            "subject": "Re: Your order #1001 has shipped",
            "message_id": RFC_MESSAGE_ID,
            "in_reply_to": "<20260414101502.1.48906CB188F1A454@mg.example.com>",
            "excerpt": "Thanks - could you change the delivery address?",
        },
    )
    assert event.occurred_at.utcoffset() is not None
    EmailPayload.model_validate(event.payload)


def test_the_delivery_id_is_postmarks_message_id() -> None:
    assert adapter.delivery_id(delivery()) == POSTMARK_ID


# --- credentials ------------------------------------------------------------------------


def test_the_golden_credentials_pass() -> None:
    adapter.verify(delivery(), [SECRET], NOW)


def test_a_rotated_password_passes() -> None:
    adapter.verify(delivery(), ["postmark:old-pass", SECRET], NOW)


@pytest.mark.parametrize(
    ("authorization", "secrets"),
    [
        (AUTHORIZATION, ["postmark:other-pass"]),
        (basic("someone:refdata-test-pass"), [SECRET]),
        (basic("postmark:refdata-test-pass "), [SECRET]),
        ("Bearer refdata-test-pass", [SECRET]),
        ("Basic ###", [SECRET]),
        (AUTHORIZATION, []),
    ],
)
def test_wrong_credentials_are_refused(authorization: str, secrets: list[str]) -> None:
    with pytest.raises(SignatureError):
        adapter.verify(delivery(authorization=authorization), secrets, NOW)


def test_missing_credentials_are_refused() -> None:
    with pytest.raises(SignatureError, match="missing"):
        adapter.verify(delivery(authorization=None), [SECRET], NOW)


def test_a_path_token_is_not_a_postmark_credential() -> None:
    with pytest.raises(SignatureError):
        adapter.verify(delivery(authorization=None, path_token="tok"), ["tok"], NOW)


def test_credentials_are_not_stored() -> None:
    d = delivery()
    assert "authorization" not in adapter.stored_headers(d)
    assert adapter.stored_body(d) == golden_body()


# --- variants ---------------------------------------------------------------------------


def test_without_a_stripped_reply_the_text_body_is_excerpted_without_its_quote() -> None:
    body = golden_json()
    body["StrippedTextReply"] = ""
    [event] = adapter.normalize(delivery(body))
    assert event.payload["excerpt"] == "Thanks - could you change the delivery address?"

    body["TextBody"] = "line\n" * 200
    [event] = adapter.normalize(delivery(body))
    assert len(event.payload["excerpt"]) <= 300


def test_plain_from_to_and_cc_fields_without_the_full_forms() -> None:
    body = golden_json()
    for name in ("FromFull", "ToFull", "CcFull", "FromName"):
        del body[name]
    body["From"] = '"Jane Doe" <jane.doe@example.com>'
    body["Cc"] = "Ana <ana@example.com>, bob@example.com"
    [event] = adapter.normalize(delivery(body))

    assert event.customer == CustomerRefIn(email="jane.doe@example.com", display_name="Jane Doe")
    assert event.payload["to"] == ["yourhash+cust_000123@inbound.postmarkapp.com"]
    assert event.payload["cc"] == ["ana@example.com", "bob@example.com"]


def test_cc_full_and_a_nameless_sender() -> None:
    body = golden_json()
    body["FromFull"] = {"Email": "jane.doe@example.com", "Name": "", "MailboxHash": ""}
    body["FromName"] = ""
    body["CcFull"] = [{"Email": "ana@example.com", "Name": "Ana", "MailboxHash": ""}]
    [event] = adapter.normalize(delivery(body))
    assert event.customer == CustomerRefIn(email="jane.doe@example.com")
    assert event.payload["cc"] == ["ana@example.com"]


def test_without_rfc_headers_there_is_no_message_id() -> None:
    body = golden_json()
    body["Headers"] = []
    [event] = adapter.normalize(delivery(body))
    assert "message_id" not in event.payload
    assert "in_reply_to" not in event.payload
    assert event.source_event_id == POSTMARK_ID


def test_without_a_date_the_receipt_time_is_used_else_payload_error() -> None:
    body = golden_json()
    body["Date"] = "not a date"
    [event] = adapter.normalize(delivery(body, received_at=NOW))
    assert event.occurred_at == NOW
    with pytest.raises(PayloadError, match="Date"):
        adapter.normalize(delivery(body))


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        {"Subject": "no sender", "Date": "Tue, 14 Apr 2026 11:20:05 +0100"},
        {"From": "nobody", "Date": "Tue, 14 Apr 2026 11:20:05 +0100"},
    ],
)
def test_authenticated_but_unreadable_bodies_are_payload_errors(
    body: bytes | dict[str, Any],
) -> None:
    d = delivery(body)
    adapter.verify(d, [SECRET], NOW)
    with pytest.raises(PayloadError):
        adapter.normalize(d)
    assert adapter.delivery_id(d) == d.body_hash()
