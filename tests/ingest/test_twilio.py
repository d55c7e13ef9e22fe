"""Twilio Voice status callbacks: signature, delivery id and normalisation (pure, no database)."""

from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

import pytest

from app.ingest.adapters.base import Delivery, PayloadError, SignatureError
from app.ingest.adapters.twilio import TwilioAdapter
from app.timeline.catalog import CATALOG
from tests.support.webhooks import twilio_signature

GOLDEN = Path(__file__).parent / "golden" / "twilio_voice_status_completed.form"
URL = "https://hooks.example.com/webhooks/twilio/voice/status"
TOKEN = "refdata_test_auth_token_0000000"
GOLDEN_SIGNATURE = "aLRmjJImgHLhXAvkAZxXXykJwAY="
IDEMPOTENCY_TOKEN = "5b84fa54-1fdd-51e6-bf28-f11b40211089"
NOW = datetime(2026, 4, 14, 10, 16, tzinfo=UTC)
CALL_SID = "CA5f0c3e2a1b4d6f8e9a0b1c2d3e4f5a6b"
RECORDING = (
    "https://api.twilio.com/2010-04-01/Accounts/ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
    "/Recordings/RE0123456789abcdef0123456789abcdef"
)

adapter = TwilioAdapter()


def golden_body() -> bytes:
    return GOLDEN.read_bytes()


def delivery(
    body: bytes,
    signature: str | None = None,
    url: str = URL,
    extra: dict[str, str] | None = None,
    received_at: datetime | None = None,
) -> Delivery:
    headers = {"content-type": "application/x-www-form-urlencoded", "user-agent": "TwilioProxy/1.1"}
    if signature is not None:
        headers["x-twilio-signature"] = signature
    headers.update(extra or {})
    return Delivery(url=url, headers=headers, body=body, received_at=received_at)


def variant(**changes: str | None) -> bytes:
    """The golden callback with some parameters changed (None removes one)."""
    params = dict(parse_qsl(golden_body().decode(), keep_blank_values=True))
    for name, value in changes.items():
        if value is None:
            params.pop(name, None)
        else:
            params[name] = value
    return urlencode(params).encode()


def signed(body: bytes, received_at: datetime | None = None) -> Delivery:
    return delivery(body, twilio_signature(URL, body), received_at=received_at)


# --- the golden sample ---------------------------------------------------------------------


def test_golden_file_is_byte_exact() -> None:
    body = golden_body()
    assert not body.endswith(b"\n")
    assert twilio_signature(URL, body) == GOLDEN_SIGNATURE


def test_golden_callback_normalises_to_one_completed_call() -> None:
    events = adapter.normalize(delivery(golden_body(), GOLDEN_SIGNATURE))

    assert [e.model_dump(mode="json", exclude_none=True) for e in events] == [
        {
            "type": "call.completed",
            "occurred_at": "2026-04-14T10:15:42Z",
            "channel": "phone",
            "direction": "outbound",
            "source": "twilio",
            "source_event_id": CALL_SID,
            "customer": {"phone": "+447700900123"},
            "payload": {
                "from": "+442071838750",
                "to": "+447700900123",
                "duration_s": 62,
                "recording_url": RECORDING,
                "call_id": CALL_SID,
                "disposition": "completed",
            },
        }
    ]
    event = events[0]
    assert event.occurred_at.tzinfo is not None
    CATALOG[event.type].payload.model_validate(event.payload)


# --- signatures -----------------------------------------------------------------------------


def test_the_documented_signature_verifies() -> None:
    adapter.verify(delivery(golden_body(), GOLDEN_SIGNATURE), [TOKEN], NOW)


def test_wrong_auth_token_is_refused() -> None:
    with pytest.raises(SignatureError):
        adapter.verify(delivery(golden_body(), GOLDEN_SIGNATURE), ["another-token"], NOW)


def test_a_signature_made_with_another_token_is_refused() -> None:
    body = golden_body()
    with pytest.raises(SignatureError):
        adapter.verify(delivery(body, twilio_signature(URL, body, "another-token")), [TOKEN], NOW)


