"""Shopify adapter: golden orders/create payload, signatures, topic variants (pure, no DB)."""

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
from app.ingest.adapters.shopify import ShopifyAdapter, refund_event
from app.timeline.schemas import CustomerRefIn

GOLDEN = (Path(__file__).parent / "golden" / "shopify_orders_create.json").read_bytes()
# From the reference samples' headers.json (test-only secret, signature over the exact bytes).
SECRET = "refdata_test_shopify_client_secret"
GOLDEN_SIGNATURE = "seqpGB02WsnY2PjNLH4PgoMMH0KzuryNAnq1pud3eFo="
HEADERS = {
    "content-type": "application/json",
    "x-shopify-topic": "orders/create",
    "x-shopify-hmac-sha256": GOLDEN_SIGNATURE,
    "x-shopify-shop-domain": "refdata-test.myshopify.com",
    "x-shopify-api-version": "2026-01",
    "x-shopify-webhook-id": "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
    "x-shopify-event-id": "7b8c9d0a-1234-5678-90ab-cdef12345678",
    "x-shopify-triggered-at": "2026-04-14T10:05:14.210Z",
}
NOW = datetime(2026, 4, 14, 10, 5, 15, tzinfo=UTC)
ORDER_ID = "5830112755891"

adapter = ShopifyAdapter()


def sign(body: bytes, secret: str = SECRET) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def delivery(body: bytes, topic: str = "orders/create", **headers: str) -> Delivery:
    return Delivery(
        url="https://hooks.example.com/webhooks/shopify",
        headers={
            **HEADERS,
            "x-shopify-topic": topic,
            "x-shopify-hmac-sha256": sign(body),
            **headers,
        },
        body=body,
    )


def order(**changes: Any) -> dict[str, Any]:
    body = copy.deepcopy(json.loads(GOLDEN))
    body.update(changes)
    return body


def events(body: dict[str, Any], topic: str) -> list[dict[str, Any]]:
    signed = delivery(json.dumps(body).encode(), topic)
    adapter.verify(signed, [SECRET], NOW)
    return [e.model_dump(mode="json", exclude_none=True) for e in adapter.normalize(signed)]


CUSTOMER = {
    "phone": "+447700900123",
    "email": "jane.doe@example.com",
    "external_id": "shopify:customer:7012345678901",
    "display_name": "Jane Doe",
}
ITEMS = [{"sku": "MUG-BLU-01", "name": "Ceramic Mug - Blue", "qty": 2, "unit_price": "21.00"}]


# --- golden ------------------------------------------------------------------------------


def test_golden_orders_create_normalises_to_order_placed() -> None:
    golden = Delivery(url="https://hooks.example.com/shopify", headers=HEADERS, body=GOLDEN)
    adapter.verify(golden, [SECRET], NOW)

    result = [e.model_dump(mode="json", exclude_none=True) for e in adapter.normalize(golden)]

    assert result == [
        {
            "type": "order.placed",
            # processed_at (the order's date as Shopify shows it), with its own offset.
            "occurred_at": "2026-04-14T11:05:11+01:00",
            "channel": "store",
            "source": "shopify",
            "source_event_id": f"order:{ORDER_ID}:placed",
            "summary": "Order #1001 placed, 47.00 GBP",
            "payload": {
                "order_id": ORDER_ID,
                "items": ITEMS,
                "total": "47.00",
                "currency": "GBP",
                "status": "placed",
                "shipping_address": {
                    "first_name": "Jane",
                    "last_name": "Doe",
                    "name": "Jane Doe",
                    "address1": "1 Example Street",
                    "phone": "+447700900123",
                    "city": "London",
                    "zip": "SW1A 1AA",
                    "country": "United Kingdom",
                    "country_code": "GB",
                },
            },
            "customer": CUSTOMER,
        }
    ]


def test_golden_file_is_the_exact_reference_bytes() -> None:
    assert not GOLDEN.endswith(b"\n")
    assert sign(GOLDEN) == GOLDEN_SIGNATURE


def test_delivery_id_is_the_webhook_id_then_the_event_id_then_the_body_hash() -> None:
    golden = Delivery(url="u", headers=HEADERS, body=GOLDEN)
    assert adapter.delivery_id(golden) == "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043"
    no_webhook_id = {k: v for k, v in HEADERS.items() if k != "x-shopify-webhook-id"}
    assert (
        adapter.delivery_id(Delivery(url="u", headers=no_webhook_id, body=GOLDEN))
        == "7b8c9d0a-1234-5678-90ab-cdef12345678"
    )
    bare = {"x-shopify-topic": "orders/create"}
    assert (
        adapter.delivery_id(Delivery(url="u", headers=bare, body=GOLDEN))
        == hashlib.sha256(GOLDEN).hexdigest()
    )


