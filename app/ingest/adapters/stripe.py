"""Stripe: payment, refund, dispute and invoice events from the Event envelope.

Signed with ``Stripe-Signature: t=<unix>,v1=<hex>[,v1=...]``: hex(HMAC-SHA256(endpoint
secret, "<t>.<raw body>")), the secret being the whole ``whsec_...`` string as UTF-8, and
``t`` within 300 s of now (as stripe-python's ``WebhookSignature``).

Amounts arrive in minor units; they become exact decimals with the currency's exponent as
Stripe uses it (https://docs.stripe.com/currencies): 0 for the zero-decimal currencies, 3
for the three-decimal ones, 2 otherwise (ISK, HUF and TWD included: Stripe keeps them
two-decimal in the API).
"""

import hmac
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from app.ingest.adapters.base import Adapter, Delivery, PayloadError, SignatureError
from app.ingest.adapters.reading import as_dict as _dict
from app.ingest.adapters.reading import checked_event, first_email, first_phone
from app.ingest.adapters.reading import currency as _currency
from app.ingest.adapters.reading import required as _required
from app.ingest.adapters.reading import text as _text
from app.ingest.adapters.signatures import hmac_digest
from app.timeline.schemas import CustomerRefIn, EventRef, IdentifiedEventIn

SOURCE = "stripe"
SIGNATURE_HEADER = "stripe-signature"
TOLERANCE_S = 300
MAX_T_DIGITS = 12

ZERO_DECIMAL = frozenset(
    {"BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "UGX", "VND", "VUV"}
    | {"XAF", "XOF", "XPF"}
)
THREE_DECIMAL = frozenset({"BHD", "JOD", "KWD", "OMR", "TND"})

Json = dict[str, Any]


class StripeAdapter(Adapter):
    source = SOURCE
    secret_headers = frozenset({SIGNATURE_HEADER})

    def verify(self, delivery: Delivery, secrets: Sequence[str], now: datetime) -> None:
        timestamp, given = _parse_signature(delivery.signature_header(SIGNATURE_HEADER))
        signed = f"{timestamp}.".encode() + delivery.body
        expected = [hmac_digest(secret, signed).hex().encode() for secret in secrets]
        matched = False
        for signature in given:  # every pair compared, in constant time each
            for candidate in expected:
                matched |= hmac.compare_digest(candidate, signature.encode())
        if not matched:
            raise SignatureError("no Stripe-Signature v1 matches")
        if abs(now.timestamp() - timestamp) > TOLERANCE_S:
            raise SignatureError(f"Stripe-Signature timestamp {timestamp} is outside 300 s of now")

    def delivery_id(self, delivery: Delivery) -> str:
        try:
            event = delivery.json()
        except PayloadError:
            return delivery.body_hash()
        event_id = event.get("id") if isinstance(event, dict) else None
        return event_id if isinstance(event_id, str) and event_id else delivery.body_hash()

    def normalize(self, delivery: Delivery) -> list[IdentifiedEventIn]:
        event = delivery.json()
        if not isinstance(event, dict):
            raise PayloadError("the body is not a Stripe event object")
        handler = _TYPES.get(str(event.get("type")))
        if handler is None:
            return []
        data = event.get("data")
        obj = data.get("object") if isinstance(data, dict) else None
        if not isinstance(obj, dict):
            raise PayloadError(f"{event.get('type')}: data.object is missing")
        created = _unix_time(event.get("created"))
        if created is None:
            raise PayloadError(f"{event.get('type')}: created is not a Unix time")
        # The event's time is when the fact happened (the object's own `created` is when
        # the session or intent began, not when it was paid or refunded).
        return handler(event, obj, created)


def _unix_time(value: Any) -> datetime | None:
    """An integer Unix time as an aware datetime; None for anything else, an integer past
    what a date holds included (year 3170843 raised ValueError: a 500)."""
    if not isinstance(value, int) or isinstance(value, bool):
        return None
    try:
        return datetime.fromtimestamp(value, UTC)
    except (ValueError, OverflowError, OSError):
        return None


def _parse_signature(header: str) -> tuple[int, list[str]]:
    timestamp: str | None = None
    signatures: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and timestamp is None:
            timestamp = value
        elif key == "v1" and value:
            signatures.append(value)
    if not header.strip():
        raise SignatureError("missing Stripe-Signature")
    if timestamp is None or not signatures:
        raise SignatureError("Stripe-Signature has no t= timestamp or no v1= signature")
    # ASCII digits only: str.isdigit() also takes "²", which int() refuses; and a Unix
    # time of more digits than 10 is centuries away (and past what a float holds at 309).
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= MAX_T_DIGITS):
        raise SignatureError("Stripe-Signature t= is not a Unix time in seconds")
    return int(timestamp), signatures


