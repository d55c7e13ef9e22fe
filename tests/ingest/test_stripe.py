"""Stripe adapter: golden checkout.session.completed, signatures, the mapped event types."""

import copy
import hashlib
import hmac
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from app.ingest.adapters.base import Delivery, PayloadError, SignatureError
from app.ingest.adapters.stripe import StripeAdapter, exponent

GOLDEN = (Path(__file__).parent / "golden" / "stripe_checkout_session_completed.json").read_bytes()
# From the reference samples' headers.json (test-only secret, signature over the exact bytes).
SECRET = "whsec_refdata_test_not_a_real_secret"
T = 1776161113
GOLDEN_SIGNATURE = f"t={T},v1=e8d104b285e54a377aa5e7244c6472411afc690deac09a2e108138bfa23b993b"
HEADERS = {
    "content-type": "application/json; charset=utf-8",
    "user-agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
    "stripe-signature": GOLDEN_SIGNATURE,
}
NOW = datetime.fromtimestamp(T + 7, UTC)

adapter = StripeAdapter()


def signature(body: bytes, secret: str = SECRET, t: int = T) -> str:
    return (
        f"t={t},v1="
        + hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    )


def golden(**headers: str) -> Delivery:
    return Delivery(
        url="https://hooks.example.com/stripe", headers={**HEADERS, **headers}, body=GOLDEN
    )


def event(type_name: str, obj: dict[str, Any], **changes: Any) -> dict[str, Any]:
    body = copy.deepcopy(json.loads(GOLDEN))
    body.update(type=type_name, data={"object": obj}, **changes)
    return body


def session(**changes: Any) -> dict[str, Any]:
    obj = copy.deepcopy(json.loads(GOLDEN)["data"]["object"])
    obj.update(changes)
    return obj


def events(body: dict[str, Any]) -> list[dict[str, Any]]:
    raw = json.dumps(body).encode()
    signed = Delivery(url="u", headers={**HEADERS, "stripe-signature": signature(raw)}, body=raw)
    adapter.verify(signed, [SECRET], NOW)
    return [e.model_dump(mode="json", exclude_none=True) for e in adapter.normalize(signed)]


WITHOUT_PHONE = {
    "email": "jane.doe@example.com",
    "external_id": "stripe:customer:cus_Rexample123",
    "display_name": "Jane Doe",
}
CUSTOMER = {
    "phone": "+447700900123",
    "email": "jane.doe@example.com",
    "external_id": "stripe:customer:cus_Rexample123",
    "display_name": "Jane Doe",
}


# --- golden ------------------------------------------------------------------------------


def test_golden_checkout_session_completed_is_payment_received() -> None:
    adapter.verify(golden(), [SECRET], NOW)

    result = [e.model_dump(mode="json", exclude_none=True) for e in adapter.normalize(golden())]

    assert result == [
        {
            "type": "payment.received",
            "occurred_at": "2026-04-14T10:05:12Z",  # the event's `created`
            "channel": "store",
            "source": "stripe",
            "source_event_id": "payment:pi_3QexampleABC:received",
            "payload": {
                "payment_id": "pi_3QexampleABC",
                "amount": "47.00",  # 4700 minor units of GBP
                "currency": "GBP",
                "method": "card",
            },
            "customer": CUSTOMER,
        }
    ]


def test_golden_file_is_the_exact_reference_bytes() -> None:
    assert not GOLDEN.endswith(b"\n")
    assert signature(GOLDEN) == GOLDEN_SIGNATURE


def test_delivery_id_is_the_event_id() -> None:
    assert adapter.delivery_id(golden()) == "evt_1QexampleCheckout0001"
    garbage = Delivery(url="u", headers=HEADERS, body=b"\xff")
    assert adapter.delivery_id(garbage) == hashlib.sha256(b"\xff").hexdigest()


def test_stored_headers_drop_the_signature() -> None:
    stored = adapter.stored_headers(golden())
    assert "stripe-signature" not in stored
    assert stored["user-agent"].startswith("Stripe/")


# --- signatures --------------------------------------------------------------------------


def test_wrong_secret_is_refused() -> None:
    with pytest.raises(SignatureError):
        adapter.verify(golden(), ["whsec_other"], NOW)


def test_secret_is_the_whole_whsec_string_not_its_decoded_tail() -> None:
    with pytest.raises(SignatureError):
        adapter.verify(golden(), [SECRET.removeprefix("whsec_")], NOW)


def test_tampered_body_is_refused() -> None:
    tampered = GOLDEN.replace(b'"amount_total": 4700', b'"amount_total": 470')
    assert tampered != GOLDEN
    with pytest.raises(SignatureError):
        adapter.verify(Delivery(url="u", headers=HEADERS, body=tampered), [SECRET], NOW)


