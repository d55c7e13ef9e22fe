"""WooCommerce: order.created / order.updated webhooks, mapped by the order's status.

Signed with ``X-WC-Webhook-Signature`` = base64(HMAC-SHA256(webhook secret, raw body)).

The ping: when a webhook is saved active (admin screen or REST API) WooCommerce POSTs
``webhook_id=<id>`` with no signature and no X-WC-* headers
(``WC_Webhook::deliver_ping()`` in ``includes/class-wc-webhook.php``); anything but HTTP 200
makes the admin screen show "Delivery URL returned response code: NNN" (the REST API
ignores the answer). It only checks reachability: the webhook is saved active, the failure
count is untouched, order deliveries are signed and unaffected; the ping is just repeated
on the next save. We refuse it like any unsigned request (SignatureError, so 401, nothing
stored) rather than store unauthenticated bodies; a signed ping (a proxy or plugin that
signs it) is accepted and yields no events.
"""

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from app.ingest.adapters.base import Adapter, Delivery, PayloadError, SignatureError
from app.ingest.adapters.reading import address as _address
from app.ingest.adapters.reading import amount as _read_amount
from app.ingest.adapters.reading import as_dict as _dict
from app.ingest.adapters.reading import as_list as _list
from app.ingest.adapters.reading import checked_event, first_email, first_phone
from app.ingest.adapters.reading import text as _text
from app.ingest.adapters.signatures import base64_hmacs, require_any
from app.timeline.schemas import CustomerRefIn, IdentifiedEventIn

SOURCE = "woocommerce"
SIGNATURE_HEADER = "x-wc-webhook-signature"
ORDER_TOPICS = frozenset({"order.created", "order.updated"})

_PING = re.compile(rb"webhook_id=\d{1,20}")

Json = dict[str, Any]

# Order status -> (event type, the fact's name in source_event_id, timestamps to try).
# Several statuses can name one fact (pending and on-hold are both "placed"): the fact,
# not the status, goes into source_event_id so it is stored once.
_STATUSES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "pending": ("order.placed", "placed", ("date_created_gmt",)),
    "on-hold": ("order.placed", "placed", ("date_created_gmt",)),
    "processing": (
        "order.paid",
        "paid",
        ("date_paid_gmt", "date_modified_gmt", "date_created_gmt"),
    ),
    "completed": (
        "order.delivered",
        "delivered",
        ("date_completed_gmt", "date_modified_gmt", "date_created_gmt"),
    ),
    "cancelled": ("order.cancelled", "cancelled", ("date_modified_gmt", "date_created_gmt")),
    "refunded": ("order.refunded", "refunded", ("date_modified_gmt", "date_created_gmt")),
    "failed": ("payment.failed", "payment_failed", ("date_modified_gmt", "date_created_gmt")),
}


class WooCommerceAdapter(Adapter):
    source = SOURCE
    secret_headers = frozenset({SIGNATURE_HEADER})

    def verify(self, delivery: Delivery, secrets: Sequence[str], now: datetime) -> None:
        # WooCommerce sends no timestamp to bound replays; deduplication is by delivery id.
        given = delivery.signature_header(SIGNATURE_HEADER)
        if not given and _is_ping(delivery):
            raise SignatureError(
                "unsigned WooCommerce ping (webhook_id=...): WooCommerce never signs pings; "
                "refused like any unsigned request, order deliveries are unaffected"
            )
        require_any(base64_hmacs(secrets, delivery.body), given, "X-WC-Webhook-Signature")

    def delivery_id(self, delivery: Delivery) -> str:
        return delivery.headers.get("x-wc-webhook-delivery-id") or delivery.body_hash()

    def normalize(self, delivery: Delivery) -> list[IdentifiedEventIn]:
        if _is_ping(delivery):
            return []
        topic = delivery.headers.get("x-wc-webhook-topic", "").strip().lower()
        if topic not in ORDER_TOPICS:
            return []
        order = delivery.json(parse_float=Decimal)  # Decimal: line item "price" is a number
        if not isinstance(order, dict):
            raise PayloadError(f"{topic}: the body is not a JSON object")
        status = _text(order.get("status"))
        mapped = _STATUSES.get(status or "")
        if mapped is None:
            return []  # draft, checkout-draft, trash, custom statuses: not a fact we record
        customer = _customer(order)
        events: list[IdentifiedEventIn] = []
        if topic == "order.created" and mapped[0] != "order.placed":
            # The payload is built when the webhook runs, often after payment: the order
            # was still placed, at its creation time.
            # Its status then is not in the payload, so none is claimed.
            events.append(_order_event(order, customer, _STATUSES["pending"], None))
        events.append(_order_event(order, customer, mapped, status))
        return events


def _is_ping(delivery: Delivery) -> bool:
    return _PING.fullmatch(delivery.body.strip()) is not None