def test_stored_headers_drop_the_signature() -> None:
    stored = adapter.stored_headers(Delivery(url="u", headers=HEADERS, body=GOLDEN))
    assert "x-shopify-hmac-sha256" not in stored
    assert stored["x-shopify-topic"] == "orders/create"


# --- signatures --------------------------------------------------------------------------


def test_wrong_secret_is_refused() -> None:
    with pytest.raises(SignatureError):
        adapter.verify(Delivery(url="u", headers=HEADERS, body=GOLDEN), ["other-secret"], NOW)


def test_tampered_body_is_refused() -> None:
    tampered = GOLDEN.replace(b'"total_price": "47.00"', b'"total_price": "4.70"')
    assert tampered != GOLDEN
    with pytest.raises(SignatureError):
        adapter.verify(Delivery(url="u", headers=HEADERS, body=tampered), [SECRET], NOW)


def test_trailing_newline_breaks_the_signature() -> None:
    with pytest.raises(SignatureError):
        adapter.verify(Delivery(url="u", headers=HEADERS, body=GOLDEN + b"\n"), [SECRET], NOW)


def test_missing_signature_is_refused() -> None:
    headers = {k: v for k, v in HEADERS.items() if k != "x-shopify-hmac-sha256"}
    with pytest.raises(SignatureError, match="missing"):
        adapter.verify(Delivery(url="u", headers=headers, body=GOLDEN), [SECRET], NOW)


def test_no_configured_secret_is_refused() -> None:
    with pytest.raises(SignatureError):
        adapter.verify(Delivery(url="u", headers=HEADERS, body=GOLDEN), [], NOW)


def test_rotated_secret_passes_when_only_the_new_one_matches() -> None:
    new = "new_shopify_client_secret"
    signed = Delivery(
        url="u", headers={**HEADERS, "x-shopify-hmac-sha256": sign(GOLDEN, new)}, body=GOLDEN
    )
    adapter.verify(signed, [SECRET, new], NOW)
    adapter.verify(signed, [new, SECRET], NOW)
    with pytest.raises(SignatureError):
        adapter.verify(signed, [SECRET], NOW)


# --- topics ------------------------------------------------------------------------------


def test_orders_paid_is_order_paid_at_the_update_time() -> None:
    assert events(order(), "orders/paid") == [
        {
            "type": "order.paid",
            "occurred_at": "2026-04-14T11:05:14+01:00",
            "channel": "store",
            "source": "shopify",
            "source_event_id": f"order:{ORDER_ID}:paid",
            "summary": "Order #1001 paid, 47.00 GBP",
            "payload": {
                "order_id": ORDER_ID,
                "items": ITEMS,
                "total": "47.00",
                "currency": "GBP",
                "status": "paid",
            },
            "customer": CUSTOMER,
        }
    ]


def test_orders_paid_before_orders_create_are_distinct_facts_each_stable() -> None:
    paid = events(order(), "orders/paid")
    placed = events(order(), "orders/create")
    assert paid[0]["source_event_id"] != placed[0]["source_event_id"]
    assert events(order(), "orders/paid") == paid  # a retry: the same fact, the same id
    assert paid[0]["occurred_at"] > placed[0]["occurred_at"]


def test_orders_fulfilled_carries_carrier_and_tracking() -> None:
    fulfilled = order(
        fulfillment_status="fulfilled",
        updated_at="2026-04-15T16:00:00+01:00",
        fulfillments=[
            {
                "id": 4501234567890,
                "order_id": int(ORDER_ID),
                "status": "cancelled",
                "created_at": "2026-04-15T09:00:00+01:00",
                "tracking_company": "DPD",
                "tracking_number": "CANCELLED1",
                "tracking_numbers": ["CANCELLED1"],
            },
            {
                "id": 4501234567891,
                "order_id": int(ORDER_ID),
                "status": "success",
                "created_at": "2026-04-15T15:42:10+01:00",
                "tracking_company": "Royal Mail",
                "tracking_number": "RM123456789GB",
                "tracking_numbers": ["RM123456789GB"],
                "tracking_url": "https://www.royalmail.com/track?trackNumber=RM123456789GB",
            },
        ],
    )
    [event] = events(fulfilled, "orders/fulfilled")
    assert event["type"] == "order.shipped"
    assert event["occurred_at"] == "2026-04-15T15:42:10+01:00"
    assert event["source_event_id"] == f"order:{ORDER_ID}:shipped"
    assert event["payload"]["carrier"] == "Royal Mail"
    assert event["payload"]["tracking"] == "RM123456789GB"
    assert event["payload"]["shipping_address"]["zip"] == "SW1A 1AA"
    assert event["payload"]["items"] == ITEMS