def test_missing_signature_is_refused() -> None:
    bare = Delivery(url="u", headers={"content-type": "application/json"}, body=GOLDEN)
    with pytest.raises(SignatureError, match="missing"):
        adapter.verify(bare, [SECRET], NOW)


@pytest.mark.parametrize("header", [f"t={T}", "v1=abc", "t=soon,v1=abc", "garbage"])
def test_malformed_signature_header_is_refused(header: str) -> None:
    with pytest.raises(SignatureError):
        adapter.verify(golden(**{"stripe-signature": header}), [SECRET], NOW)


@pytest.mark.parametrize("offset", [301, -301, 86_400])
def test_stale_timestamp_is_refused(offset: int) -> None:
    with pytest.raises(SignatureError, match="300 s"):
        adapter.verify(golden(), [SECRET], datetime.fromtimestamp(T + offset, UTC))


@pytest.mark.parametrize("offset", [300, -300, 0])
def test_timestamp_within_tolerance_passes(offset: int) -> None:
    adapter.verify(golden(), [SECRET], datetime.fromtimestamp(T + offset, UTC))


def test_any_v1_may_match() -> None:
    header = f"t={T},v1={'0' * 64},{GOLDEN_SIGNATURE.split(',')[1]},v0=ignored"
    adapter.verify(golden(**{"stripe-signature": header}), [SECRET], NOW)


def test_rotated_secret_passes_when_only_the_new_one_matches() -> None:
    new = "whsec_new_endpoint_secret"
    signed = golden(**{"stripe-signature": signature(GOLDEN, new)})
    adapter.verify(signed, [SECRET, new], NOW)
    with pytest.raises(SignatureError):
        adapter.verify(signed, [SECRET], NOW)


# --- checkout and payment intents --------------------------------------------------------

INTENT: dict[str, Any] = {
    "id": "pi_3QexampleABC",
    "object": "payment_intent",
    "amount": 4700,
    "amount_received": 4700,
    "currency": "gbp",
    "customer": "cus_Rexample123",
    "created": 1776161100,
    "invoice": None,
    "last_payment_error": None,
    "latest_charge": "ch_3QexampleABC",
    "payment_method_types": ["card"],
    "receipt_email": "jane.doe@example.com",
    "shipping": None,
    "status": "succeeded",
}


def test_payment_intent_succeeded_is_the_same_fact_as_checkout() -> None:
    [from_intent] = events(event("payment_intent.succeeded", INTENT, id="evt_pi_succeeded"))
    [from_checkout] = events(json.loads(GOLDEN))
    assert from_intent["source_event_id"] == from_checkout["source_event_id"]
    assert from_intent == {
        "type": "payment.received",
        "occurred_at": "2026-04-14T10:05:12Z",
        "channel": "store",
        "source": "stripe",
        "source_event_id": "payment:pi_3QexampleABC:received",
        "payload": {
            "payment_id": "pi_3QexampleABC",
            "amount": "47.00",
            "currency": "GBP",
            "method": "card",
        },
        "customer": {
            "email": "jane.doe@example.com",
            "external_id": "stripe:customer:cus_Rexample123",
        },
    }


def test_async_payment_succeeded_is_the_same_fact_too() -> None:
    [result] = events(event("checkout.session.async_payment_succeeded", session()))
    assert result["source_event_id"] == "payment:pi_3QexampleABC:received"


def test_unpaid_checkout_is_no_event() -> None:
    assert events(event("checkout.session.completed", session(payment_status="unpaid"))) == []
    free = session(payment_status="no_payment_required", amount_total=0)
    assert events(event("checkout.session.completed", free)) == []


def test_subscription_checkout_is_left_to_its_payment_intent() -> None:
    subscription = session(mode="subscription", payment_intent=None, invoice="in_1Qexample")
    assert events(event("checkout.session.completed", subscription)) == []


def test_payment_intent_of_a_guest_is_left_to_checkout() -> None:
    guest = {**INTENT, "customer": None, "receipt_email": None}
    assert events(event("payment_intent.succeeded", guest)) == []


