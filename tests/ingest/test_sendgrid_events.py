"""SendGrid Event Webhook adapter: golden payload, ECDSA signatures, variants (pure, no database)."""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from app.ingest.adapters.base import Delivery, PayloadError, SignatureError
from app.ingest.adapters.sendgrid_events import SendGridEventsAdapter
from app.timeline.catalog import Channel, Direction
from app.timeline.payloads import EmailPayload
from app.timeline.schemas import CustomerRefIn, IdentifiedEventIn
from tests.support.webhooks import (
    SENDGRID_SIGNATURE,
    SENDGRID_TIMESTAMP,
    Signer,
    sendgrid_event_delivery,
)

GOLDEN = Path(__file__).parent / "golden"
# Published with the sample (headers.json): the public key, the signature, its timestamp.
SAMPLE_PUBLIC_KEY = (
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEUekcEzcZ7NpNGPimEYB989uV+hqO5aHJ4IvTAeL1Cl7V"
    "/Z0/pp2tZu/Nn1664S27IkdiZ+1XHLmr00jJte+mZQ=="
)
SAMPLE_SIGNATURE = "MEUCID23Tt20K4zqHC4mIzQJm9aV2jahpSYQtHT2eu9t+f4mAiEAoWz7tsHK633f8FFt+yEkLMDoFaf3vCGeeUPM4rlGZ/Y="
SAMPLE_TIMESTAMP = "1776161960"
NOW = datetime.fromtimestamp(int(SAMPLE_TIMESTAMP), tz=UTC) + timedelta(seconds=30)
MESSAGE_ID = "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0"

adapter = SendGridEventsAdapter()


def golden_body() -> bytes:
    return (GOLDEN / "sendgrid_event_webhook.json").read_bytes()


def golden() -> Delivery:
    return sendgrid_event_delivery(golden_body(), SAMPLE_SIGNATURE, SAMPLE_TIMESTAMP)


@pytest.fixture(scope="module")
def signer() -> Signer:
    return Signer()


def sg_event(event: str, **extra: Any) -> dict[str, Any]:
    return {
        "email": "jane.doe@example.com",
        "timestamp": 1776161900,
        "event": event,
        "sg_event_id": f"id-{event}",
        "sg_message_id": MESSAGE_ID,
        **extra,
    }


def expected(type_: str, source_event_id: str, at: int, **payload: Any) -> IdentifiedEventIn:
    return IdentifiedEventIn(
        type=type_,
        occurred_at=datetime.fromtimestamp(at, tz=UTC),
        channel=Channel.EMAIL,
        direction=Direction.OUTBOUND,
        source="sendgrid-events",
        source_event_id=source_event_id,
        customer=CustomerRefIn(email="jane.doe@example.com"),
        payload={"to": ["jane.doe@example.com"], "cc": [], "message_id": MESSAGE_ID, **payload},
    )


# --- golden -----------------------------------------------------------------------------


def test_the_golden_sample_verifies_with_its_published_key() -> None:
    adapter.verify(golden(), [SAMPLE_PUBLIC_KEY], NOW)


def test_the_golden_sample_normalises_delivered_and_open_processed_skipped() -> None:
    events = adapter.normalize(golden())

    assert events == [
        expected("email.delivered", "sZROwMGMagFgnOEmSdvhig==", 1776161703),
        expected("email.opened", "FOTFFO0ecsBE-zxFXfs6WA==", 1776161950),
    ]
    for event in events:
        assert event.occurred_at.utcoffset() == timedelta(0)
        EmailPayload.model_validate(event.payload)


def test_the_delivery_id_is_the_body_hash() -> None:
    assert adapter.delivery_id(golden()) == golden().body_hash()


def test_the_signature_header_is_not_stored() -> None:
    stored = adapter.stored_headers(golden())
    assert SENDGRID_SIGNATURE not in stored
    assert stored[SENDGRID_TIMESTAMP] == SAMPLE_TIMESTAMP
    assert adapter.stored_body(golden()) == golden_body()


# --- signatures -------------------------------------------------------------------------


def test_our_own_signature_passes(signer: Signer) -> None:
    adapter.verify(signer.deliver(golden_body()), [signer.public], NOW)


def test_a_pem_key_is_accepted(signer: Signer) -> None:
    adapter.verify(signer.deliver(golden_body()), [signer.public_pem], NOW)


def test_a_rotated_key_passes(signer: Signer) -> None:
    old = Signer()
    adapter.verify(signer.deliver(golden_body()), [old.public, signer.public], NOW)
    adapter.verify(golden(), ["not a key", old.public, SAMPLE_PUBLIC_KEY], NOW)