def test_orders_cancelled_at_cancelled_at_with_the_reason_in_the_summary() -> None:
    cancelled = order(
        cancelled_at="2026-04-14T12:30:00+01:00",
        cancel_reason="customer",
        updated_at="2026-04-14T12:30:02+01:00",
    )
    [event] = events(cancelled, "orders/cancelled")
    assert event["type"] == "order.cancelled"
    assert event["occurred_at"] == "2026-04-14T12:30:00+01:00"
    assert event["source_event_id"] == f"order:{ORDER_ID}:cancelled"
    assert event["summary"] == "Order #1001 cancelled, 47.00 GBP (customer)"
    assert event["payload"]["status"] == "cancelled"


REFUND: dict[str, Any] = {
    "id": 929361464,
    "order_id": int(ORDER_ID),
    "created_at": "2026-04-16T09:30:02+01:00",
    "processed_at": "2026-04-16T09:30:00+01:00",
    "note": "Arrived chipped",
    "restock": True,
    "user_id": 548380009,
    "admin_graphql_api_id": "gid://shopify/Refund/929361464",
    "refund_line_items": [
        {
            "id": 104689539,
            "quantity": 1,
            "line_item_id": 13012345678901,
            "restock_type": "return",
            "subtotal": 21.0,
            "total_tax": 3.5,
            "line_item": {
                "id": 13012345678901,
                "title": "Ceramic Mug - Blue",
                "sku": "MUG-BLU-01",
                "quantity": 2,
                "price": "21.00",
                "price_set": {
                    "shop_money": {"amount": "21.00", "currency_code": "GBP"},
                    "presentment_money": {"amount": "21.00", "currency_code": "GBP"},
                },
            },
        }
    ],
    "transactions": [
        {
            "id": 389404469,
            "order_id": int(ORDER_ID),
            "kind": "refund",
            "gateway": "shopify_payments",
            "status": "success",
            "amount": "21.00",
            "currency": "GBP",
            "created_at": "2026-04-16T09:30:00+01:00",
        },
        {
            "id": 389404470,
            "order_id": int(ORDER_ID),
            "kind": "refund",
            "gateway": "shopify_payments",
            "status": "failure",
            "amount": "5.00",
            "currency": "GBP",
        },
    ],
    "order_adjustments": [],
}


def test_refunds_create_belongs_to_the_customer_of_the_order() -> None:
    signed = delivery(json.dumps(REFUND).encode(), "refunds/create")
    adapter.verify(signed, [SECRET], NOW)
    [refund] = adapter.normalize(signed)
    assert refund.type == "order.refunded"
    assert refund.customer.event is not None
    assert (refund.customer.event.source, refund.customer.event.source_event_id) == (
        "shopify",
        f"order:{ORDER_ID}:placed",
    )


def test_refund_event_with_the_orders_customer() -> None:
    customer = CustomerRefIn(email="jane.doe@example.com")
    event = refund_event(REFUND, customer).model_dump(mode="json", exclude_none=True)
    assert event == {
        "type": "order.refunded",
        "occurred_at": "2026-04-16T09:30:00+01:00",
        "channel": "store",
        "source": "shopify",
        "source_event_id": f"order:{ORDER_ID}:refunded:929361464",
        "summary": f"Order {ORDER_ID} refunded 21.00 GBP",
        "payload": {
            "order_id": ORDER_ID,
            "items": [
                {"sku": "MUG-BLU-01", "name": "Ceramic Mug - Blue", "qty": 1, "unit_price": "21.00"}
            ],
            "currency": "GBP",
            "status": "refunded",
            "refund_amount": "21.00",  # the failed 5.00 transaction is not money returned
        },
        "customer": {"email": "jane.doe@example.com"},
    }


def test_unknown_topic_is_no_event() -> None:
    assert events(order(), "orders/updated") == []
    assert events(order(), "products/create") == []


def test_guest_with_a_national_phone_is_read_in_the_address_country() -> None:
    guest = order(customer=None, email="", contact_email=None, phone="07911 123456")
    [event] = events(guest, "orders/create")
    assert event["customer"] == {"phone": "+447911123456", "display_name": "Jane Doe"}


def test_order_naming_nobody_is_a_payload_error() -> None:
    nobody = order(customer=None, email=None, contact_email=None, phone=None, billing_address=None)
    with pytest.raises(PayloadError, match="names no customer"):
        events(nobody, "orders/create")


def test_naive_timestamp_is_a_payload_error() -> None:
    with pytest.raises(PayloadError, match="no UTC offset"):
        events(order(processed_at="2026-04-14T11:05:11"), "orders/create")


def test_body_that_is_not_json_is_a_payload_error() -> None:
    signed = delivery(b"<xml/>", "orders/create")
    adapter.verify(signed, [SECRET], NOW)
    with pytest.raises(PayloadError):
        adapter.normalize(signed)
