"""Aircall webhooks: token check, redaction, delivery id and normalisation (pure, no database)."""

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from app.ingest.adapters.aircall import AircallAdapter
from app.ingest.adapters.base import Delivery, PayloadError, SignatureError
from app.timeline.catalog import CATALOG

GOLDEN = Path(__file__).parent / "golden" / "aircall_call_ended.json"
URL = "https://hooks.example.com/webhooks/aircall"
TOKEN = "45XXYYZZa08"
NOW = datetime(2026, 4, 14, 10, 16, tzinfo=UTC)
ASSET = "https://assets.aircall.io/calls/812345678/recording"

adapter = AircallAdapter()


def golden_body() -> bytes:
    return GOLDEN.read_bytes()


def golden() -> dict[str, Any]:
    return json.loads(golden_body())


def delivery(body: bytes | dict[str, Any]) -> Delivery:
    raw = json.dumps(body).encode() if isinstance(body, dict) else body
    return Delivery(url=URL, headers={"content-type": "application/json"}, body=raw)


def variant(event: str | None = None, **data: Any) -> dict[str, Any]:
    """The golden payload with another event name and/or call fields changed."""
    body = copy.deepcopy(golden())
    if event is not None:
        body["event"] = event
    body["data"].update(data)
    return body


UNANSWERED = {"answered_at": None, "user": None, "recording": None, "asset": None}


def one(body: dict[str, Any]) -> Any:
    d = delivery(body)
    adapter.verify(d, [TOKEN], NOW)
    [event] = adapter.normalize(d)
    CATALOG[event.type].payload.model_validate(event.payload)
    assert event.source == "aircall"
    assert event.occurred_at.tzinfo is not None
    return event


# --- the golden sample ---------------------------------------------------------------------


def test_golden_file_is_byte_exact() -> None:
    assert not golden_body().endswith(b"\n")


def test_golden_call_ended_normalises_to_one_completed_call() -> None:
    events = adapter.normalize(delivery(golden_body()))

    assert [e.model_dump(mode="json", exclude_none=True) for e in events] == [
        {
            "type": "call.completed",
            "occurred_at": "2026-04-14T10:15:42Z",  # ended_at 1776161742
            "channel": "phone",
            "direction": "inbound",
            "source": "aircall",
            "source_event_id": "call:812345678:ended",
            "actor": "Madelaine Dupont",
            "customer": {"phone": "+44 7700 900123"},
            "payload": {
                "from": "+44 7700 900123",
                "to": "+44 20 7183 8750",
                "duration_s": 62,
                "agent": "Madelaine Dupont",
                "queue": "Support UK",
                "disposition": "answered",
                "recording_url": ASSET,
                "call_id": "812345678",
            },
        }
    ]
    CATALOG["call.completed"].payload.model_validate(events[0].payload)


# --- token ----------------------------------------------------------------------------------


def test_the_webhook_token_verifies() -> None:
    adapter.verify(delivery(golden_body()), [TOKEN], NOW)


def test_wrong_token_is_refused() -> None:
    with pytest.raises(SignatureError):
        adapter.verify(delivery(golden_body()), ["another-token"], NOW)


def test_tampered_token_is_refused() -> None:
    tampered = golden_body().replace(b'"45XXYYZZa08"', b'"45XXYYZZa09"')
    assert tampered != golden_body()
    with pytest.raises(SignatureError):
        adapter.verify(delivery(tampered), [TOKEN], NOW)


def test_a_prefix_of_the_token_is_refused() -> None:
    body = golden()
    body["token"] = TOKEN[:-1]
    with pytest.raises(SignatureError):
        adapter.verify(delivery(body), [TOKEN], NOW)


@pytest.mark.parametrize("token", [None, "", 45, ["45XXYYZZa08"]])
def test_missing_or_malformed_token_is_refused(token: Any) -> None:
    body = golden()
    if token is None:
        del body["token"]
    else:
        body["token"] = token
    with pytest.raises(SignatureError):
        adapter.verify(delivery(body), [TOKEN], NOW)