def test_payment_intent_payment_failed() -> None:
    failed = {
        **INTENT,
        "amount_received": 0,
        "status": "requires_payment_method",
        "last_payment_error": {
            "code": "card_declined",
            "decline_code": "insufficient_funds",
            "message": "Your card has insufficient funds.",
            "type": "card_error",
            "payment_method": {
                "id": "pm_1Qexample",
                "type": "card",
                "billing_details": {
                    "email": "jane.doe@example.com",
                    "name": "Jane Doe",
                    "phone": "+44 7911 123456",
                    "address": {"country": "GB"},
                },
            },
        },
    }
    assert events(event("payment_intent.payment_failed", failed, id="evt_failed_1")) == [
        {
            "type": "payment.failed",
            "occurred_at": "2026-04-14T10:05:12Z",
            "channel": "store",
            "source": "stripe",
            "source_event_id": "payment:pi_3QexampleABC:failed:evt_failed_1",
            "payload": {
                "payment_id": "pi_3QexampleABC",
                "amount": "47.00",
                "currency": "GBP",
                "method": "card",
                "reason": "Your card has insufficient funds.",
            },
            "customer": {
                "email": "jane.doe@example.com",
                "phone": "+447911123456",
                "external_id": "stripe:customer:cus_Rexample123",
                "display_name": "Jane Doe",
            },
        }
    ]
    # Another attempt that fails is another fact.
    [again] = events(event("payment_intent.payment_failed", failed, id="evt_failed_2"))
    assert again["source_event_id"].endswith(":evt_failed_2")


# --- refunds, disputes, invoices ---------------------------------------------------------

CHARGE: dict[str, Any] = {
    "id": "ch_3QexampleABC",
    "object": "charge",
    "amount": 4700,
    "amount_captured": 4700,
    "amount_refunded": 2100,
    "billing_details": {
        "address": {"country": "GB"},
        "email": "jane.doe@example.com",
        "name": "Jane Doe",
        "phone": None,
    },
    "created": 1776161105,
    "currency": "gbp",
    "customer": "cus_Rexample123",
    "payment_intent": "pi_3QexampleABC",
    "receipt_email": None,
    "refunded": False,
    "status": "succeeded",
}


def test_charge_refunded_partially() -> None:
    body = event("charge.refunded", CHARGE, created=1776334200)
    body["data"]["previous_attributes"] = {"amount_refunded": 0, "refunded": False}
    assert events(body) == [
        {
            "type": "order.refunded",
            "occurred_at": "2026-04-16T10:10:00Z",
            "channel": "store",
            "source": "stripe",
            "source_event_id": "order:pi_3QexampleABC:refunded:2100",
            "payload": {
                "order_id": "pi_3QexampleABC",
                "items": [],  # a charge does not list what was bought
                "total": "47.00",
                "currency": "GBP",
                "status": "partially_refunded",
                "refund_amount": "21.00",
            },
            "customer": WITHOUT_PHONE,
        }
    ]


def test_second_refund_is_the_increment_and_another_fact() -> None:
    body = event("charge.refunded", {**CHARGE, "amount_refunded": 4700, "refunded": True})
    body["data"]["previous_attributes"] = {"amount_refunded": 2100, "refunded": False}
    [result] = events(body)
    assert result["payload"]["refund_amount"] == "26.00"
    assert result["payload"]["status"] == "refunded"
    assert result["source_event_id"] == "order:pi_3QexampleABC:refunded:4700"


def test_refund_of_a_charge_without_intent_is_keyed_by_the_charge() -> None:
    [result] = events(event("charge.refunded", {**CHARGE, "payment_intent": None}))
    assert result["payload"]["order_id"] == "ch_3QexampleABC"
    assert result["payload"]["refund_amount"] == "21.00"  # no previous_attributes: the total


DISPUTE: dict[str, Any] = {
    "id": "dp_1Qexample",
    "object": "dispute",
    "amount": 4700,
    "charge": "ch_3QexampleABC",
    "created": 1776500000,
    "currency": "gbp",
    "evidence": {"customer_email_address": None, "customer_name": None},
    "payment_intent": "pi_3QexampleABC",
    "reason": "product_not_received",
    "status": "needs_response",
}


def test_dispute_with_evidence_contact_is_payment_disputed() -> None:
    evidence = {"customer_email_address": "jane.doe@example.com", "customer_name": "Jane Doe"}
    body = event("charge.dispute.created", {**DISPUTE, "evidence": evidence}, created=1776500001)
    assert events(body) == [
        {
            "type": "payment.disputed",
            "occurred_at": "2026-04-18T08:13:21Z",
            "channel": "store",
            "source": "stripe",
            "source_event_id": "dispute:dp_1Qexample:created",
            "payload": {
                "payment_id": "pi_3QexampleABC",
                "amount": "47.00",
                "currency": "GBP",
                "reason": "product_not_received",
                "dispute_status": "needs_response",
            },
            "customer": {"email": "jane.doe@example.com", "display_name": "Jane Doe"},
        }
    ]