# --- event types -------------------------------------------------------------------------

Handler = Callable[[Json, Json, datetime], list[IdentifiedEventIn]]


def _checkout_paid(event: Json, session: Json, when: datetime) -> list[IdentifiedEventIn]:
    if session.get("payment_status") != "paid":
        return []  # unpaid (async methods: async_payment_succeeded follows) or nothing to pay
    intent = _id(session.get("payment_intent"))
    if intent is None:
        # Subscription mode: the invoice's payment_intent.succeeded (which always names the
        # customer) records the payment; recording it here too would store it twice.
        return []
    currency = _currency(session.get("currency"))
    details = _dict(session.get("customer_details"))
    customer = _customer(
        emails=(details.get("email"), session.get("customer_email")),
        phone=details.get("phone"),
        region=_dict(details.get("address")).get("country"),
        customer=session.get("customer"),
        name=details.get("name"),
    )
    payload = {
        "payment_id": intent,
        "amount": _minor(session.get("amount_total"), currency, "amount_total"),
        "currency": currency,
        "invoice_id": _id(session.get("invoice")),
        "method": _method(session.get("payment_method_types")),
    }
    # Same id as payment_intent.succeeded: one payment, stored once.
    return [_make("payment.received", when, f"payment:{intent}:received", customer, payload)]


def _intent_succeeded(event: Json, intent: Json, when: datetime) -> list[IdentifiedEventIn]:
    customer = _intent_customer(intent)
    if customer is None:
        return []  # a guest Checkout payment: checkout.session.completed records it
    currency = _currency(intent.get("currency"))
    received = intent.get("amount_received") or intent.get("amount")
    intent_id = _required(_id(intent.get("id")), "data.object.id")
    payload = {
        "payment_id": intent_id,
        "amount": _minor(received, currency, "amount_received"),
        "currency": currency,
        "invoice_id": _id(intent.get("invoice")),
        "method": _method(intent.get("payment_method_types")),
    }
    return [_make("payment.received", when, f"payment:{intent_id}:received", customer, payload)]


def _intent_failed(event: Json, intent: Json, when: datetime) -> list[IdentifiedEventIn]:
    error = _dict(intent.get("last_payment_error"))
    method = _dict(error.get("payment_method"))
    customer = _intent_customer(intent, _dict(method.get("billing_details")))
    if customer is None:
        return []  # nobody to attribute it to (a guest who never completed Checkout)
    currency = _currency(intent.get("currency"))
    intent_id = _required(_id(intent.get("id")), "data.object.id")
    payload = {
        "payment_id": intent_id,
        "amount": _minor(intent.get("amount"), currency, "amount"),
        "currency": currency,
        "invoice_id": _id(intent.get("invoice")),
        "method": _text(method.get("type")) or _method(intent.get("payment_method_types")),
        "reason": _text(error.get("message"))
        or _text(error.get("decline_code"))
        or _text(error.get("code")),
    }
    # Every failed attempt is its own fact; the event id names the attempt.
    key = f"payment:{intent_id}:failed:{_required(_id(event.get('id')), 'id')}"
    return [_make("payment.failed", when, key, customer, payload)]


