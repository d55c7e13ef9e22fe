"""WooCommerce adapter: golden order.created payload, signatures, the ping, statuses."""

import base64
import copy
import hashlib
import hmac
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from app.ingest.adapters.base import Delivery, PayloadError, SignatureError
from app.ingest.adapters.woocommerce import WooCommerceAdapter

GOLDEN = (Path(__file__).parent / "golden" / "woocommerce_order_created.json").read_bytes()
# From the reference samples' headers.json (test-only secret, signature over the exact bytes).
SECRET = "refdata_test_woocommerce_secret"
GOLDEN_SIGNATURE = "DdYFH6cPtLZkdPWuvq9q0ybZ5biw9wsN5wEuhMoFNhA="
HEADERS = {
    "content-type": "application/json",
    "user-agent": "WooCommerce/9.8.1 Hookshot (WordPress/6.8.1)",
    "x-wc-webhook-source": "https://shop.example.com/",
    "x-wc-webhook-topic": "order.created",
    "x-wc-webhook-resource": "order",
    "x-wc-webhook-event": "created",
    "x-wc-webhook-signature": GOLDEN_SIGNATURE,
    "x-wc-webhook-id": "12",
    "x-wc-webhook-delivery-id": "5d41402abc4b2a76b9719d911017c592",
}
NOW = datetime(2026, 4, 14, 10, 5, 15, tzinfo=UTC)

adapter = WooCommerceAdapter()


def sign(body: bytes, secret: str = SECRET) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def delivery(body: bytes, topic: str = "order.updated", **headers: str) -> Delivery:
    return Delivery(
        url="https://hooks.example.com/webhooks/woocommerce",
        headers={
            **HEADERS,
            "x-wc-webhook-topic": topic,
            "x-wc-webhook-signature": sign(body),
            **headers,
        },
        body=body,
    )


def order(**changes: Any) -> dict[str, Any]:
    body = copy.deepcopy(json.loads(GOLDEN))
    body.update(changes)
    return body


def events(body: dict[str, Any], topic: str = "order.updated") -> list[dict[str, Any]]:
    signed = delivery(json.dumps(body).encode(), topic)
    adapter.verify(signed, [SECRET], NOW)
    return [e.model_dump(mode="json", exclude_none=True) for e in adapter.normalize(signed)]


CUSTOMER = {
    "phone": "+447700900123",
    "email": "jane.doe@example.com",
    "external_id": "woocommerce:customer:42",
    "display_name": "Jane Doe",
}
ITEMS = [{"sku": "MUG-BLU-01", "name": "Ceramic Mug - Blue", "qty": 2, "unit_price": "17.50"}]


# --- golden ------------------------------------------------------------------------------


def test_golden_order_created_processing_is_placed_then_paid() -> None:
    golden = Delivery(url="https://hooks.example.com/woo", headers=HEADERS, body=GOLDEN)
    adapter.verify(golden, [SECRET], NOW)

    result = [e.model_dump(mode="json", exclude_none=True) for e in adapter.normalize(golden)]

    assert result == [
        {
            "type": "order.placed",
            "occurred_at": "2026-04-14T10:05:12Z",  # date_created_gmt, naive UTC made aware
            "channel": "store",
            "source": "woocommerce",
            "source_event_id": "order:727:placed",
            "payload": {
                "order_id": "727",
                "items": ITEMS,  # price 17.5 (a JSON number) as an exact 2-decimal amount
                "total": "47.00",
                "currency": "GBP",
                "shipping_address": {
                    "first_name": "Jane",
                    "last_name": "Doe",
                    "address_1": "1 Example Street",
                    "city": "London",
                    "postcode": "SW1A 1AA",
                    "country": "GB",
                },
            },
            "customer": CUSTOMER,
        },
        {
            "type": "order.paid",
            "occurred_at": "2026-04-14T10:05:14Z",  # date_paid_gmt
            "channel": "store",
            "source": "woocommerce",
            "source_event_id": "order:727:paid",
            "payload": {
                "order_id": "727",
                "items": ITEMS,
                "total": "47.00",
                "currency": "GBP",
                "status": "processing",
            },
            "customer": CUSTOMER,
        },
    ]


def test_golden_file_is_the_exact_reference_bytes() -> None:
    assert not GOLDEN.endswith(b"\n")
    assert sign(GOLDEN) == GOLDEN_SIGNATURE


def test_delivery_id_is_the_delivery_header_else_the_body_hash() -> None:
    assert adapter.delivery_id(Delivery(url="u", headers=HEADERS, body=GOLDEN)) == (
        "5d41402abc4b2a76b9719d911017c592"
    )
    assert adapter.delivery_id(Delivery(url="u", headers={}, body=GOLDEN)) == (
        hashlib.sha256(GOLDEN).hexdigest()
    )