def test_dispute_naming_only_the_charge_belongs_to_whoever_paid() -> None:
    [result] = events(event("charge.dispute.created", DISPUTE))
    assert result["customer"] == {
        "event": {"source": "stripe", "source_event_id": "payment:pi_3QexampleABC:received"}
    }


def test_dispute_with_expanded_charge_uses_its_customer() -> None:
    [result] = events(event("charge.dispute.created", {**DISPUTE, "charge": CHARGE}))
    assert result["customer"] == WITHOUT_PHONE
    assert result["payload"]["payment_id"] == "pi_3QexampleABC"


INVOICE: dict[str, Any] = {
    "id": "in_1Qexample",
    "object": "invoice",
    "amount_due": 1999,
    "amount_paid": 0,
    "amount_remaining": 1999,
    "attempt_count": 2,
    "currency": "eur",
    "customer": "cus_Rexample123",
    "customer_email": "jane.doe@example.com",
    "customer_name": "Jane Doe",
    "customer_phone": None,
    "due_date": 1776124800,  # 2026-04-14
    "status": "open",
}


def test_invoice_payment_failed_is_invoice_overdue() -> None:
    body = event("invoice.payment_failed", INVOICE, created=1776384000)  # 2026-04-17
    assert events(body) == [
        {
            "type": "invoice.overdue",
            "occurred_at": "2026-04-17T00:00:00Z",
            "channel": "system",  # the type's default channel
            "source": "stripe",
            "source_event_id": "invoice:in_1Qexample:overdue",
            "payload": {
                "invoice_id": "in_1Qexample",
                "amount": "19.99",
                "currency": "EUR",
                "due_date": "2026-04-14",
                "days_overdue": 3,
            },
            "customer": WITHOUT_PHONE,
        }
    ]


def test_invoice_without_due_date_or_not_yet_due() -> None:
    [auto] = events(event("invoice.payment_failed", {**INVOICE, "due_date": None}))
    assert "due_date" not in auto["payload"]
    assert "days_overdue" not in auto["payload"]
    [early] = events(event("invoice.payment_failed", INVOICE, created=1776000000))
    assert early["payload"]["days_overdue"] == 0


def test_invoice_overdue_event_is_the_same_fact() -> None:
    [failed] = events(event("invoice.payment_failed", INVOICE))
    [overdue] = events(event("invoice.overdue", INVOICE))
    assert failed["source_event_id"] == overdue["source_event_id"]


# --- amounts -----------------------------------------------------------------------------


def test_zero_decimal_jpy() -> None:
    jpy = session(currency="jpy", amount_total=4700, amount_subtotal=4200)
    [result] = events(event("checkout.session.completed", jpy))
    assert result["payload"]["amount"] == "4700"
    assert result["payload"]["currency"] == "JPY"


def test_three_decimal_kwd() -> None:
    [result] = events(
        event("payment_intent.succeeded", {**INTENT, "currency": "kwd", "amount_received": 12340})
    )
    assert result["payload"]["amount"] == "12.340"


@pytest.mark.parametrize(
    ("currency", "places"),
    [
        ("JPY", 0),
        ("KRW", 0),
        ("XOF", 0),
        ("UGX", 0),
        ("GBP", 2),
        ("ISK", 2),
        ("HUF", 2),
        ("KWD", 3),
    ],
)
def test_exponents(currency: str, places: int) -> None:
    assert exponent(currency) == places


def test_float_amount_is_a_payload_error() -> None:
    with pytest.raises(PayloadError, match="not an integer"):
        events(event("checkout.session.completed", session(amount_total=47.0)))


def test_unknown_type_is_no_event() -> None:
    assert events(event("customer.created", {"id": "cus_Rexample123", "object": "customer"})) == []
    assert events(event("charge.succeeded", CHARGE)) == []


def test_event_without_object_is_a_payload_error() -> None:
    body = json.loads(GOLDEN)
    body["data"] = {}
    with pytest.raises(PayloadError):
        events(body)


@pytest.mark.parametrize("created", [99_999_999_999_999, -99_999_999_999_999, 10**30])
def test_a_created_time_past_the_calendar_is_a_payload_error(created: int) -> None:
    """An integer no date can hold (year 3170843) raised ValueError: a 500."""
    with pytest.raises(PayloadError, match="created"):
        events(event("checkout.session.completed", session(), created=created))


@pytest.mark.parametrize("due", [99_999_999_999_999, 10**30])
def test_a_due_date_past_the_calendar_is_a_payload_error(due: int) -> None:
    with pytest.raises(PayloadError, match="due_date"):
        events(event("invoice.payment_failed", {**INVOICE, "due_date": due}))