def test_tampered_body_is_refused() -> None:
    tampered = golden_body().replace(b"CallDuration=62", b"CallDuration=6")
    assert tampered != golden_body()
    with pytest.raises(SignatureError):
        adapter.verify(delivery(tampered, GOLDEN_SIGNATURE), [TOKEN], NOW)


def test_an_added_parameter_is_refused() -> None:
    with pytest.raises(SignatureError):
        adapter.verify(delivery(golden_body() + b"&Extra=1", GOLDEN_SIGNATURE), [TOKEN], NOW)


def test_another_url_is_refused() -> None:
    other = "https://hooks.example.com/webhooks/twilio/voice/other"
    with pytest.raises(SignatureError):
        adapter.verify(delivery(golden_body(), GOLDEN_SIGNATURE, url=other), [TOKEN], NOW)


@pytest.mark.parametrize("signature", [None, ""])
def test_missing_signature_is_refused(signature: str | None) -> None:
    with pytest.raises(SignatureError):
        adapter.verify(delivery(golden_body(), signature), [TOKEN], NOW)


def test_no_configured_token_refuses_everything() -> None:
    with pytest.raises(SignatureError):
        adapter.verify(delivery(golden_body(), GOLDEN_SIGNATURE), [], NOW)


def test_rotated_tokens_any_one_may_match() -> None:
    d = delivery(golden_body(), GOLDEN_SIGNATURE)
    adapter.verify(d, ["old-token-no-longer-used", TOKEN], NOW)
    adapter.verify(d, [TOKEN, "next-token"], NOW)
    with pytest.raises(SignatureError):
        adapter.verify(d, ["old-token-no-longer-used"], NOW)


def test_default_port_is_optional_either_way() -> None:
    body = golden_body()
    with_port = "https://hooks.example.com:443/webhooks/twilio/voice/status"
    # Twilio signed the URL without the port; we were addressed with it.
    adapter.verify(delivery(body, GOLDEN_SIGNATURE, url=with_port), [TOKEN], NOW)
    # Twilio signed the URL with the port; we were addressed without it.
    adapter.verify(delivery(body, twilio_signature(with_port, body), url=URL), [TOKEN], NOW)


def test_signature_covers_the_query_string() -> None:
    body = golden_body()
    url = URL + "?tenant=acme"
    adapter.verify(delivery(body, twilio_signature(url, body), url=url), [TOKEN], NOW)
    with pytest.raises(SignatureError):
        adapter.verify(delivery(body, twilio_signature(url, body), url=URL), [TOKEN], NOW)


def test_repeated_parameters_are_all_signed() -> None:
    body = variant() + b"&StatusCallbackEvent=answered&StatusCallbackEvent=completed"
    adapter.verify(delivery(body, twilio_signature(URL, body)), [TOKEN], NOW)


# --- stored form ----------------------------------------------------------------------------


def test_stored_headers_drop_the_signature() -> None:
    d = delivery(golden_body(), GOLDEN_SIGNATURE, extra={"authorization": "Basic eDp5"})
    stored = adapter.stored_headers(d)
    assert "x-twilio-signature" not in stored
    assert "authorization" not in stored
    assert stored["user-agent"] == "TwilioProxy/1.1"
    assert adapter.stored_body(d) == golden_body()  # the body holds no secret


# --- delivery id ----------------------------------------------------------------------------


def test_delivery_id_is_the_idempotency_token() -> None:
    d = delivery(
        golden_body(), GOLDEN_SIGNATURE, extra={"i-twilio-idempotency-token": IDEMPOTENCY_TOKEN}
    )
    assert adapter.delivery_id(d) == IDEMPOTENCY_TOKEN