@pytest.mark.parametrize("raw", [b"", b"not json", b"[1, 2]", b'"45XXYYZZa08"', b"\xff\xfe"])
def test_a_body_without_an_envelope_is_refused(raw: bytes) -> None:
    with pytest.raises(SignatureError):
        adapter.verify(delivery(raw), [TOKEN], NOW)


def test_rotated_tokens_any_one_may_match() -> None:
    d = delivery(golden_body())
    adapter.verify(d, ["old-token", TOKEN], NOW)
    with pytest.raises(SignatureError):
        adapter.verify(d, ["old-token"], NOW)
    with pytest.raises(SignatureError):
        adapter.verify(d, [], NOW)


# --- stored form ----------------------------------------------------------------------------


def test_stored_body_redacts_the_token_and_keeps_the_rest() -> None:
    d = delivery(golden_body())
    stored = adapter.stored_body(d)
    assert TOKEN.encode() not in stored
    kept = json.loads(stored)
    assert kept["token"] == "[redacted]"
    assert {k: v for k, v in kept.items() if k != "token"} == {
        k: v for k, v in golden().items() if k != "token"
    }


def test_stored_body_of_broken_json_still_hides_the_token() -> None:
    d = delivery(b'{"event": "call.ended", "token": "45XXYYZZa08", "data": ')
    assert TOKEN.encode() not in adapter.stored_body(d)


def test_stored_headers_drop_credentials() -> None:
    d = Delivery(
        url=URL,
        headers={"content-type": "application/json", "authorization": "Basic eDp5"},
        body=golden_body(),
    )
    assert adapter.stored_headers(d) == {"content-type": "application/json"}


# --- delivery id ----------------------------------------------------------------------------


def test_delivery_id_is_event_call_and_timestamp() -> None:
    d = delivery(golden_body())
    assert adapter.delivery_id(d).startswith("call.ended:812345678:1776161772:")
    assert adapter.delivery_id(delivery(golden_body())) == adapter.delivery_id(d)  # a retry
    tagged = adapter.delivery_id(delivery(variant("call.tagged")))
    assert tagged.startswith("call.tagged:812345678:1776161772:")


def test_deliveries_in_the_same_second_differ() -> None:
    first = variant("call.tagged", tags=[{"id": 7, "name": "A"}])
    second = variant("call.tagged", tags=[{"id": 7, "name": "A"}, {"id": 8, "name": "B"}])
    assert adapter.delivery_id(delivery(first)) != adapter.delivery_id(delivery(second))


def test_delivery_id_without_a_call_id_hides_no_token() -> None:
    body = {"resource": "user", "event": "user.opened.v2", "timestamp": 1, "token": TOKEN}
    assert TOKEN not in adapter.delivery_id(delivery(body))
    assert adapter.delivery_id(delivery(body)) == adapter.delivery_id(delivery(body))


# --- call outcomes --------------------------------------------------------------------------


@pytest.mark.parametrize("reason", ["abandoned_in_ivr", "abandoned_in_classic", "short_abandoned"])
def test_caller_hanging_up_while_waiting_is_abandoned(reason: str) -> None:
    event = one(variant(missed_call_reason=reason, **UNANSWERED))
    assert event.type == "call.abandoned"
    assert event.source_event_id == "call:812345678:ended"
    assert event.actor is None
    assert event.payload == {
        "from": "+44 7700 900123",
        "to": "+44 20 7183 8750",
        "duration_s": 62,
        "queue": "Support UK",
        "disposition": reason,
        "call_id": "812345678",
    }


@pytest.mark.parametrize(
    "reason", ["no_available_agent", "agents_did_not_answer", "out_of_opening_hours", None]
)
def test_unanswered_call_is_missed(reason: str | None) -> None:
    event = one(variant(missed_call_reason=reason, **UNANSWERED))
    assert event.type == "call.missed"
    assert event.direction == "inbound"
    assert event.payload.get("disposition") == reason
    assert "recording_url" not in event.payload


