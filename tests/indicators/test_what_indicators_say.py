"""What the indicators and rules say about small histories an agent could tell by hand
(pure, no database). The property tests prove the fold ignores arrival order; these prove
what it computes."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from app.indicators.rules import Condition, affected_orders, evaluate
from app.indicators.state import (
    Fact,
    ValuePolicy,
    derive,
    derive_and_next_change,
    fold_all,
    sales_series,
)

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
POLICY = ValuePolicy(base_currency="EUR", rates={"USD": Decimal("0.5")})
_ids = iter(range(10**6))


def _why(found: Any) -> dict[str, Any]:
    """The churn risk and its reason in English (its cause, the same in other words)."""
    return {"churn": found["risk"]["churn"], "churn_reason": found["risk"]["churn_reason"]}


def fact(type_: str, days_ago: float, channel: str = "store", **payload: Any) -> Fact:
    return Fact(f"e{next(_ids):06d}", type_, NOW - timedelta(days=days_ago), channel, payload)


def indicators(*history: Fact, now: datetime = NOW, policy: ValuePolicy = POLICY) -> Any:
    return derive(fold_all(history), now, policy)


def orders(*spec: tuple[float, str, str]) -> list[Fact]:
    """order.placed then order.delivered for each (days ago, total, currency)."""
    out = []
    for n, (days_ago, total, currency) in enumerate(spec):
        placed = {"order_id": f"SO-{n}", "total": total, "currency": currency}
        out.append(fact("order.placed", days_ago, **placed, items=[{"sku": f"SKU-{n}"}]))
        out.append(fact("order.delivered", days_ago - 2, order_id=f"SO-{n}"))
    return out


# --- value ----------------------------------------------------------------------------


def test_a_regular_buyer_s_value() -> None:
    value = indicators(
        *orders((100, "100.00", "EUR"), (70, "200.00", "EUR"), (40, "300.00", "EUR"))
    )["value"]
    assert value == {
        "lifetime_value": [{"amount": "600.00", "currency": "EUR"}],
        "lifetime_value_base": {"amount": "600.00", "currency": "EUR"},
        "unconverted_currencies": [],
        "order_count": 3,
        "average_order_value": {"amount": "200.00", "currency": "EUR"},
        "first_purchase_at": (NOW - timedelta(days=100)).isoformat(),
        "last_purchase_at": (NOW - timedelta(days=40)).isoformat(),
        "median_days_between_purchases": 30.0,
        "open_orders": [],
        "refunds": 0,
        "disputes": 0,
        "open_disputes": [],
        "overdue_invoices": [],
        "segment": "occasional",
    }


def test_cancelled_orders_count_for_nothing_and_refunds_subtract() -> None:
    history = [
        fact("order.placed", 10, order_id="A", total="80.00", currency="EUR"),
        fact("order.placed", 9, order_id="B", total="20.00", currency="EUR"),
        fact("order.cancelled", 8, order_id="B"),
        fact("order.placed", 7, order_id="C", total="30.00", currency="USD"),
        fact("order.refunded", 5, order_id="A", refund_amount="15.00", currency="EUR"),
        fact("order.refunded", 4, order_id="A", refund_amount="5.00", currency="EUR"),
        fact("payment.received", 3, payment_id="P1", amount="12.50", currency="EUR"),
        fact("payment.received", 3, payment_id="P2", amount="99.00", currency="EUR", order_id="A"),
    ]
    value = indicators(*history)["value"]
    # 80 - 15 - 5 + 12.50 standing alone (P2 pays order A, already counted); USD at 0.5.
    assert value["lifetime_value"] == [
        {"amount": "72.50", "currency": "EUR"},
        {"amount": "30.00", "currency": "USD"},
    ]
    assert value["lifetime_value_base"] == {"amount": "87.50", "currency": "EUR"}
    assert value["order_count"] == 2 and value["refunds"] == 2
    assert value["average_order_value"] == {"amount": "47.50", "currency": "EUR"}
    assert value["open_orders"] == ["C"], "a refunded order is not open"
    assert value["median_days_between_purchases"] == 3.0


def test_a_corrected_total_replaces_the_original() -> None:
    placed = fact("order.placed", 10, order_id="A", total="80.00", currency="EUR")
    fixed = Fact(
        "z-fix",
        "event.corrected",
        NOW - timedelta(days=1),
        "system",
        {"corrects_event_id": placed.id, "payload": {"total": "60.00"}},
        placed.id,
    )
    later = Fact(
        "z-fix2",
        "event.corrected",
        NOW - timedelta(hours=1),
        "system",
        {"corrects_event_id": placed.id, "payload": {"total": "65.00"}},
        placed.id,
    )
    value = indicators(placed, later, fixed)["value"]
    assert value["lifetime_value"] == [{"amount": "65.00", "currency": "EUR"}], (
        "the latest correction wins"
    )
    series = sales_series(fold_all([placed, fixed, later]), "month")
    assert series == [
        {
            "period": (NOW - timedelta(days=10)).strftime("%Y-%m"),
            "orders": 1,
            "total": {"amount": "65.00", "currency": "EUR"},
        },
    ]


@pytest.mark.parametrize(
    ("spec", "now_days", "segment"),
    [
        ([], 0, "none"),
        ([(10, "40.00", "EUR")], 0, "new"),
        ([(40, "40.00", "EUR")], 0, "occasional"),
        ([(10, "1000.00", "EUR")], 0, "champion"),
        ([(50, "10.00", "EUR")] * 5, 0, "loyal"),
        ([(10, "600.00", "EUR")], 171, "at_risk"),
        ([(10, "400.00", "EUR")], 171, "lapsed"),
        ([(10, "400.00", "EUR")], 170, "occasional"),
    ],
)
def test_value_segments(spec: list[tuple[float, str, str]], now_days: int, segment: str) -> None:
    """new: one order within 30 days; champion from 1000; loyal from 5 orders; past 180
    days without a purchase, at_risk from half a champion's value, else lapsed."""
    later = NOW + timedelta(days=now_days)
    assert indicators(*orders(*spec), now=later)["value"]["segment"] == segment


