"""Random customer histories for the fold's property tests: orders, refunds, tickets,
surveys, calls, payments, disputes, overdue invoices, messages the customer wrote (with
what the analyser of the shipped rules finds in them) and corrections of any of them, at
any hour of 110 days from START, in an order hypothesis chooses."""

from datetime import UTC, datetime, timedelta

from hypothesis import strategies as st

from app.indicators.state import Fact
from app.text.service import columns, default_analyser, finding
from app.timeline.catalog import event_type
from app.timeline.texts import customer_text

START = datetime(2026, 1, 1, tzinfo=UTC)
# What a correction gives, of the fields the indicators read.
CORRECTED = {"csat": 5, "total": "1.00", "satisfaction": "satisfied"}

# What customers write, by how the analyser reads it: urgent and angry, asking to cancel,
# complaining of a delivery, negative, pleased, and a plain question.
MESSAGES = [
    "URGENTE: el pedido no ha llegado, es inaceptable, estoy muy enfadada. Lo necesito hoy mismo.",
    "Quiero darme de baja, voy a cancelar el contrato.",
    "My parcel never arrived and the tracking has not moved for a week.",
    "Não estou satisfeita com o atendimento.",
    "Merci beaucoup, service excellent !",
    "What are your opening hours?",
    "sois unos ladrones",
]
# The event types that carry them, and the payload field each is written in.
MESSAGE_TYPES = {
    "email.received": "excerpt",
    "chat.conversation": "transcript",
    "social.mention": "text",
    "ticket.opened": "description",
}


@st.composite
def facts(draw: st.DrawFn, max_size: int = 25) -> list[Fact]:
    count = draw(st.integers(min_value=1, max_value=max_size))
    out: list[Fact] = []
    for n in range(count):
        at = START + timedelta(hours=draw(st.integers(min_value=0, max_value=24 * 110)))
        kind = draw(
            st.sampled_from(
                [
                    "order",
                    "refund",
                    "ticket",
                    "survey",
                    "call",
                    "payment",
                    "dispute",
                    "invoice",
                    "message",
                    "correction",
                ]
            )
        )
        order_id = f"o{draw(st.integers(0, 4))}"
        currency = draw(st.sampled_from(["EUR", "USD", "GBP"]))
        amount = str(draw(st.integers(1, 50000)) / 100)
        if kind == "order":
            type_ = draw(
                st.sampled_from(
                    [
                        "order.placed",
                        "order.paid",
                        "order.shipped",
                        "order.delivered",
                        "order.cancelled",
                    ]
                )
            )
            payload = {
                "order_id": order_id,
                "total": amount,
                "currency": currency,
                "carrier": "SEUR",
                "items": [{"sku": f"S{draw(st.integers(0, 3))}", "qty": 1}],
            }
        elif kind == "refund":
            type_, payload = (
                "order.refunded",
                {"order_id": order_id, "refund_amount": amount, "currency": currency},
            )
        elif kind == "ticket":
            type_ = draw(st.sampled_from(["ticket.opened", "ticket.updated", "ticket.resolved"]))
            payload = {
                "ticket_id": f"t{draw(st.integers(0, 3))}",
                "category": draw(st.sampled_from(["billing", "delivery", None])),
            }
        elif kind == "survey":
            type_, payload = (
                "survey.answered",
                {
                    "csat": draw(st.integers(1, 5)),
                    "nps": draw(st.one_of(st.none(), st.integers(0, 10))),
                },
            )
        elif kind == "call":
            type_ = draw(st.sampled_from(["call.completed", "call.missed", "call.abandoned"]))
            payload = {"satisfaction": draw(st.sampled_from(["satisfied", "unsatisfied", None]))}
        elif kind == "payment":
            type_ = draw(st.sampled_from(["payment.received", "payment.failed"]))
            payload = {
                "payment_id": f"p{draw(st.integers(0, 3))}",
                "amount": amount,
                "currency": currency,
                "invoice_id": draw(st.sampled_from([None, "i1"])),
            }
        elif kind == "dispute":
            type_, payload = (
                "payment.disputed",
                {
                    "payment_id": "p1",
                    "amount": amount,
                    "currency": currency,
                    "dispute_status": draw(st.sampled_from(["needs_response", "won", None])),
                },
            )
        elif kind == "invoice":
            type_, payload = (
                "invoice.overdue",
                {"invoice_id": "i1", "amount": amount, "currency": currency},
            )
        elif kind == "message":
            type_ = draw(st.sampled_from(sorted(MESSAGE_TYPES)))
            payload = {MESSAGE_TYPES[type_]: draw(st.sampled_from(MESSAGES))}
            if type_ == "social.mention":
                payload["network"] = "x"
            if type_ == "ticket.opened":
                payload["ticket_id"] = f"t{draw(st.integers(0, 3))}"
            text = customer_text(type_, payload)
            assert text is not None
            found = finding(columns(default_analyser().analyse(text)))
            out.append(Fact(f"e{n:03d}", type_, at, "store", payload, None, found))
            continue
        else:
            originals = [f for f in out if f.type != "event.corrected"]
            if not originals:
                continue
            target = draw(st.sampled_from(originals))
            type_, payload = (
                "event.corrected",
                {
                    "corrects_event_id": target.id,
                    "reason": "typo",
                    # The fields the indicators read corrected, those the target's type has
                    # (a correction gives no other: app/timeline/service.py).
                    "payload": {
                        name: value
                        for name, value in CORRECTED.items()
                        if name in event_type(target.type).payload.model_fields  # type: ignore[union-attr]
                    },
                },
            )
            out.append(
                Fact(
                    f"e{n:03d}",
                    type_,
                    at,
                    "system",
                    {k: v for k, v in payload.items() if v is not None},
                    target.id,
                )
            )
            continue
        out.append(
            Fact(
                f"e{n:03d}", type_, at, "store", {k: v for k, v in payload.items() if v is not None}
            )
        )
    return out
