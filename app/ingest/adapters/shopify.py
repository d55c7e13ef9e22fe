"""Shopify: order webhooks (orders/create, paid, fulfilled, cancelled) and refunds/create.

Signed with ``X-Shopify-Hmac-Sha256`` = base64(HMAC-SHA256(app client secret, raw body)).
Every fact gets a stable ``source_event_id`` (``order:<id>:placed`` ...), so retries and
topics that race each other (orders/paid before orders/create) are stored once.
"""

from collections.abc import Callable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from app.ingest.adapters.base import Adapter, Delivery, PayloadError
from app.ingest.adapters.reading import address as _address
from app.ingest.adapters.reading import amount as _amount
from app.ingest.adapters.reading import as_dict as _dict
from app.ingest.adapters.reading import as_list as _list
from app.ingest.adapters.reading import checked_event
from app.ingest.adapters.reading import currency as _currency
from app.ingest.adapters.reading import first_email as _email
from app.ingest.adapters.reading import first_phone as _phone
from app.ingest.adapters.reading import required as _required
from app.ingest.adapters.reading import text as _text
from app.ingest.adapters.signatures import base64_hmacs, require_any
from app.timeline.schemas import CustomerRefIn, EventRef, IdentifiedEventIn

SOURCE = "shopify"
SIGNATURE_HEADER = "x-shopify-hmac-sha256"

Json = dict[str, Any]


class ShopifyAdapter(Adapter):
    source = SOURCE
    secret_headers = frozenset({SIGNATURE_HEADER})

    def verify(self, delivery: Delivery, secrets: Sequence[str], now: datetime) -> None:
        # Shopify sends no timestamp to bound replays; deduplication is by delivery id.
        given = delivery.signature_header(SIGNATURE_HEADER)
        require_any(base64_hmacs(secrets, delivery.body), given, "X-Shopify-Hmac-Sha256")

    def delivery_id(self, delivery: Delivery) -> str:
        return (
            delivery.headers.get("x-shopify-webhook-id")
            or delivery.headers.get("x-shopify-event-id")
            or delivery.body_hash()
        )

    def normalize(self, delivery: Delivery) -> list[IdentifiedEventIn]:
        topic = delivery.headers.get("x-shopify-topic", "").strip().lower()
        handler = _TOPICS.get(topic)
        if handler is None:
            return []
        body = delivery.json()
        if not isinstance(body, dict):
            raise PayloadError(f"{topic}: the body is not a JSON object")
        return handler(body)


# --- topics ------------------------------------------------------------------------------


def _order_placed(order: Json) -> list[IdentifiedEventIn]:
    # processed_at is the order's date as Shopify shows it (set in the past for imports).
    when = _first_time(order, "processed_at", "created_at")
    payload = {
        **_order_payload(order, "placed"),
        "shipping_address": _address(order.get("shipping_address")),
    }
    return [_order_event(order, "placed", when, payload)]


def _order_paid(order: Json) -> list[IdentifiedEventIn]:
    # The order carries no payment time; updated_at is when it became paid.
    when = _first_time(order, "updated_at", "processed_at", "created_at")
    return [_order_event(order, "paid", when, _order_payload(order, "paid"))]


def _order_fulfilled(order: Json) -> list[IdentifiedEventIn]:
    fulfillments = [
        f
        for f in _list(order.get("fulfillments"))
        if isinstance(f, dict) and f.get("status") not in {"cancelled", "error", "failure"}
    ]
    carriers = _distinct(f.get("tracking_company") for f in fulfillments)
    tracking = _distinct(
        number
        for f in fulfillments
        for number in (_list(f.get("tracking_numbers")) or [f.get("tracking_number")])
    )
    times = [_time(f.get("created_at"), "fulfillments.created_at") for f in fulfillments]
    known = [t for t in times if t is not None]
    when = max(known) if known else _first_time(order, "updated_at", "created_at")
    payload = {
        **_order_payload(order, "shipped"),
        "carrier": ", ".join(carriers)[:200] or None,
        "tracking": ", ".join(tracking)[:200] or None,
        "shipping_address": _address(order.get("shipping_address")),
    }
    return [_order_event(order, "shipped", when, payload)]


def _order_cancelled(order: Json) -> list[IdentifiedEventIn]:
    when = _first_time(order, "cancelled_at", "updated_at")
    reason = _text(order.get("cancel_reason"))
    summary = _summary(order, "cancelled") + (f" ({reason})" if reason else "")
    return [
        _order_event(order, "cancelled", when, _order_payload(order, "cancelled"), summary[:280])
    ]


def _refund_created(refund: Json) -> list[IdentifiedEventIn]:
    customer = _customer(refund)
    if customer is None:
        # A Refund object carries order_id but nobody's identity: the refund belongs to
        # whoever placed the order (until that order is recorded, the delivery fails and
        # can be replayed).
        order_id = _required(_text(refund.get("order_id")), "order_id")
        customer = CustomerRefIn(
            event=EventRef(source="shopify", source_event_id=f"order:{order_id}:placed")
        )
    return [refund_event(refund, customer)]