def test_stored_headers_drop_the_signature() -> None:
    stored = adapter.stored_headers(Delivery(url="u", headers=HEADERS, body=GOLDEN))
    assert "x-wc-webhook-signature" not in stored
    assert stored["x-wc-webhook-delivery-id"] == "5d41402abc4b2a76b9719d911017c592"


# --- signatures --------------------------------------------------------------------------


def test_wrong_secret_is_refused() -> None:
    with pytest.raises(SignatureError):
        adapter.verify(Delivery(url="u", headers=HEADERS, body=GOLDEN), ["other"], NOW)


def test_tampered_body_is_refused() -> None:
    tampered = GOLDEN.replace(b'"total": "47.00"', b'"total": "4.70"')
    assert tampered != GOLDEN
    with pytest.raises(SignatureError):
        adapter.verify(Delivery(url="u", headers=HEADERS, body=tampered), [SECRET], NOW)


def test_missing_signature_is_refused() -> None:
    headers = {k: v for k, v in HEADERS.items() if k != "x-wc-webhook-signature"}
    with pytest.raises(SignatureError, match="missing"):
        adapter.verify(Delivery(url="u", headers=headers, body=GOLDEN), [SECRET], NOW)


def test_rotated_secret_passes_when_only_the_new_one_matches() -> None:
    new = "new_woocommerce_secret"
    signed = Delivery(
        url="u", headers={**HEADERS, "x-wc-webhook-signature": sign(GOLDEN, new)}, body=GOLDEN
    )
    adapter.verify(signed, [SECRET, new], NOW)
    with pytest.raises(SignatureError):
        adapter.verify(signed, [SECRET], NOW)


# --- the ping ----------------------------------------------------------------------------

# What WC_Webhook::deliver_ping() sends: a bare form body, no signature, no X-WC-* headers.
PING_HEADERS = {
    "user-agent": "WooCommerce/9.8.1 Hookshot (WordPress/6.8.1)",
    "content-type": "application/x-www-form-urlencoded",
}


def test_unsigned_ping_is_refused() -> None:
    ping = Delivery(url="u", headers=PING_HEADERS, body=b"webhook_id=12")
    with pytest.raises(SignatureError, match="ping"):
        adapter.verify(ping, [SECRET], NOW)


def test_signed_ping_is_accepted_and_yields_nothing() -> None:
    body = b"webhook_id=12"
    ping = Delivery(
        url="u", headers={**PING_HEADERS, "x-wc-webhook-signature": sign(body)}, body=body
    )
    adapter.verify(ping, [SECRET], NOW)
    assert adapter.normalize(ping) == []


def test_ping_signed_with_another_secret_is_refused() -> None:
    body = b"webhook_id=12"
    ping = Delivery(
        url="u", headers={**PING_HEADERS, "x-wc-webhook-signature": sign(body, "x")}, body=body
    )
    with pytest.raises(SignatureError):
        adapter.verify(ping, [SECRET], NOW)


# --- statuses ----------------------------------------------------------------------------


def test_pending_and_on_hold_are_one_placed_fact() -> None:
    pending = events(order(status="pending", date_paid_gmt=None))
    on_hold = events(order(status="on-hold", date_paid_gmt=None))
    assert [e["type"] for e in pending + on_hold] == ["order.placed", "order.placed"]
    assert pending[0]["source_event_id"] == on_hold[0]["source_event_id"] == "order:727:placed"
    assert pending[0]["occurred_at"] == "2026-04-14T10:05:12Z"
    assert pending[0]["payload"]["status"] == "pending"
    assert on_hold[0]["payload"]["status"] == "on-hold"


def test_order_created_pending_is_only_placed() -> None:
    result = events(order(status="pending", date_paid_gmt=None), "order.created")
    assert [e["source_event_id"] for e in result] == ["order:727:placed"]


def test_order_updated_processing_is_only_paid() -> None:
    result = events(order())
    assert [(e["type"], e["source_event_id"]) for e in result] == [("order.paid", "order:727:paid")]


def test_completed_is_delivered_at_date_completed() -> None:
    [event] = events(
        order(
            status="completed",
            date_completed_gmt="2026-04-17T08:00:00",
            date_modified_gmt="2026-04-17T08:00:03",
        )
    )
    assert event["type"] == "order.delivered"
    assert event["occurred_at"] == "2026-04-17T08:00:00Z"
    assert event["source_event_id"] == "order:727:delivered"
    assert event["payload"]["status"] == "completed"


def test_cancelled_at_date_modified() -> None:
    [event] = events(order(status="cancelled", date_modified_gmt="2026-04-14T12:00:00"))
    assert event["type"] == "order.cancelled"
    assert event["occurred_at"] == "2026-04-14T12:00:00Z"
    assert event["source_event_id"] == "order:727:cancelled"