def test_outbound_call_names_the_called_party() -> None:
    event = one(variant(direction="outbound", raw_digits="+34 612 34 56 78"))
    assert event.direction == "outbound"
    assert event.customer.phone == "+34 612 34 56 78"
    assert event.payload["from"] == "+44 20 7183 8750"
    assert event.payload["to"] == "+34 612 34 56 78"


def test_tags_and_comments_ride_along_with_the_outcome() -> None:
    event = one(
        variant(
            tags=[{"id": 7, "name": "Complaint"}, {"id": 9, "name": "VIP"}],
            comments=[{"id": 31, "content": "Wants a refund", "posted_at": 1776161800}],
        )
    )
    assert event.payload["tags"] == ["Complaint", "VIP"]
    assert event.payload["comments"] == ["Wants a refund"]


def test_contact_name_names_a_new_customer() -> None:
    contact = {"id": 55, "first_name": "Jane", "last_name": "Doe", "company_name": "Acme"}
    event = one(variant(contact=contact))
    assert event.customer.phone == "+44 7700 900123"
    assert event.customer.display_name == "Jane Doe"


def test_agent_without_name_is_named_by_email() -> None:
    event = one(variant(user={"id": 456, "email": "madelaine.dupont@example.com"}))
    assert event.payload["agent"] == "madelaine.dupont@example.com"


def test_voicemail_left_is_a_voicemail_with_its_own_id() -> None:
    voicemail = "https://aircall-voicemails.example.invalid/812345678.mp3?X-Amz-Expires=600"
    body = variant(
        "call.voicemail_left",
        missed_call_reason="agents_did_not_answer",
        voicemail=voicemail,
        **{**UNANSWERED, "asset": "https://assets.aircall.io/calls/812345678/voicemail"},
    )
    event = one(body)
    assert event.type == "call.voicemail"
    assert event.source_event_id == "call:812345678:voicemail"
    assert event.payload["recording_url"] == "https://assets.aircall.io/calls/812345678/voicemail"
    assert event.payload["disposition"] == "agents_did_not_answer"

    ended = one(
        variant(missed_call_reason="agents_did_not_answer", voicemail=voicemail, **UNANSWERED)
    )
    assert ended.type == "call.missed"
    assert ended.source_event_id != event.source_event_id
    assert "recording_url" not in ended.payload


def test_voicemail_without_asset_uses_the_voicemail_url() -> None:
    url = "https://aircall-voicemails.example.invalid/812345678.mp3"
    event = one(variant("call.voicemail_left", voicemail=url, **UNANSWERED))
    assert event.payload["recording_url"] == url


def test_the_same_call_twice_has_the_same_id_and_another_call_another() -> None:
    first = one(golden())
    retried = golden()
    retried["timestamp"] += 30
    again = one(retried)
    other = one(variant(id=812345679))
    assert first.source_event_id == again.source_event_id
    assert other.source_event_id == "call:812345679:ended" != first.source_event_id


def test_unix_timestamps_become_aware_datetimes() -> None:
    event = one(variant(ended_at=None))  # falls back to the envelope timestamp
    assert event.occurred_at == datetime(2026, 4, 14, 10, 16, 12, tzinfo=UTC)


# --- notes ----------------------------------------------------------------------------------


def test_tagged_call_gives_one_note_per_tag() -> None:
    body = variant(
        "call.tagged",
        tags=[
            {"id": 7, "name": "Complaint", "tagged_at": 1776161790, "tagged_by": {"name": "Ann"}},
            {"id": 9, "name": "VIP"},
        ],
    )
    d = delivery(body)
    adapter.verify(d, [TOKEN], NOW)
    events = adapter.normalize(d)
    assert [e.model_dump(mode="json", exclude_none=True) for e in events] == [
        {
            "type": "note.added",
            "occurred_at": "2026-04-14T10:16:30Z",
            "channel": "system",
            "source": "aircall",
            "source_event_id": "call:812345678:tag:7",
            "actor": "Ann",
            "customer": {"phone": "+44 7700 900123"},
            "payload": {"text": "Call 812345678 tagged: Complaint"},
        },
        {
            "type": "note.added",
            "occurred_at": "2026-04-14T10:16:12Z",  # envelope timestamp
            "channel": "system",
            "source": "aircall",
            "source_event_id": "call:812345678:tag:9",
            "actor": "Madelaine Dupont",
            "customer": {"phone": "+44 7700 900123"},
            "payload": {"text": "Call 812345678 tagged: VIP"},
        },
    ]
    for event in events:
        CATALOG[event.type].payload.model_validate(event.payload)