def test_disputes_invoices_and_what_is_open() -> None:
    history = [
        fact("payment.disputed", 20, payment_id="P1", amount="5.00", currency="EUR"),
        fact(
            "payment.disputed",
            19,
            payment_id="P2",
            amount="5.00",
            currency="EUR",
            dispute_status="won",
        ),
        fact("invoice.overdue", 10, invoice_id="I1", amount="50.00", currency="EUR"),
        fact(
            "payment.received", 5, payment_id="P3", amount="50.00", currency="EUR", invoice_id="I1"
        ),
        fact("invoice.overdue", 3, invoice_id="I2", amount="20.00", currency="EUR"),
        fact(
            "payment.received", 4, payment_id="P4", amount="20.00", currency="EUR", invoice_id="I2"
        ),
        fact("order.placed", 2, order_id="SO-9", total="10.00", currency="EUR"),
        fact("order.shipped", 1, order_id="SO-9", carrier="SEUR"),
    ]
    value = indicators(*history)["value"]
    assert value["disputes"] == 2 and value["open_disputes"] == ["P1"]
    assert value["overdue_invoices"] == ["I2"], "paid before it fell overdue again"
    assert value["open_orders"] == ["SO-9"]
    assert value["lifetime_value"] == [{"amount": "10.00", "currency": "EUR"}], (
        "invoice payments are not sales"
    )


# --- churn risk -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("silent_days", "churn", "reason"),
    [
        (40, "low", None),
        (50, "medium", "no purchase for 50 days; usually every 30"),
        (61, "high", "no purchase for 61 days; usually every 30"),
    ],
)
def test_a_regular_buyer_gone_quiet(silent_days: int, churn: str, reason: str | None) -> None:
    """Medium past 1.5 times the usual gap between purchases, high past twice."""
    history = orders(
        (silent_days + 60, "10.00", "EUR"),
        (silent_days + 30, "10.00", "EUR"),
        (silent_days, "10.00", "EUR"),
    )
    assert _why(indicators(*history)) == {"churn": churn, "churn_reason": reason}


def test_two_orders_are_not_a_habit() -> None:
    history = orders((200, "10.00", "EUR"), (190, "10.00", "EUR"))
    assert _why(indicators(*history)) == {"churn": "low", "churn_reason": None}


# --- service ----------------------------------------------------------------------------


def test_tickets_open_recent_recurring_and_how_long_they_take() -> None:
    history = [
        fact("ticket.opened", 10, "email", ticket_id="T1", category="billing"),
        fact("ticket.resolved", 9, "email", ticket_id="T1"),
        fact("ticket.opened", 5, "email", ticket_id="T2", category="billing"),
        fact("ticket.updated", 4, "email", ticket_id="T2", status="pending"),
        fact("ticket.opened", 100, "email", ticket_id="T3", category="delivery"),
        fact("ticket.resolved", 98.5, "email", ticket_id="T3"),
        fact("ticket.opened", 70, "email", ticket_id="T4", category="delivery"),
        fact("ticket.updated", 69, "email", ticket_id="T4", status="closed"),
    ]
    service = indicators(*history)["service"]
    assert service == {
        "open_tickets": ["T2"],
        "tickets_90d": 3,
        "recurring_problems": ["billing"],
        "ticket_categories_60d": {"billing": 2},
        "average_resolution_hours": 30.0,  # 24 h and 36 h
    }