def _order_event(
    order: Json,
    customer: CustomerRefIn,
    mapped: tuple[str, str, tuple[str, ...]],
    status: str | None,
) -> IdentifiedEventIn:
    type_name, fact, time_fields = mapped
    order_id = _text(order.get("id"))
    if not order_id:
        raise PayloadError("id is missing")
    currency = _text(order.get("currency"))
    currency = currency.upper() if currency else None
    total = _amount(order.get("total"), "total")
    places = _places(order.get("total"))
    payload: Json
    if type_name == "payment.failed":
        payload = {
            "payment_id": _text(order.get("transaction_id")),
            "amount": total,
            "currency": currency,
            "order_id": order_id,
            "method": _text(order.get("payment_method_title") or order.get("payment_method")),
        }
    else:
        payload = {
            "order_id": order_id,
            "items": [
                {
                    "sku": _text(line.get("sku")),
                    "name": _text(line.get("name")),
                    "qty": line.get("quantity", 1),
                    "unit_price": _price(line.get("price"), places),
                }
                for line in _list(order.get("line_items"))
                if isinstance(line, dict)
            ],
            "total": total,
            "currency": currency,
            "status": status,
        }
        if type_name == "order.placed":
            payload["shipping_address"] = _address(order.get("shipping"))
        if type_name == "order.refunded":
            payload["refund_amount"] = _refunded(order) or total
    return _make(
        type_name, _first_time(order, time_fields), f"order:{order_id}:{fact}", customer, payload
    )


def _refunded(order: Json) -> Decimal | None:
    """The sum of the order's refunds (WooCommerce lists them with negative totals)."""
    amounts = [
        _amount(r.get("total"), "refunds.total")
        for r in _list(order.get("refunds"))
        if isinstance(r, dict)
    ]
    known = [abs(a) for a in amounts if a is not None]
    return sum(known, Decimal(0)) if known else None


# --- customer ----------------------------------------------------------------------------


def _customer(order: Json) -> CustomerRefIn:
    billing = _dict(order.get("billing"))
    email = first_email(billing.get("email"))
    phone = first_phone(_text(billing.get("country")), billing.get("phone"))
    customer_id = _text(order.get("customer_id"))
    external = (
        f"{SOURCE}:customer:{customer_id}" if customer_id and customer_id != "0" else None
    )  # 0 is a guest checkout
    if not (email or phone or external):
        raise PayloadError(f"order {order.get('id')} names no customer (no email, phone or id)")
    name = " ".join(
        p for p in (_text(billing.get("first_name")), _text(billing.get("last_name"))) if p
    )
    return CustomerRefIn(
        email=email, phone=phone, external_id=external, display_name=name[:300] or None
    )


# --- values --------------------------------------------------------------------------------


def _first_time(order: Json, fields: Sequence[str]) -> datetime:
    """The first of ``fields`` that is set: WooCommerce's *_gmt values are naive UTC."""
    for name in fields:
        value = order.get(name)
        if value in (None, ""):
            continue
        try:
            parsed = datetime.fromisoformat(str(value))
        except ValueError:
            raise PayloadError(f"{name}: '{value}' is not an ISO 8601 time") from None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    raise PayloadError(f"none of {', '.join(fields)} is given")


def _amount(value: Any, field: str) -> Decimal | None:
    """An amount as ``reading.amount`` reads it, a boolean as none given."""
    return None if isinstance(value, bool) else _read_amount(value, field)


# The most decimals a price is padded to: with an amount's 18 digits before the point, what a
# Decimal holds (28 digits); a total written with 40 made the padding an InvalidOperation.
_MAX_PLACES = 10


def _places(total: Any) -> int:
    """The store's price decimals, as its totals are written ("47.00" -> 2), at most
    _MAX_PLACES."""
    text = str(total) if isinstance(total, (str, Decimal)) else ""
    return min(len(text.split(".", 1)[1]), _MAX_PLACES) if "." in text else 0


def _price(value: Any, places: int) -> Decimal | None:
    """A unit price (a JSON number, 17.5) written with the store's decimals (17.50).

    Padding is exact; WooCommerce computes it as subtotal / quantity, so a price with more
    than 4 decimals (the most an amount keeps) is rounded to 4.
    """
    amount = _amount(value, "line_items.price")
    if amount is None:
        return None
    exponent = amount.as_tuple().exponent
    decimals = -exponent if isinstance(exponent, int) else 0
    if decimals < places:
        return amount.quantize(Decimal(1).scaleb(-places))
    if decimals > 4:
        return amount.quantize(Decimal("0.0001"))
    return amount


def _make(
    type_name: str, when: datetime, source_event_id: str, customer: CustomerRefIn, payload: Json
) -> IdentifiedEventIn:
    return checked_event(SOURCE, type_name, when, source_event_id, customer, payload)