def test_delivery_id_without_token_is_stable_per_callback() -> None:
    first = adapter.delivery_id(delivery(golden_body(), GOLDEN_SIGNATURE))
    assert first == f"{CALL_SID}:completed:3"
    assert adapter.delivery_id(delivery(golden_body(), GOLDEN_SIGNATURE)) == first
    ringing = adapter.delivery_id(signed(variant(CallStatus="ringing", SequenceNumber="1")))
    assert ringing != first


# --- mapping --------------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["no-answer", "busy", "failed", "canceled"])
def test_unanswered_outcomes_are_missed_calls(status: str) -> None:
    body = variant(CallStatus=status, CallDuration="0", RecordingUrl=None, RecordingSid=None)
    d = signed(body)
    adapter.verify(d, [TOKEN], NOW)
    [event] = adapter.normalize(d)
    assert event.type == "call.missed"
    assert event.source_event_id == CALL_SID
    assert event.payload == {
        "from": "+442071838750",
        "to": "+447700900123",
        "duration_s": 0,
        "call_id": CALL_SID,
        "disposition": status,
    }
    CATALOG[event.type].payload.model_validate(event.payload)


@pytest.mark.parametrize("status", ["queued", "initiated", "ringing", "in-progress"])
def test_progress_callbacks_report_nothing(status: str) -> None:
    assert adapter.normalize(signed(variant(CallStatus=status))) == []


def test_inbound_call_names_the_caller() -> None:
    body = variant(
        Direction="inbound",
        From="+34612345678",
        Caller="+34612345678",
        To="+442071838750",
        Called="+442071838750",
    )
    [event] = adapter.normalize(signed(body))
    assert event.direction == "inbound"
    assert event.customer.phone == "+34612345678"
    assert event.payload["from"] == "+34612345678"
    assert event.payload["to"] == "+442071838750"


def test_outbound_dial_leg_names_the_called_party() -> None:
    [event] = adapter.normalize(signed(variant(Direction="outbound-dial")))
    assert event.direction == "outbound"
    assert event.customer.phone == "+447700900123"


def test_withheld_caller_gives_no_event() -> None:
    body = variant(Direction="inbound", From="anonymous", Caller="anonymous")
    assert adapter.normalize(signed(body)) == []


def test_the_same_call_twice_has_the_same_id_and_another_call_another() -> None:
    [first] = adapter.normalize(signed(golden_body()))
    [again] = adapter.normalize(signed(variant(SequenceNumber="4")))
    [other] = adapter.normalize(signed(variant(CallSid="CA00000000000000000000000000000001")))
    assert first.source_event_id == again.source_event_id == CALL_SID
    assert other.source_event_id != first.source_event_id


def test_timestamp_offset_is_kept() -> None:
    body = variant(Timestamp="Tue, 14 Apr 2026 12:15:42 +0200")
    [event] = adapter.normalize(signed(body))
    assert event.occurred_at == datetime(2026, 4, 14, 10, 15, 42, tzinfo=UTC)
    assert event.occurred_at.utcoffset() is not None


def test_without_timestamp_the_receipt_time_is_used() -> None:
    received = datetime(2026, 4, 14, 10, 15, 50, tzinfo=UTC)
    [event] = adapter.normalize(signed(variant(Timestamp=None), received_at=received))
    assert event.occurred_at == received


# --- genuine but not understood -------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"foo=bar",
        variant(CallSid=None),
        variant(CallStatus="teleported"),
        variant(Direction="sideways"),
        variant(Timestamp="yesterday at noon"),
        variant(CallDuration="sixty"),
        variant(Timestamp=None),  # and no received_at
    ],
)
def test_signed_but_unintelligible_is_a_payload_error(body: bytes) -> None:
    d = signed(body)
    adapter.verify(d, [TOKEN], NOW)
    with pytest.raises(PayloadError):
        adapter.normalize(d)


def test_a_body_that_is_not_utf8_cannot_be_signed() -> None:
    d = delivery(b"\xff\xfe\x00garbage", twilio_signature(URL, b""))
    with pytest.raises(SignatureError):
        adapter.verify(d, [TOKEN], NOW)
    with pytest.raises(PayloadError):
        adapter.normalize(d)