def test_a_ticket_s_latest_category_counts() -> None:
    history = [
        fact("ticket.opened", 10, "email", ticket_id="T1", category="billing"),
        fact("ticket.updated", 9, "email", ticket_id="T1", category="delivery"),
        fact("ticket.opened", 8, "email", ticket_id="T2", category="delivery"),
    ]
    assert indicators(*history)["service"]["recurring_problems"] == ["delivery"]


# --- satisfaction and contact -----------------------------------------------------------


def test_satisfaction_in_90_days() -> None:
    """Unsatisfied: CSAT 2 or less, NPS 6 or less, or a contact rated unsatisfied."""
    history = [
        fact("survey.answered", 100, "web", csat=1),
        fact("survey.answered", 10, "web", csat=2),
        fact("survey.answered", 9, "web", csat=3),
        fact("survey.answered", 5, "web", nps=6),
        fact("survey.answered", 1, "web", nps=9),
        fact("survey.answered", 0.5, "web", nps=7),
        fact("call.completed", 3, "phone", satisfaction="unsatisfied"),
        fact("chat.conversation", 2, "chat", satisfaction="satisfied"),
        fact("call.completed", 95, "phone", satisfaction="unsatisfied"),
    ]
    found = indicators(*history)
    assert found["satisfaction"] == {
        "last_csat": 3,
        "last_nps": 7,
        "csat_90d_average": 2.5,
        "nps_90d_average": 7.33,
        "unsatisfied_90d": 3,
    }
    assert found["risk"] == {
        "churn": "high",
        "churn_reason": "3 unsatisfied contacts in 90 days",
        "churn_cause": {"code": "unsatisfied", "count": 3},
    }


def test_two_unsatisfied_contacts_are_a_medium_risk() -> None:
    history = [fact("survey.answered", 3, "web", csat=1), fact("survey.answered", 2, "web", nps=0)]
    found = indicators(*history)
    assert _why(found) == {"churn": "medium", "churn_reason": "2 unsatisfied contacts in 90 days"}


def test_missed_calls_today_and_in_4_hours_and_the_last_interaction() -> None:
    history = [
        Fact("m1", "call.missed", NOW - timedelta(hours=4), "phone", {}),  # 08:00: both
        Fact("m2", "call.abandoned", NOW - timedelta(hours=4, minutes=1), "phone", {}),
        Fact("m3", "call.missed", NOW - timedelta(hours=13), "phone", {}),  # yesterday
        Fact("m4", "call.completed", NOW - timedelta(hours=1), "phone", {}),
        Fact("m5", "email.received", NOW - timedelta(hours=2), "email", {}),
        Fact("m6", "web.page_viewed", NOW - timedelta(minutes=5), "web", {"url": "x"}),
    ]
    contact = indicators(*history)["contact"]
    assert contact == {
        "last_interaction": {
            "at": (NOW - timedelta(hours=1)).isoformat(),
            "channel": "phone",
            "type": "call.completed",
        },
        "missed_calls_today": 2,
        "missed_calls_4h": 1,
    }


# --- rules ------------------------------------------------------------------------------