def _charge_refunded(event: Json, charge: Json, when: datetime) -> list[IdentifiedEventIn]:
    currency = _currency(charge.get("currency"))
    charge_id = _required(_id(charge.get("id")), "data.object.id")
    order_id = _id(charge.get("payment_intent")) or charge_id
    refunded_total = charge.get("amount_refunded")
    _minor(refunded_total, currency, "amount_refunded")  # validated: it names the fact
    # amount_refunded is cumulative; previous_attributes gives what this refund added.
    previous = _dict(_dict(event.get("data")).get("previous_attributes")).get("amount_refunded")
    this_refund = refunded_total
    if isinstance(previous, int) and isinstance(refunded_total, int):
        this_refund = refunded_total - previous
    billing = _dict(charge.get("billing_details"))
    customer = _customer(
        emails=(billing.get("email"), charge.get("receipt_email")),
        phone=billing.get("phone"),
        region=_dict(billing.get("address")).get("country"),
        customer=charge.get("customer"),
        name=billing.get("name"),
    )
    if customer is None:
        raise PayloadError(f"charge {charge_id} names no customer (no email, phone or id)")
    payload = {
        "order_id": order_id,
        "total": _minor(charge.get("amount"), currency, "amount"),
        "refund_amount": _minor(this_refund, currency, "amount_refunded"),
        "currency": currency,
        "status": "refunded" if charge.get("refunded") is True else "partially_refunded",
    }
    key = f"order:{order_id}:refunded:{refunded_total}"  # each refund raises the total
    return [_make("order.refunded", when, key, customer, payload)]


def _dispute_created(event: Json, dispute: Json, when: datetime) -> list[IdentifiedEventIn]:
    currency = _currency(dispute.get("currency"))
    dispute_id = _required(_id(dispute.get("id")), "data.object.id")
    charge = dispute.get("charge")
    expanded = _dict(charge)
    billing = _dict(expanded.get("billing_details"))
    evidence = _dict(dispute.get("evidence"))
    customer = _customer(
        emails=(
            evidence.get("customer_email_address"),
            billing.get("email"),
            expanded.get("receipt_email"),
        ),
        phone=billing.get("phone"),
        region=_dict(billing.get("address")).get("country"),
        customer=expanded.get("customer"),
        name=evidence.get("customer_name") or billing.get("name"),
    )
    intent = _id(dispute.get("payment_intent"))
    if customer is None and intent:
        # A dispute names its charge, not the customer: it belongs to whoever paid.
        customer = CustomerRefIn(
            event=EventRef(source="stripe", source_event_id=f"payment:{intent}:received")
        )
    if customer is None:
        raise PayloadError(f"dispute {dispute_id} names no customer and no payment intent")
    payload = {
        "payment_id": _id(dispute.get("payment_intent")) or _id(charge),
        "amount": _minor(dispute.get("amount"), currency, "amount"),
        "currency": currency,
        "reason": _text(dispute.get("reason")),
        "dispute_status": _text(dispute.get("status")),
    }
    return [_make("payment.disputed", when, f"dispute:{dispute_id}:created", customer, payload)]


def _invoice_overdue(event: Json, invoice: Json, when: datetime) -> list[IdentifiedEventIn]:
    currency = _currency(invoice.get("currency"))
    invoice_id = _required(_id(invoice.get("id")), "data.object.id")
    customer = _customer(
        emails=(invoice.get("customer_email"),),
        phone=invoice.get("customer_phone"),
        region=_dict(invoice.get("customer_address")).get("country"),
        customer=invoice.get("customer"),
        name=invoice.get("customer_name"),
    )
    if customer is None:
        raise PayloadError(f"invoice {invoice_id} names no customer (no email, phone or id)")
    due = invoice.get("due_date")
    due_at = _unix_time(due)
    if due is not None and due_at is None:
        raise PayloadError(f"invoice {invoice_id}: due_date {due!r} is not a Unix time")
    due_date = None if due_at is None else due_at.date()
    payload = {
        "invoice_id": invoice_id,
        "amount": _minor(invoice.get("amount_due"), currency, "amount_due"),
        "currency": currency,
        "due_date": due_date,
        "days_overdue": _days_after(when.date(), due_date),
    }
    # Retried collections fail again and again: the invoice being overdue is one fact.
    return [_make("invoice.overdue", when, f"invoice:{invoice_id}:overdue", customer, payload)]


