"""The indicator fold gives the same state whatever order the events arrive in."""

from datetime import datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from app.indicators.state import (
    Fact,
    ValuePolicy,
    derive,
    derive_and_next_change,
    empty_state,
    fold,
    fold_all,
)
from tests.support.facts import START, facts

T0 = START  # every generated history starts then
NOW = T0 + timedelta(days=120)
POLICY = ValuePolicy(base_currency="EUR", rates={"USD": Decimal("0.9")})


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
    while True:
        derived, change = derive_and_next_change(state, evaluations[-1], POLICY)
        assert derived == derive(state, evaluations[-1], POLICY)
        if change is None or change >= horizon:
            break
        assert change > evaluations[-1]
        evaluations.append(change)
    span = horizon - now
    moments = [now + span * f for f in fractions if now + span * f < horizon]
    moments += [e - timedelta(microseconds=1) for e in evaluations[1:]]
    for moment in moments:
        last = max(e for e in evaluations if e <= moment)
        assert _by_time_alone(state, moment) == _by_time_alone(state, last), (moment, last)


def next_change(state: dict[str, object], now: datetime) -> datetime | None:
    return derive_and_next_change(state, now, POLICY)[1]


def test_the_next_change_is_the_first_window_end_or_midnight() -> None:
    call = Fact("c1", "call.abandoned", T0 + timedelta(hours=22), "phone", {})
    state = fold_all([call])
    assert next_change(state, T0 + timedelta(hours=22)) == T0 + timedelta(days=1)
    after_midnight = T0 + timedelta(days=1)
    four_hours_on = T0 + timedelta(hours=26, microseconds=1)
    assert next_change(state, after_midnight) == four_hours_on
    assert next_change(state, four_hours_on) is None


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


def _order(event_id: str, at: datetime) -> Fact:
    payload = {"order_id": event_id, "total": "1.00", "currency": "EUR"}
    return Fact(event_id, "order.placed", at, "store", payload)


def test_purchases_at_the_ends_of_the_calendar_derive_without_overflow() -> None:
    """An order of year 1 beside one of now makes the churn's silence longer than the
    calendar before now (its window began before year 1), and an order of year 9999 ends
    its windows after the calendar, as a call missed on 9999-12-31 does its day: each is
    counted, and such an end is never reached (an OverflowError before: a 500 on the
    event that recorded it)."""
    now = T0 + timedelta(days=1)
    first = datetime(1, 1, 1, tzinfo=T0.tzinfo)
    last = datetime(9999, 12, 1, tzinfo=T0.tzinfo)
    missed = Fact("c", "call.missed", datetime(9999, 12, 31, 12, tzinfo=T0.tzinfo), "phone", {})
    histories = [
        [_order("a", first), _order("b", T0)],
        [_order("a", T0), _order("b", last)],
        [_order("a", T0), _order("b", T0), missed],
    ]
    for history in histories:
        state = fold_all(history)
        derived, change = derive_and_next_change(state, now, POLICY)
        assert derived == derive(state, now, POLICY)
        assert derived["value"]["order_count"] == 2
        assert change is None or change > now
