"""The indicator fold gives the same state whatever order the events arrive in."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from app.indicators.state import (
    Fact,
    ValuePolicy,
    derive,
    empty_state,
    fold,
    fold_all,
    next_change,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
NOW = T0 + timedelta(days=120)
POLICY = ValuePolicy(base_currency="EUR", rates={"USD": Decimal("0.9")})


@st.composite
def facts(draw: st.DrawFn, max_size: int = 25) -> list[Fact]:
    count = draw(st.integers(min_value=1, max_value=max_size))
    out: list[Fact] = []
    for n in range(count):
        at = T0 + timedelta(hours=draw(st.integers(min_value=0, max_value=24 * 110)))
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
                    "payload": {"csat": 5, "total": "1.00", "satisfaction": "satisfied"},
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


@settings(max_examples=300, deadline=None)
@given(history=facts(), order=st.randoms(use_true_random=False))
def test_any_arrival_order_equals_the_rebuild(history: list[Fact], order) -> None:
    arrived = list(history)
    order.shuffle(arrived)
    incremental = empty_state()
    for fact in arrived:
        fold(incremental, fact)
    rebuilt = fold_all(history)
    assert incremental == rebuilt
    assert derive(incremental, NOW, POLICY) == derive(rebuilt, NOW, POLICY)


def _by_time_alone(state: dict[str, object], at: datetime) -> dict[str, object]:
    """What time can change in the indicators, the churn reason's running day count aside."""
    indicators = derive(state, at, POLICY)
    indicators["risk"] = {"churn": indicators["risk"]["churn"]}
    return indicators


@settings(max_examples=300, deadline=None)
@given(
    history=facts(),
    offset=st.integers(min_value=0, max_value=300 * 86_400_000_000),
    fractions=st.lists(st.floats(min_value=0, max_value=1), min_size=1, max_size=8),
)
def test_evaluating_at_each_next_change_keeps_the_indicators_true(
    history: list[Fact], offset: int, fractions: list[float]
) -> None:
    """What the maintenance pass does: evaluate at ``now``, then again at the next change
    it was told, and so on. At every moment the indicators derived then equal those of the
    last evaluation: time changes nothing before a next change, and no change is missed."""
    state = fold_all(history)
    now = T0 + timedelta(microseconds=offset)
    horizon = now + timedelta(days=400)
    evaluations = [now]
    while (change := next_change(state, evaluations[-1], POLICY)) and change < horizon:
        assert change > evaluations[-1]
        evaluations.append(change)
    span = horizon - now
    moments = [now + span * f for f in fractions if now + span * f < horizon]
    moments += [e - timedelta(microseconds=1) for e in evaluations[1:]]
    for moment in moments:
        last = max(e for e in evaluations if e <= moment)
        assert _by_time_alone(state, moment) == _by_time_alone(state, last), (moment, last)


def test_the_next_change_is_the_first_window_end_or_midnight() -> None:
    call = Fact("c1", "call.abandoned", T0 + timedelta(hours=22), "phone", {})
    state = fold_all([call])
    assert next_change(state, T0 + timedelta(hours=22), POLICY) == T0 + timedelta(days=1)
    after_midnight = T0 + timedelta(days=1)
    four_hours_on = T0 + timedelta(hours=26, microseconds=1)
    assert next_change(state, after_midnight, POLICY) == four_hours_on
    assert next_change(state, four_hours_on, POLICY) is None


def test_value_is_per_currency_and_never_mixed() -> None:
    history = [
        Fact(
            "a",
            "order.placed",
            T0,
            "store",
            {"order_id": "1", "total": "100.00", "currency": "EUR"},
        ),
        Fact(
            "b",
            "order.placed",
            T0 + timedelta(days=10),
            "store",
            {"order_id": "2", "total": "50.00", "currency": "USD"},
        ),
        Fact(
            "c",
            "order.placed",
            T0 + timedelta(days=20),
            "store",
            {"order_id": "3", "total": "10.00", "currency": "GBP"},
        ),
        Fact(
            "d",
            "order.refunded",
            T0 + timedelta(days=21),
            "store",
            {"order_id": "3", "refund_amount": "4.00", "currency": "GBP"},
        ),
    ]
    value = derive(fold_all(history), T0 + timedelta(days=30), POLICY)["value"]
    assert value["lifetime_value"] == [
        {"amount": "100.00", "currency": "EUR"},
        {"amount": "6.00", "currency": "GBP"},
        {"amount": "50.00", "currency": "USD"},
    ]
    assert value["lifetime_value_base"] == {"amount": "145.00", "currency": "EUR"}
    assert value["unconverted_currencies"] == ["GBP"]
    assert value["order_count"] == 3 and value["median_days_between_purchases"] == 10.0
    assert value["open_orders"] == ["1", "2"]