def test_the_wrong_key_is_refused(signer: Signer) -> None:
    with pytest.raises(SignatureError):
        adapter.verify(golden(), [signer.public], NOW)


def test_a_tampered_body_is_refused() -> None:
    body = golden_body().replace(b'"open"', b'"click"')
    with pytest.raises(SignatureError):
        adapter.verify(
            sendgrid_event_delivery(body, SAMPLE_SIGNATURE, SAMPLE_TIMESTAMP),
            [SAMPLE_PUBLIC_KEY],
            NOW,
        )


def test_a_tampered_timestamp_is_refused() -> None:
    d = sendgrid_event_delivery(golden_body(), SAMPLE_SIGNATURE, str(int(SAMPLE_TIMESTAMP) + 1))
    with pytest.raises(SignatureError):
        adapter.verify(d, [SAMPLE_PUBLIC_KEY], NOW)


@pytest.mark.parametrize(
    ("signature", "timestamp"),
    [
        (None, SAMPLE_TIMESTAMP),
        (SAMPLE_SIGNATURE, None),
        ("", ""),
        ("%%%not-base64", SAMPLE_TIMESTAMP),
    ],
)
def test_missing_or_garbled_headers_are_refused(
    signature: str | None, timestamp: str | None
) -> None:
    with pytest.raises(SignatureError):
        adapter.verify(
            sendgrid_event_delivery(golden_body(), signature, timestamp), [SAMPLE_PUBLIC_KEY], NOW
        )


@pytest.mark.parametrize("offset", [301, -301, 86_400])
def test_a_stale_or_future_timestamp_is_refused(offset: int) -> None:
    now = datetime.fromtimestamp(int(SAMPLE_TIMESTAMP) + offset, tz=UTC)
    with pytest.raises(SignatureError, match="from now"):
        adapter.verify(golden(), [SAMPLE_PUBLIC_KEY], now)


def test_no_keys_configured_is_refused() -> None:
    with pytest.raises(SignatureError):
        adapter.verify(golden(), [], NOW)


# --- variants ---------------------------------------------------------------------------


def test_click_bounce_and_dropped(signer: Signer) -> None:
    body = [
        sg_event("click", url="https://shop.example.com/track/1001", url_offset={"index": 0}),
        sg_event("bounce", reason="500 unknown recipient", status="5.0.0", type="bounce"),
        sg_event("dropped", reason="Bounced Address", **{"smtp-id": "<x@ismtpd>"}),
    ]
    d = signer.deliver(body)
    adapter.verify(d, [signer.public], NOW)

    assert adapter.normalize(d) == [
        expected(
            "email.clicked", "id-click", 1776161900, url="https://shop.example.com/track/1001"
        ),
        expected("email.bounced", "id-bounce", 1776161900, reason="500 unknown recipient"),
        expected("email.bounced", "id-dropped", 1776161900, reason="Bounced Address"),
    ]


def test_smtp_id_is_the_message_id_without_sg_message_id(signer: Signer) -> None:
    item = sg_event("delivered", **{"smtp-id": "<14c5d75ce93.dfd.64b469@ismtpd-555>"})
    del item["sg_message_id"]
    [event] = adapter.normalize(signer.deliver([item]))
    assert event.payload["message_id"] == "<14c5d75ce93.dfd.64b469@ismtpd-555>"


@pytest.mark.parametrize(
    "name",
    [
        "processed",
        "deferred",
        "spamreport",
        "unsubscribe",
        "group_unsubscribe",
        "group_resubscribe",
        "new_one",
    ],
)
def test_other_events_are_skipped(signer: Signer, name: str) -> None:
    assert adapter.normalize(signer.deliver([sg_event(name)])) == []


def test_an_empty_array_is_no_events(signer: Signer) -> None:
    assert adapter.normalize(signer.deliver([])) == []


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b'{"event": "delivered"}',
        json.dumps([sg_event("delivered", sg_event_id=None)]).encode(),
        json.dumps([sg_event("open", email="")]).encode(),
        json.dumps([sg_event("open", timestamp="yesterday")]).encode(),
        json.dumps([{"no": "event"}]).encode(),
        json.dumps(["delivered"]).encode(),
    ],
)
def test_signed_but_unreadable_bodies_are_payload_errors(signer: Signer, body: bytes) -> None:
    d = signer.deliver(body)
    adapter.verify(d, [signer.public], NOW)
    with pytest.raises(PayloadError):
        adapter.normalize(d)


@pytest.mark.parametrize("timestamp", ["nan", "inf"])
def test_a_timestamp_that_is_no_instant_is_refused(signer: Signer, timestamp: str) -> None:
    with pytest.raises(SignatureError, match="from now"):
        adapter.verify(signer.deliver(golden_body(), timestamp), [signer.public], NOW)