def refund_event(refund: Json, customer: CustomerRefIn) -> IdentifiedEventIn:
    """order.refunded for a Shopify Refund object, once the order's customer is known."""
    order_id = _required(_text(refund.get("order_id")), "order_id")
    refund_id = _required(_text(refund.get("id")), "id")
    transactions = [
        t
        for t in _list(refund.get("transactions"))
        if isinstance(t, dict)
        and t.get("kind") == "refund"
        and t.get("status") in {"success", None}
    ]
    currency = _currency(next((t.get("currency") for t in transactions), None))
    amounts = [_amount(t.get("amount"), "transactions.amount") for t in transactions]
    known = [a for a in amounts if a is not None]
    amount = sum(known, Decimal(0)) if known else None
    items = []
    for entry in _list(refund.get("refund_line_items")):
        line = entry.get("line_item") if isinstance(entry, dict) else None
        if not isinstance(line, dict):
            continue
        currency = currency or _money_currency(line.get("price_set"))
        items.append(
            {
                "sku": _text(line.get("sku")),
                "name": _text(line.get("title") or line.get("name")),
                "qty": entry.get("quantity", 1),
                "unit_price": _price_in(line, currency),
            }
        )
    payload = {
        "order_id": order_id,
        "items": items,
        "currency": currency,
        "status": "refunded",
        "refund_amount": amount,
    }
    when = _first_time(refund, "processed_at", "created_at")
    money = f" {amount} {currency}" if amount is not None and currency else ""
    return _make(
        "order.refunded",
        when,
        f"order:{order_id}:refunded:{refund_id}",
        customer,
        payload,
        f"Order {order_id} refunded{money}",
    )


_TOPICS: dict[str, Callable[[Json], list[IdentifiedEventIn]]] = {
    "orders/create": _order_placed,
    "orders/paid": _order_paid,
    "orders/fulfilled": _order_fulfilled,
    "orders/cancelled": _order_cancelled,
    "refunds/create": _refund_created,
}


# --- orders --------------------------------------------------------------------------------


def _order_payload(order: Json, status: str) -> Json:
    currency = _currency(order.get("currency"))
    items = [
        {
            "sku": _text(line.get("sku")),
            "name": _text(line.get("title") or line.get("name")),
            "qty": line.get("quantity", 1),
            "unit_price": _amount(line.get("price"), "line_items.price"),
        }
        for line in _list(order.get("line_items"))
        if isinstance(line, dict)
    ]
    return {
        "order_id": _required(_text(order.get("id")), "id"),
        "items": items,
        "total": _amount(order.get("total_price"), "total_price"),
        "currency": currency,
        "status": status,
    }


def _order_event(
    order: Json, fact: str, when: datetime, payload: Json, summary: str | None = None
) -> IdentifiedEventIn:
    customer = _customer(order)
    if customer is None:
        raise PayloadError(f"order {payload['order_id']} names no customer (no email, phone or id)")
    return _make(
        f"order.{fact}",
        when,
        f"order:{payload['order_id']}:{fact}",
        customer,
        payload,
        summary or _summary(order, fact),
    )


def _summary(order: Json, fact: str) -> str:
    """'Order #1001 placed, 47.00 GBP': the order name customers quote, not the long id."""
    name = _text(order.get("name")) or _text(order.get("id")) or ""
    total, currency = _text(order.get("total_price")), _text(order.get("currency"))
    money = f", {total} {currency.upper()}" if total and currency else ""
    return f"Order {name} {fact}{money}"[:280]


# --- customer ----------------------------------------------------------------------------


def _customer(body: Json) -> CustomerRefIn | None:
    """Identifiers from the order's customer, contact fields and billing address."""
    customer = _dict(body.get("customer"))
    billing = _dict(body.get("billing_address"))
    shipping = _dict(body.get("shipping_address"))
    default = _dict(customer.get("default_address"))
    region = next(
        (
            _text(a.get("country_code"))
            for a in (billing, shipping, default)
            if a.get("country_code")
        ),
        None,
    )
    email = _email(customer.get("email"), body.get("email"), body.get("contact_email"))
    phone = _phone(region, customer.get("phone"), body.get("phone"), billing.get("phone"))
    customer_id = _text(customer.get("id"))
    external = f"{SOURCE}:customer:{customer_id}" if customer_id else None
    if not (email or phone or external):
        return None
    name = " ".join(
        p for p in (_text(customer.get("first_name")), _text(customer.get("last_name"))) if p
    ) or " ".join(
        p for p in (_text(billing.get("first_name")), _text(billing.get("last_name"))) if p
    )
    return CustomerRefIn(
        email=email, phone=phone, external_id=external, display_name=name[:300] or None
    )


# --- values --------------------------------------------------------------------------------


def _first_time(body: Json, *fields: str) -> datetime:
    for name in fields:
        value = _time(body.get(name), name)
        if value is not None:
            return value
    raise PayloadError(f"none of {', '.join(fields)} is given")


def _time(value: Any, field: str) -> datetime | None:
    if value in (None, ""):
        return None
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        raise PayloadError(f"{field}: '{value}' is not an ISO 8601 time") from None
    if parsed.tzinfo is None:
        raise PayloadError(f"{field}: '{value}' has no UTC offset")
    return parsed


def _money_currency(price_set: Any) -> str | None:
    if isinstance(price_set, dict) and isinstance(price_set.get("shop_money"), dict):
        return _currency(price_set["shop_money"].get("currency_code"))
    return None


def _price_in(line: Json, currency: str | None) -> Decimal | None:
    """The line's unit price in ``currency`` (shop or presentment money), else none."""
    price_set = line.get("price_set")
    if currency is None or not isinstance(price_set, dict):
        return None
    for key in ("presentment_money", "shop_money"):
        money = price_set.get(key)
        if isinstance(money, dict) and _currency(money.get("currency_code")) == currency:
            return _amount(money.get("amount"), f"line_item.price_set.{key}.amount")
    return None


def _distinct(values: Any) -> list[str]:
    seen: list[str] = []
    for value in values:
        text = _text(value)
        if text and text not in seen:
            seen.append(text)
    return seen


def _make(
    type_name: str,
    when: datetime,
    source_event_id: str,
    customer: CustomerRefIn,
    payload: Json,
    summary: str | None,
) -> IdentifiedEventIn:
    return checked_event(SOURCE, type_name, when, source_event_id, customer, payload, summary)