def said(
    *,
    unsatisfied: int = 0,
    missed_4h: int = 0,
    categories: dict[str, int] | None = None,
    disputes: list[str] | None = None,
    urgent: list[dict[str, Any]] | None = None,
    angry: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    return {
        "text": {"urgent_24h": urgent or [], "angry_24h": angry or []},
        "satisfaction": {"unsatisfied_90d": unsatisfied},
        "contact": {"missed_calls_4h": missed_4h},
        "service": {"ticket_categories_60d": categories or {}},
        "value": {"open_disputes": disputes or []},
    }


def test_the_built_in_rules_at_their_thresholds() -> None:
    assert (
        evaluate(said(unsatisfied=2, missed_4h=3, categories={"billing": 1}), "vip", [], {}) == []
    )
    held = evaluate(
        said(
            unsatisfied=3,
            missed_4h=4,
            categories={"billing": 2, "delivery": 1, "app": 3},
            disputes=["dp_1", "dp_2"],
        ),
        "premium",
        [("inc-1", "SEUR strike", ["o-1"]), ("inc-2", "Outage", ["o-2", "o-3"])],
        {},
    )
    assert held == [
        Condition(
            "unsatisfied_streak",
            "at_risk",
            "danger",
            "At risk",
            "Loyalty action: 3 unsatisfied contacts in 90 days",
            {"unsatisfied_90d": 3},
        ),
        Condition(
            "premium_abandoned_calls",
            "abandoned_calls",
            "danger",
            "Calls abandoned",
            "Urgent: premium customer abandoned 4 calls in 4 hours",
            {"missed_calls_4h": 4},
        ),
        Condition(
            "recurring_problem",
            "recurring_problem",
            "warning",
            "Recurring problem",
            "Recurring problem: app, billing",
            {"categories": ["app", "billing"]},
        ),
        Condition(
            "open_dispute",
            "open_dispute",
            "danger",
            "Open dispute",
            "Open payment dispute (dp_1, dp_2)",
            {"disputes": ["dp_1", "dp_2"]},
        ),
        Condition(
            "incident_affected:inc-1",
            "incident:inc-1",
            "warning",
            "Affected by incident",
            "Affected by incident: SEUR strike",
            {"incident_id": "inc-1", "orders": ["o-1"]},
        ),
        Condition(
            "incident_affected:inc-2",
            "incident:inc-2",
            "warning",
            "Affected by incident",
            "Affected by incident: Outage",
            {"incident_id": "inc-2", "orders": ["o-2", "o-3"]},
        ),
    ]


# --- incidents: which orders a matcher finds ---------------------------------------

SEUR_DELAY = {
    "kind": "shipment_delay",
    "carrier": "SEUR",
    "shipped_from": (NOW - timedelta(days=3)).isoformat(),
    "shipped_to": NOW.isoformat(),
}


def test_a_matcher_finds_orders_shipped_by_its_carrier_in_its_window() -> None:
    state = fold_all(
        [
            fact("order.shipped", 2, order_id="in", carrier="seur"),  # any case
            fact("order.shipped", 1, order_id="other-carrier", carrier="MRW"),
            fact("order.shipped", 4, order_id="before", carrier="SEUR"),
            fact("order.shipped", -1, order_id="after", carrier="SEUR"),
            fact("order.placed", 2, order_id="not-shipped"),
        ]
    )
    assert affected_orders(state, SEUR_DELAY) == ["in"]
    assert affected_orders(state, {**SEUR_DELAY, "carrier": None}) == ["in", "other-carrier"]


@pytest.mark.parametrize("settled", ["order.delivered", "order.cancelled", "order.refunded"])
def test_an_order_delivered_cancelled_or_refunded_leaves_the_incident(settled: str) -> None:
    shipped = fact("order.shipped", 2, order_id="o-1", carrier="SEUR")
    also = fact("order.shipped", 2, order_id="o-2", carrier="SEUR")
    after = fact(settled, 1, order_id="o-1")
    assert affected_orders(fold_all([shipped, also]), SEUR_DELAY) == ["o-1", "o-2"]
    assert affected_orders(fold_all([shipped, also, after]), SEUR_DELAY) == ["o-2"]
    # Arriving first (late webhooks) changes nothing: the state is the same.
    assert affected_orders(fold_all([after, also, shipped]), SEUR_DELAY) == ["o-2"]


def test_abandoned_calls_alert_only_for_the_tiers_named() -> None:
    assert evaluate(said(missed_4h=9), "standard", [], {}) == []
    [held] = evaluate(said(missed_4h=9), "vip", [], {})
    assert held.rule == "premium_abandoned_calls"
    tiers = {"premium_abandoned_calls": {"tiers": ["standard"], "threshold": 2}}
    [held] = evaluate(said(missed_4h=2), "standard", [], tiers)
    assert held.title == "Urgent: standard customer abandoned 2 calls in 4 hours"


def test_an_admin_s_thresholds_and_switches_win() -> None:
    rules = {
        "unsatisfied_streak": {"threshold": 5},
        "recurring_problem": {"threshold": 3},
        "open_dispute": {"enabled": False},
        "incident_affected": {"enabled": False},
    }
    everything = said(unsatisfied=4, categories={"billing": 2}, disputes=["dp_1"])
    assert evaluate(everything, "standard", [("inc-1", "x", ["o-1"])], rules) == []
    [held] = evaluate(said(unsatisfied=5), "standard", [], rules)
    assert held.detail == {"unsatisfied_90d": 5}
    off = {
        name: {"enabled": False}
        for name in ("unsatisfied_streak", "premium_abandoned_calls", "recurring_problem")
    }
    assert evaluate(said(unsatisfied=9, missed_4h=9, categories={"a": 9}), "vip", [], off) == []


def test_the_sales_series_by_month_quarter_and_year() -> None:
    """Orders by when they were placed, refunds subtracted when they were made."""
    history = [
        Fact("s1", "order.placed", datetime(2025, 12, 30, tzinfo=UTC), "store",
             {"order_id": "A", "total": "100.00", "currency": "EUR"}),
        Fact("s2", "order.placed", datetime(2026, 2, 10, tzinfo=UTC), "store",
             {"order_id": "B", "total": "50.00", "currency": "EUR"}),
        Fact("s3", "order.placed", datetime(2026, 4, 1, tzinfo=UTC), "store",
             {"order_id": "C", "total": "20.00", "currency": "USD"}),
        Fact("s4", "order.refunded", datetime(2026, 4, 2, tzinfo=UTC), "store",
             {"order_id": "A", "refund_amount": "30.00", "currency": "EUR"}),
    ]  # fmt: skip
    state = fold_all(history)

    def series(interval: str) -> list[tuple[str, str, int, str]]:
        return [
            (s["period"], s["total"]["currency"], s["orders"], s["total"]["amount"])
            for s in sales_series(state, interval)
        ]

    assert series("month") == [
        ("2025-12", "EUR", 1, "100.00"),
        ("2026-02", "EUR", 1, "50.00"),
        ("2026-04", "EUR", 0, "-30.00"),
        ("2026-04", "USD", 1, "20.00"),
    ]
    assert series("quarter") == [
        ("2025-Q4", "EUR", 1, "100.00"),
        ("2026-Q1", "EUR", 1, "50.00"),
        ("2026-Q2", "EUR", 0, "-30.00"),
        ("2026-Q2", "USD", 1, "20.00"),
    ]
    assert series("year") == [
        ("2025", "EUR", 1, "100.00"),
        ("2026", "EUR", 1, "20.00"),
        ("2026", "USD", 1, "20.00"),
    ]


def test_corrected_scores_and_ratings_count_as_corrected() -> None:
    survey = fact("survey.answered", 5, "web", csat=5, nps=3)
    chat = fact("chat.conversation", 4, "chat", satisfaction="satisfied")
    fixes = [
        Fact("z1", "event.corrected", NOW - timedelta(days=1), "system",
             {"payload": {"nps": 9}}, survey.id),
        Fact("z2", "event.corrected", NOW - timedelta(days=1), "system",
             {"payload": {"satisfaction": "unsatisfied"}}, chat.id),
    ]  # fmt: skip
    found = indicators(survey, chat, *fixes)["satisfaction"]
    assert found["last_nps"] == 9 and found["nps_90d_average"] == 9
    assert found["unsatisfied_90d"] == 1, "the chat, corrected to unsatisfied"


def test_an_order_is_the_last_interaction_when_it_is_the_latest() -> None:
    history = [
        Fact("c1", "call.completed", NOW - timedelta(hours=3), "phone", {}),
        Fact("o1", "order.placed", NOW - timedelta(hours=1), "web",
             {"order_id": "A", "total": "1.00", "currency": "EUR"}),
    ]  # fmt: skip
    last = indicators(*history)["contact"]["last_interaction"]
    assert (last["type"], last["channel"]) == ("order.placed", "web")


def test_a_payment_s_latest_outcome_is_what_counts() -> None:
    """A payment first reported received, then failed (a bank reversal), counts for
    nothing; another payment still counts."""
    history = [
        fact("payment.received", 3, payment_id="P1", amount="40.00", currency="EUR"),
        fact("payment.failed", 2, payment_id="P1", amount="40.00", currency="EUR"),
        fact("payment.received", 1, payment_id="P2", amount="5.00", currency="EUR"),
    ]
    assert indicators(*history)["value"]["lifetime_value"] == [
        {"amount": "5.00", "currency": "EUR"}
    ]


# --- what customers write ---------------------------------------------------------------


def message(
    days_ago: float,
    sentiment: str = "neutral",
    score: float = 0.0,
    *,
    type_: str = "email.received",
    urgency: str = "normal",
    reasons: tuple[str, ...] = (),
    intents: tuple[str, ...] = (),
    abusive: bool = False,
    **payload: Any,
) -> Fact:
    """An event whose customer text the analyser read so."""
    found = {
        "language": "es",
        "sentiment": sentiment,
        "score": score,
        "urgency": urgency,
        "reasons": list(reasons),
        "intents": list(intents),
        "abusive": abusive,
        "terms": {"sentiment": [], "urgency": [], "intents": {}, "abusive": []},
    }
    at = NOW - timedelta(days=days_ago)
    return Fact(f"e{next(_ids):06d}", type_, at, "email", payload, None, found)


def test_three_negative_messages_are_three_unsatisfied_contacts() -> None:
    said = indicators(message(1, "negative", -0.6), message(5, "negative", -0.4))
    assert said["satisfaction"]["unsatisfied_90d"] == 2
    assert _why(said) == {"churn": "medium", "churn_reason": "2 unsatisfied contacts in 90 days"}
    said = indicators(
        message(1, "negative", -0.6), message(5, "negative", -0.4), message(80, "negative", -0.3)
    )
    assert said["satisfaction"]["unsatisfied_90d"] == 3
    assert said["risk"]["churn"] == "high"
    assert said["text"]["negative_30d"] == 2
    assert evaluate(said, "standard", [], {})[0].rule == "unsatisfied_streak"
    # Older than 90 days, or not negative: not unsatisfied.
    assert (
        indicators(message(91, "negative", -0.6), message(1, "neutral"))["satisfaction"][
            "unsatisfied_90d"
        ]
        == 0
    )


def test_a_survey_with_a_low_score_and_a_negative_comment_is_one_contact() -> None:
    survey = message(2, "negative", -0.5, type_="survey.answered", csat=1, comment="fatal")
    assert indicators(survey)["satisfaction"]["unsatisfied_90d"] == 1


def test_the_last_message_and_the_sentiment_trend() -> None:
    history = [
        message(40, "positive", 0.6),
        message(50, "positive", 0.4),
        message(3, "negative", -0.5),
    ]
    text = indicators(*history)["text"]
    assert text["last_inbound"]["score"] == -0.5
    assert text["last_inbound"]["at"] == (NOW - timedelta(days=3)).isoformat()
    assert text["sentiment_trend"] == "worsening"
    assert (
        indicators(message(40, "negative", -0.6), message(2, "positive", 0.5))["text"][
            "sentiment_trend"
        ]
        == "improving"
    )
    assert (
        indicators(message(40, "neutral", 0.1), message(2, "neutral", 0.0))["text"][
            "sentiment_trend"
        ]
        == "steady"
    )
    assert indicators(message(2, "neutral"))["text"]["sentiment_trend"] is None
    assert indicators()["text"]["last_inbound"] is None


def test_an_urgent_or_angry_message_holds_its_rule_for_24_hours() -> None:
    urgent = message(0.5, "negative", -0.8, urgency="high", reasons=("deadline",))
    said = indicators(urgent)
    assert [u["reasons"] for u in said["text"]["urgent_24h"]] == [["deadline"]]
    assert [a["abusive"] for a in said["text"]["angry_24h"]] == [False]
    held = evaluate(said, "standard", [], {})
    assert [(c.rule, c.code, c.detail["audience"]) for c in held] == [
        ("urgent_message", "urgent_message", "owner"),
        ("angry_message", "angry_customer", "supervisor"),
    ]
    assert held[0].title == "Urgent message from the customer (deadline)"
    state = fold_all([urgent])
    _, ends = derive_and_next_change(state, NOW, POLICY)
    assert ends == urgent.occurred_at + timedelta(hours=24, microseconds=1)
    later = derive(state, ends, POLICY)
    assert later["text"]["urgent_24h"] == [] and later["text"]["angry_24h"] == []
    assert evaluate(later, "standard", [], {"urgent_message": {}}) == []
    off = {"urgent_message": {"enabled": False}, "angry_message": {"enabled": False}}
    assert evaluate(said, "standard", [], off) == []


def test_a_message_asking_to_cancel_is_a_churn_risk_with_its_reason() -> None:
    said = indicators(message(3, "negative", -0.3, intents=("cancellation", "complaint")))
    day = str((NOW - timedelta(days=3)).date())
    assert said["risk"] == {
        "churn": "high",
        "churn_reason": f"asked to cancel in a message on {day}",
        "churn_cause": {"code": "cancellation", "date": day},
    }
    assert said["text"]["churn_signal"]["intent"] == "cancellation"
    assert indicators(message(91, intents=("legal_threat",)))["risk"]["churn"] == "low"