def test_refunded_sums_the_refunds() -> None:
    refunded = order(
        status="refunded",
        date_modified_gmt="2026-04-18T09:00:00",
        refunds=[
            {"id": 731, "reason": "Chipped", "total": "-21.00"},
            {"id": 740, "reason": "", "total": "-26.00"},
        ],
    )
    [event] = events(refunded)
    assert event["type"] == "order.refunded"
    assert event["source_event_id"] == "order:727:refunded"
    assert event["occurred_at"] == "2026-04-18T09:00:00Z"
    assert event["payload"]["refund_amount"] == "47.00"
    assert event["payload"]["currency"] == "GBP"


def test_refunded_without_refund_lines_refunds_the_total() -> None:
    [event] = events(order(status="refunded", refunds=[]))
    assert event["payload"]["refund_amount"] == "47.00"


def test_failed_is_payment_failed() -> None:
    failed = order(status="failed", date_paid_gmt=None, date_modified_gmt="2026-04-14T10:06:00")
    assert events(failed) == [
        {
            "type": "payment.failed",
            "occurred_at": "2026-04-14T10:06:00Z",
            "channel": "store",
            "source": "woocommerce",
            "source_event_id": "order:727:payment_failed",
            "payload": {
                "payment_id": "pi_3QexampleABC",
                "amount": "47.00",
                "currency": "GBP",
                "order_id": "727",
                "method": "Credit Card (Stripe)",
            },
            "customer": CUSTOMER,
        }
    ]


@pytest.mark.parametrize("status", ["checkout-draft", "draft", "trash", "wc-shipped-custom"])
def test_other_statuses_are_no_event(status: str) -> None:
    assert events(order(status=status)) == []


@pytest.mark.parametrize("topic", ["order.deleted", "product.updated", "customer.created"])
def test_other_topics_are_no_event(topic: str) -> None:
    assert events(order(), topic) == []


def test_same_delivery_twice_gives_the_same_facts() -> None:
    assert events(order(), "order.created") == events(order(), "order.created")


# --- customer and amounts ----------------------------------------------------------------


def test_guest_has_no_external_id_and_a_national_phone_is_read_in_the_billing_country() -> None:
    billing = {**order()["billing"], "phone": "07911 123456"}
    [event] = events(order(customer_id=0, billing=billing))
    assert event["customer"] == {
        "email": "jane.doe@example.com",
        "phone": "+447911123456",
        "display_name": "Jane Doe",
    }


def test_order_naming_nobody_is_a_payload_error() -> None:
    billing = {**order()["billing"], "email": "", "phone": ""}
    with pytest.raises(PayloadError, match="names no customer"):
        events(order(customer_id=0, billing=billing))


def test_zero_decimal_store_and_long_unit_prices() -> None:
    jpy = order(
        currency="JPY",
        total="4700",
        line_items=[
            {"name": "Mug", "sku": "", "quantity": 2, "price": 2350},
            {"name": "Tea", "sku": "TEA", "quantity": 3, "price": 333.3333333333},
        ],
    )
    [event] = events(jpy)
    assert event["payload"]["total"] == "4700"
    assert event["payload"]["currency"] == "JPY"
    assert event["payload"]["items"] == [
        {"name": "Mug", "qty": 2, "unit_price": "2350"},
        {"sku": "TEA", "name": "Tea", "qty": 3, "unit_price": "333.3333"},
    ]


@pytest.mark.parametrize("price", ["1e400", "-1e400", "1e30", "123456789012345678901234567.123456"])
def test_a_unit_price_past_what_an_amount_holds_is_a_payload_error(price: str) -> None:
    """Padded to the store's decimals or rounded to 4, such a price had more digits than a
    Decimal holds: an InvalidOperation, a signed delivery's 500."""
    body = json.dumps(order(line_items=[{"name": "Mug", "quantity": 1, "price": "P"}]))
    signed = delivery(body.replace('"P"', price).encode(), "order.updated")
    adapter.verify(signed, [SECRET], NOW)
    with pytest.raises(PayloadError, match=r"line_items\.price: .* more digits than an amount"):
        adapter.normalize(signed)


def test_prices_are_padded_to_the_total_s_decimals_up_to_ten() -> None:
    """A total written with 40 decimals padded each price to 40: past what a Decimal holds."""
    body = json.dumps(order(total="T", line_items=[{"name": "Mug", "quantity": 2, "price": 17.5}]))
    signed = delivery(body.replace('"T"', "35." + "0" * 40).encode(), "order.updated")
    adapter.verify(signed, [SECRET], NOW)
    [event] = adapter.normalize(signed)
    assert event.model_dump(mode="json")["payload"]["items"][0]["unit_price"] == "17.5" + "0" * 9


def test_body_that_is_not_json_is_a_payload_error() -> None:
    signed = delivery(b"not json", "order.updated")
    adapter.verify(signed, [SECRET], NOW)
    with pytest.raises(PayloadError):
        adapter.normalize(signed)