def test_a_later_tag_delivery_repeats_earlier_tag_ids() -> None:
    first = adapter.normalize(delivery(variant("call.tagged", tags=[{"id": 7, "name": "A"}])))
    both = adapter.normalize(
        delivery(variant("call.tagged", tags=[{"id": 7, "name": "A"}, {"id": 8, "name": "B"}]))
    )
    assert first[0].source_event_id == both[0].source_event_id
    assert both[1].source_event_id not in {e.source_event_id for e in first}


def test_commented_call_gives_one_note_per_comment() -> None:
    body = variant(
        "call.commented",
        comments=[
            {
                "id": 31,
                "content": "Wants a refund for order 1001",
                "posted_at": "2026-04-14T10:17:00Z",
                "posted_by": {"id": 456, "name": "Madelaine Dupont"},
            },
            {"id": 32, "content": "Called back, sorted"},
        ],
    )
    events = adapter.normalize(delivery(body))
    assert [(e.type, e.source_event_id, e.payload) for e in events] == [
        ("note.added", "call:812345678:comment:31", {"text": "Wants a refund for order 1001"}),
        ("note.added", "call:812345678:comment:32", {"text": "Called back, sorted"}),
    ]
    assert events[0].occurred_at == datetime(2026, 4, 14, 10, 17, tzinfo=UTC)
    assert events[0].actor == "Madelaine Dupont"
    for event in events:
        CATALOG[event.type].payload.model_validate(event.payload)


def test_tag_and_comment_ids_differ_from_the_outcome_id() -> None:
    body = variant(tags=[{"id": 7, "name": "X"}], comments=[{"id": 7, "content": "X"}])
    ids = {
        adapter.normalize(delivery({**body, "event": e}))[0].source_event_id
        for e in ("call.ended", "call.tagged", "call.commented", "call.voicemail_left")
    }
    assert len(ids) == 4


# --- nothing to report ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "event", ["call.created", "call.answered", "call.untagged", "call.hungup", "call.archived"]
)
def test_other_call_events_report_nothing(event: str) -> None:
    assert adapter.normalize(delivery(variant(event))) == []


def test_other_resources_report_nothing() -> None:
    body = {
        "resource": "number",
        "event": "number.closed",
        "timestamp": 1585001020,
        "token": TOKEN,
        "data": {"id": 456, "name": "My first Aircall Number"},
    }
    assert adapter.normalize(delivery(body)) == []


@pytest.mark.parametrize("raw_digits", ["anonymous", "", None])
def test_withheld_number_gives_no_event(raw_digits: str | None) -> None:
    assert adapter.normalize(delivery(variant(raw_digits=raw_digits))) == []


def test_tagged_without_tags_gives_no_event() -> None:
    assert adapter.normalize(delivery(variant("call.tagged", tags=[]))) == []


# --- genuine but not understood -------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        {"token": TOKEN},
        {"token": TOKEN, "event": "call.ended"},
        {"token": TOKEN, "event": "call.ended", "data": "812345678"},
        {"token": TOKEN, "event": "call.ended", "data": {"raw_digits": "+44 7700 900123"}},
        variant(id=None),
        variant(id={"nested": 1}),
        variant(direction="sideways"),
        variant(ended_at="not a time"),
        variant(answered_at="not a time"),
        {**variant(ended_at=None), "timestamp": "not a time"},
    ],
)
def test_authentic_but_unintelligible_is_a_payload_error(body: dict[str, Any]) -> None:
    d = delivery(body)
    adapter.verify(d, [TOKEN], NOW)
    with pytest.raises(PayloadError):
        adapter.normalize(d)