_TYPES: dict[str, Handler] = {
    "checkout.session.completed": _checkout_paid,
    "checkout.session.async_payment_succeeded": _checkout_paid,
    "payment_intent.succeeded": _intent_succeeded,
    "payment_intent.payment_failed": _intent_failed,
    "charge.refunded": _charge_refunded,
    "charge.dispute.created": _dispute_created,
    "invoice.payment_failed": _invoice_overdue,
    "invoice.overdue": _invoice_overdue,
}


# --- customer ----------------------------------------------------------------------------


def _intent_customer(intent: Json, billing: Json | None = None) -> CustomerRefIn | None:
    billing = billing or {}
    shipping = _dict(intent.get("shipping"))
    return _customer(
        emails=(intent.get("receipt_email"), billing.get("email")),
        phone=billing.get("phone") or shipping.get("phone"),
        region=_dict(billing.get("address")).get("country")
        or _dict(shipping.get("address")).get("country"),
        customer=intent.get("customer"),
        name=billing.get("name") or shipping.get("name"),
    )


def _customer(
    *, emails: Sequence[Any], phone: Any, region: Any, customer: Any, name: Any
) -> CustomerRefIn | None:
    """Email, phone and ``stripe:customer:<id>``; None when there is none of them."""
    expanded = _dict(customer)
    email = first_email(*emails, expanded.get("email"))
    number = first_phone(_text(region), phone or expanded.get("phone"))
    customer_id = _id(customer)
    external = f"{SOURCE}:customer:{customer_id}" if customer_id else None
    if not (email or number or external):
        return None
    display = _text(name) or _text(expanded.get("name"))
    return CustomerRefIn(
        email=email,
        phone=number,
        external_id=external,
        display_name=display[:300] if display else None,
    )


# --- values --------------------------------------------------------------------------------


def exponent(currency: str) -> int:
    """Decimal places of ``currency`` in Stripe amounts (upper-case ISO 4217 code)."""
    if currency in ZERO_DECIMAL:
        return 0
    if currency in THREE_DECIMAL:
        return 3
    return 2


def _minor(value: Any, currency: str | None, field: str) -> Decimal:
    """An integer in minor units as an exact decimal: 4700 GBP -> 47.00, 4700 JPY -> 4700."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise PayloadError(f"{field}: {value!r} is not an integer amount")
    if currency is None:
        raise PayloadError(f"{field}: the amount has no currency")
    return Decimal(value).scaleb(-exponent(currency))


def _days_after(day: date, due: date | None) -> int | None:
    return max((day - due).days, 0) if due else None


def _method(types: Any) -> str | None:
    """The payment method type when only one was possible (else Stripe does not say)."""
    return _text(types[0]) if isinstance(types, list) and len(types) == 1 else None


def _id(value: Any) -> str | None:
    """An object reference: the id string, or the id of an expanded object."""
    if isinstance(value, dict):
        value = value.get("id")
    return value.strip() if isinstance(value, str) and value.strip() else None


def _make(
    type_name: str,
    when: datetime,
    source_event_id: str,
    customer: CustomerRefIn | None,
    payload: Json,
) -> IdentifiedEventIn:
    if customer is None:
        raise PayloadError(f"{type_name}: the event names no customer (no email, phone or id)")
    return checked_event(SOURCE, type_name, when, source_event_id, customer, payload)
