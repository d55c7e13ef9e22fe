"""Customer indicators as a fold over events: pure code, no I/O.

The state kept per customer is built so that folding events in any order gives the same
state (every entry keeps "the latest by (occurred_at, event id)" or a set keyed by id).
That is what lets the stats row be updated incrementally as events arrive, late and out
of order, and still equal a rebuild from the whole history.
"""

import contextlib
import functools
import itertools
import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, cast

from app.core.money import money
from app.indicators.shapes import (
    ChurnCause,
    ChurnLevel,
    Derived,
    DerivedText,
    MessageFinding,
    State,
    TicketEntry,
    ValueSegment,
)

RECENT = 200  # recent items kept per list (surveys, rated contacts, missed calls)
# The windows the indicators count over (derive) and whose ends derive_and_next_change finds.
DAYS_90 = timedelta(days=90)
DAYS_60 = timedelta(days=60)
DAYS_30 = timedelta(days=30)
HOURS_24 = timedelta(hours=24)
HOURS_4 = timedelta(hours=4)
_INSTANT = timedelta(microseconds=1)  # the finest step of the stored times
INTERACTIONS = ("call.", "email.received", "email.sent", "meeting.", "chat.", "social.", "note.")
OPEN_ORDER = {"placed", "paid", "shipped"}
RESOLVED = {"resolved", "closed", "solved"}
CLOSED_DISPUTE = {"won", "lost", "closed", "resolved", "warning_closed", "charge_refunded"}
# A message this negative (sentiment score) is an angry one, as an abusive one is.
VERY_NEGATIVE = -0.7
# The mean sentiment of the last 30 days against the 60 before: this far apart is a trend.
TREND_STEP = 0.2
# Intents of a message that put the customer at risk of leaving, with the reason's words.
CHURN_INTENTS = ("cancellation", "legal_threat")
# Why a churn risk is what it is, by its cause, in English; a ficha writes the same cause
# in its own language (``churn.<cause>`` in app/fichas/templates.py).
CHURN_REASONS = {
    "unsatisfied": "{count} unsatisfied contacts in 90 days",
    "cancellation": "asked to cancel in a message on {date}",
    "legal_threat": "threatened legal action in a message on {date}",
    "silence": "no purchase for {days} days; usually every {usually}",
}


@dataclass(frozen=True, slots=True)
class Fact:
    """What the fold needs of an event."""

    id: str
    type: str
    occurred_at: datetime
    channel: str
    payload: Mapping[str, Any]
    corrects_id: str | None = None
    # What the analysis of the event's customer text found (app.text.service.finding).
    text: Mapping[str, Any] | None = None


@functools.lru_cache(maxsize=256)
def _since(now: datetime, window: timedelta) -> str:
    """The instant ``window`` before ``now`` (in UTC), as the state's times are written
    (compared as text). A batch derives thousands of customers as of one ``now``: computed
    once. A window that began before year 1 (a churn silence measured from a purchase of
    year 1) holds every time: the empty text, which every time follows."""
    try:
        return (now - window).isoformat()
    except OverflowError:
        return ""


@functools.lru_cache(maxsize=16)
def _day_start(now: datetime) -> str:
    """The start of ``now``'s UTC day (``now`` in UTC), as the state's times are written."""
    return now.replace(hour=0, minute=0, second=0, microsecond=0).isoformat()


def _key(at: str, event_id: str) -> tuple[str, str]:
    return (at, event_id)


def _later(entry: Mapping[str, Any] | None, at: str, event_id: str, field_: str = "at") -> bool:
    """Whether (at, event_id) is after the position stored in ``entry[field_]``."""
    if entry is None or entry.get(field_) is None:
        return True
    return _key(at, event_id) > _key(entry[field_], entry.get(field_ + "_id", ""))


def _push_recent(items: list[list[Any]], item: list[Any]) -> list[list[Any]]:
    """Keep the RECENT latest items by (at, id): the same set whatever the arrival order."""
    merged = sorted({(i[0], i[1]): i for i in [*items, item]}.values(), key=lambda i: (i[0], i[1]))
    return merged[-RECENT:]


def empty_state() -> State:
    return {
        "orders": {},
        "refunds": {},
        "payments": {},
        "disputes": {},
        "invoices": {},
        "tickets": {},
        "surveys": [],
        "rated": [],  # contacts with a satisfaction outcome (calls, chats, tickets)
        "missed_calls": [],
        "corrections": {},
        "last": None,
        # analysed customer texts: [at, id, sentiment, score, urgency, abusive, intents,
        # reasons], and the latest one with all its analysis found (its words included)
        "texts": [],
        "last_text": None,
    }


def fold(state: State, fact: Fact) -> State:
    """Add one event to the state (mutates and returns it)."""
    at = fact.occurred_at.astimezone(UTC).isoformat()
    p = fact.payload
    family = fact.type.split(".")[0]
    if fact.type.startswith(INTERACTIONS) or family in {"order", "ticket", "survey"}:
        last = state["last"]
        if last is None or _key(at, fact.id) > _key(last[0], last[1]):
            state["last"] = [at, fact.id, fact.channel, fact.type]
    if fact.type == "event.corrected" and fact.corrects_id:
        current = state["corrections"].get(fact.corrects_id)
        if current is None or _key(at, fact.id) > _key(current[0], current[1]):
            state["corrections"][fact.corrects_id] = [at, fact.id, dict(p.get("payload") or {})]
    elif family == "order" and p.get("order_id"):
        _fold_order(state, fact, at)
    elif fact.type.startswith("payment.") and fact.type != "payment.disputed":
        key = p.get("payment_id") or fact.id
        if _later(state["payments"].get(key), at, fact.id):
            state["payments"][key] = {
                "at": at,
                "at_id": fact.id,
                "type": fact.type,
                "amount": p.get("amount"),
                "currency": p.get("currency"),
                "order_id": p.get("order_id"),
                "invoice_id": p.get("invoice_id"),
                "reason": p.get("reason"),
            }
    elif fact.type == "payment.disputed":
        key = p.get("payment_id") or fact.id
        entry = state["disputes"].get(key)
        if _later(entry, at, fact.id):
            state["disputes"][key] = {
                "at": at,
                "at_id": fact.id,
                "status": p.get("dispute_status") or "open",
                "opened_at": min(at, entry["opened_at"]) if entry else at,
            }
        elif entry is not None:
            entry["opened_at"] = min(at, entry["opened_at"])
    elif fact.type == "invoice.overdue":
        invoice = state["invoices"].get(p["invoice_id"])
        if invoice is None or _key(at, fact.id) > _key(invoice["overdue_at"], invoice["at_id"]):
            state["invoices"][p["invoice_id"]] = {
                "overdue_at": at,
                "at_id": fact.id,
                "amount": p.get("amount"),
                "currency": p.get("currency"),
            }
    elif family == "ticket" and p.get("ticket_id"):
        _fold_ticket(state, fact, at)
    elif fact.type == "survey.answered":
        state["surveys"] = _push_recent(
            state["surveys"], [at, fact.id, p.get("csat"), p.get("nps")]
        )
    if family in {"call", "chat", "ticket"} and p.get("satisfaction"):
        state["rated"] = _push_recent(state["rated"], [at, fact.id, p["satisfaction"]])
    if fact.type in {"call.missed", "call.abandoned"}:
        state["missed_calls"] = _push_recent(state["missed_calls"], [at, fact.id])
    if fact.text is not None:
        _fold_text(state, fact, at)
    return state


def _fold_text(state: State, fact: Fact, at: str) -> None:
    found = fact.text
    assert found is not None
    item = [
        at,
        fact.id,
        found["sentiment"],
        found["score"],
        found["urgency"],
        found["abusive"],
        sorted(found["intents"]),
        sorted(found["reasons"]),
    ]
    # States stored before texts were analysed have neither entry.
    state["texts"] = _push_recent(state.get("texts", []), item)
    last = state.get("last_text")
    if last is None or _key(at, fact.id) > _key(last[0], last[1]):
        state["last_text"] = [at, fact.id, dict(found)]


def _fold_order(state: State, fact: Fact, at: str) -> None:
    p = fact.payload
    status = fact.type.split(".")[1]
    order = state["orders"].get(order_id := str(p["order_id"]))
    if order is None:
        order = state["orders"][order_id] = {"status": status, "at": at, "at_id": fact.id}
    elif _later(order, at, fact.id):
        order["status"], order["at"], order["at_id"] = status, at, fact.id
    if fact.type == "order.refunded":
        amount = p.get("refund_amount") or p.get("total")
        if amount is not None and p.get("currency"):
            state["refunds"][fact.id] = [at, amount, p["currency"]]
    if fact.type == "order.placed":
        order["placed"] = min(at, order.get("placed") or at)
    if (
        p.get("total") is not None
        and (
            order.get("total_at") is None
            or _key(at, fact.id) > _key(order["total_at"], order["total_id"])
        )
        and fact.type != "order.refunded"
    ):
        order["total"], order["currency"] = p["total"], p.get("currency")
        order["total_at"], order["total_id"] = at, fact.id
    if p.get("items"):
        skus = sorted({i["sku"] for i in p["items"] if i.get("sku")} | set(order.get("skus", [])))
        order["skus"] = skus
        names = dict(order.get("names", {}))
        for item in p["items"]:
            if item.get("sku") and item.get("name"):
                # A SKU named twice keeps the first name in alphabetical order: the same
                # whatever order its events arrive in.
                names[item["sku"]] = min(item["name"], names.get(item["sku"], item["name"]))
        if names:
            order["names"] = names
    if fact.type == "order.shipped" and _later(order, at, fact.id, "shipped_at"):
        order["shipped_at"], order["shipped_at_id"] = at, fact.id
        order["carrier"] = p.get("carrier")
    if fact.type == "order.delivered":
        order["delivered_at"] = max(at, order.get("delivered_at") or at)


def _fold_ticket(state: State, fact: Fact, at: str) -> None:
    p = fact.payload
    status = "resolved" if fact.type == "ticket.resolved" else (p.get("status") or "open")
    ticket = state["tickets"].get(ticket_id := str(p["ticket_id"]))
    if ticket is None:
        ticket = state["tickets"][ticket_id] = {"at": at, "at_id": fact.id, "status": status}
    elif _later(ticket, at, fact.id):
        ticket["at"], ticket["at_id"], ticket["status"] = at, fact.id, status
    if fact.type == "ticket.opened":
        ticket["opened_at"] = min(at, ticket.get("opened_at") or at)
    if fact.type == "ticket.resolved":
        ticket["resolved_at"] = max(at, ticket.get("resolved_at") or at)
    if p.get("category") and _later(ticket, at, fact.id, "category_at"):
        ticket["category"] = p["category"]
        ticket["category_at"], ticket["category_at_id"] = at, fact.id
    if p.get("subject") and _later(ticket, at, fact.id, "subject_at"):
        ticket["subject"] = p["subject"]
        ticket["subject_at"], ticket["subject_at_id"] = at, fact.id
    if p.get("resolution") and _later(ticket, at, fact.id, "resolution_at"):
        ticket["resolution"] = p["resolution"]
        ticket["resolution_at"], ticket["resolution_at_id"] = at, fact.id


def fold_all(facts: Iterable[Fact]) -> State:
    """The state of a whole history (the rebuild)."""
    state = empty_state()
    for fact in sorted(facts, key=lambda f: (f.occurred_at, f.id)):
        fold(state, fact)
    return state


@dataclass(frozen=True, slots=True)
class ValuePolicy:
    """How money and segments are read: base currency, rates and RFM thresholds."""

    base_currency: str = "EUR"
    rates: Mapping[str, Decimal] = field(default_factory=dict)  # units of base per unit
    champion_value: Decimal = Decimal(1000)
    loyal_orders: int = 5
    at_risk_days: int = 180
    new_days: int = 30


def _d(value: Any) -> Decimal:
    return Decimal(str(value))


def _corrected(state: State, event_id: str | None, name: str, value: Any) -> Any:
    patch = state["corrections"].get(event_id or "")
    if patch is not None and name in patch[2]:
        return patch[2][name]
    return value


# A silence this many times the usual days between purchases is a medium / high churn risk.
CHURN_MEDIUM = 1.5
CHURN_HIGH = 2


def _silence(median_days: float, times: float) -> timedelta:
    """The silence past which a churn risk begins, as an exact duration (derive and
    the next change compare the same one)."""
    return timedelta(days=times * max(median_days, 1))


def _opened(ticket: TicketEntry) -> str:
    return str(ticket.get("opened_at") or ticket["at"])


Purchases = tuple[list[str], float | None]


def _purchases(state: State) -> Purchases:
    """When each order not cancelled was placed, in order, and the median days between."""
    placed = sorted(
        order.get("placed") or order["at"]
        for order in state["orders"].values()
        if order["status"] != "cancelled"
    )
    intervals = [
        (datetime.fromisoformat(b) - datetime.fromisoformat(a)).total_seconds() / 86400
        for a, b in itertools.pairwise(placed)
    ]
    return placed, round(statistics.median(intervals), 1) if intervals else None


def derive_and_next_change(
    state: State, now: datetime, policy: ValuePolicy
) -> tuple[Derived, datetime | None]:
    """The indicators as of ``now`` (``derive``) and the first instant after ``now`` at
    which ``derive`` may answer otherwise though no event came: a contact leaving the 90-
    or 60-day windows, a missed call leaving the 4 hours or, at the next UTC midnight,
    today's count; the last purchase growing old enough to change the value segment or the
    churn risk. None when time alone changes nothing more. Sooner is harmless (an
    evaluation that finds nothing new); later would leave the stored indicators, flags and
    segments stale. One pass: the purchases both read are sorted and their intervals
    measured once."""
    purchases = _purchases(state)
    return _derive(state, now, policy, purchases), _next_change(state, now, policy, purchases)


def _next_change(
    state: State, now: datetime, policy: ValuePolicy, purchases: Purchases
) -> datetime | None:
    now = now.astimezone(UTC)
    ends: list[datetime] = []

    def leaves(at: str, window: timedelta) -> None:
        # Counted while at >= now - window (compared as text, as derive does): gone the
        # first instant after at + window. What is already out is skipped unparsed.
        if at >= _since(now, window):
            with contextlib.suppress(OverflowError):  # gone after year 9999: never
                ends.append(datetime.fromisoformat(at) + window + _INSTANT)

    for at, *_ in [*state["surveys"], *state["rated"]]:
        leaves(at, DAYS_90)
    for at, *_ in state.get("texts", []):
        for window in (HOURS_24, DAYS_30, DAYS_90):
            leaves(at, window)
    for ticket in state["tickets"].values():
        leaves(_opened(ticket), DAYS_90)
        leaves(_opened(ticket), DAYS_60)
    today = _day_start(now)
    for at, *_ in state["missed_calls"]:
        leaves(at, HOURS_4)
        if at >= today:  # counted today until the UTC midnight after it
            called = datetime.fromisoformat(at).astimezone(UTC)
            midnight = called.replace(hour=0, minute=0, second=0, microsecond=0)
            with contextlib.suppress(OverflowError):  # after 9999-12-31: never
                ends.append(midnight + timedelta(days=1))
    placed, median_days = purchases
    if placed:
        for days in (policy.at_risk_days, policy.new_days):
            leaves(placed[-1], timedelta(days=days))
        if median_days:
            for times in (CHURN_MEDIUM, CHURN_HIGH):
                leaves(placed[-1], _silence(median_days, times))
    return min((end for end in ends if end > now), default=None)


def derive(state: State, now: datetime, policy: ValuePolicy) -> Derived:
    """Indicators from the state, as of ``now``. Pure and fast: no history is read."""
    return _derive(state, now, policy, _purchases(state))


def _derive(state: State, now: datetime, policy: ValuePolicy, purchases: Purchases) -> Derived:
    now = now.astimezone(UTC)
    day90 = _since(now, DAYS_90)
    day60 = _since(now, DAYS_60)
    today = _day_start(now)  # the UTC day
    hours4 = _since(now, HOURS_4)

    # value
    per_currency: dict[str, Decimal] = {}
    open_orders = []
    order_values: list[tuple[Decimal, str]] = []
    for order_id, order in state["orders"].items():
        currency = order.get("currency")
        if order.get("total") is not None and currency and order["status"] != "cancelled":
            total = _d(_corrected(state, order.get("total_id"), "total", order.get("total")))
            per_currency[currency] = per_currency.get(currency, Decimal(0)) + total
            order_values.append((total, currency))
        if order["status"] in OPEN_ORDER:
            open_orders.append(order_id)
    for payment in state["payments"].values():
        known_order = payment.get("order_id") and str(payment["order_id"]) in state["orders"]
        standalone = not known_order and not payment.get("invoice_id")
        paid, currency = payment["amount"], payment["currency"]
        if payment["type"] == "payment.received" and standalone and paid and currency:
            per_currency[currency] = per_currency.get(currency, Decimal(0)) + _d(paid)
    refunds: dict[str, Decimal] = {}
    for _, amount, currency in state["refunds"].values():
        refunds[currency] = refunds.get(currency, Decimal(0)) + _d(amount)
    for currency, amount in refunds.items():
        per_currency[currency] = per_currency.get(currency, Decimal(0)) - amount
    base_total = Decimal(0)
    unconverted = []
    for currency, amount in per_currency.items():
        if currency == policy.base_currency:
            base_total += amount
        elif currency in policy.rates:
            base_total += amount * policy.rates[currency]
        else:
            unconverted.append(currency)
    placed_dates, median_days = purchases
    order_count = len(placed_dates)
    last_purchase = placed_dates[-1] if placed_dates else None
    base_values = [
        v if c == policy.base_currency else v * policy.rates[c]
        for v, c in order_values
        if c == policy.base_currency or c in policy.rates
    ]
    average_order = (
        format((sum(base_values, Decimal(0)) / len(base_values)).quantize(Decimal("0.01")), "f")
        if base_values
        else None
    )
    open_disputes = [k for k, d in state["disputes"].items() if d["status"] not in CLOSED_DISPUTE]
    paid_invoices: dict[str, str] = {}
    for payment in state["payments"].values():
        invoice = payment.get("invoice_id")
        if payment["type"] == "payment.received" and invoice:
            paid_invoices[invoice] = max(payment["at"], paid_invoices.get(invoice, payment["at"]))
    overdue = [
        i
        for i, inv in state["invoices"].items()
        if paid_invoices.get(i) is None or paid_invoices[i] < inv["overdue_at"]
    ]

    # service
    tickets = state["tickets"]
    open_tickets = [t for t, v in tickets.items() if v.get("status") not in RESOLVED]
    recent_tickets = [v for v in tickets.values() if _opened(v) >= day90]
    categories: dict[str, int] = {}
    for v in tickets.values():
        if v.get("category") and _opened(v) >= day60:
            categories[v["category"]] = categories.get(v["category"], 0) + 1
    recurring = sorted(c for c, n in categories.items() if n >= 2)
    durations = [
        (
            datetime.fromisoformat(v["resolved_at"]) - datetime.fromisoformat(v["opened_at"])
        ).total_seconds()
        / 3600
        for v in tickets.values()
        if v.get("resolved_at") and v.get("opened_at") and v["resolved_at"] >= v["opened_at"]
    ]

    # satisfaction
    surveys = [
        [at, eid, _corrected(state, eid, "csat", csat), _corrected(state, eid, "nps", nps)]
        for at, eid, csat, nps in state["surveys"]
    ]
    csats = [s for s in surveys if s[2] is not None]
    npss = [s for s in surveys if s[3] is not None]
    csat90 = [s[2] for s in csats if s[0] >= day90]
    nps90 = [s[3] for s in npss if s[0] >= day90]
    # Unsatisfied: CSAT <= 2, NPS <= 6, a contact rated unsatisfied (corrections applied),
    # or a negative message; each contact once, by its event.
    unsatisfied90 = {
        s[1]: s[0]
        for s in surveys
        if s[0] >= day90 and ((s[2] is not None and s[2] <= 2) or (s[3] is not None and s[3] <= 6))
    }
    unsatisfied90 |= {
        eid: at
        for at, eid, rating in state["rated"]
        if at >= day90 and _corrected(state, eid, "satisfaction", rating) == "unsatisfied"
    }
    texts = state.get("texts", [])
    unsatisfied90 |= {t[1]: t[0] for t in texts if t[0] >= day90 and t[2] == "negative"}
    text = _texts(state, now)

    # contact
    missed_today = [c for c in state["missed_calls"] if c[0] >= today]
    missed_4h = [c for c in state["missed_calls"] if c[0] >= hours4]
    last = state["last"]

    # risk
    churn, cause = ChurnLevel.LOW, None
    if len(unsatisfied90) >= 3:
        churn, cause = ChurnLevel.HIGH, ChurnCause(code="unsatisfied", count=len(unsatisfied90))
    elif text["churn_signal"] is not None:
        signal = text["churn_signal"]
        churn, cause = ChurnLevel.HIGH, ChurnCause(code=signal["intent"], date=signal["at"][:10])
    elif order_count >= 3 and median_days and last_purchase:
        silence = now - datetime.fromisoformat(last_purchase)
        quiet = ChurnCause(
            code="silence", days=round(silence.total_seconds() / 86400), usually=round(median_days)
        )
        if silence > _silence(median_days, CHURN_HIGH):
            churn, cause = ChurnLevel.HIGH, quiet
        elif silence > _silence(median_days, CHURN_MEDIUM):
            churn, cause = ChurnLevel.MEDIUM, quiet
    elif len(unsatisfied90) == 2:
        churn, cause = ChurnLevel.MEDIUM, ChurnCause(code="unsatisfied", count=2)
    # Time since the last purchase, compared with the policy's days as durations: a customer
    # is at_risk the moment CH_SEGMENT_AT_RISK_DAYS have passed, not a whole day later.
    recency = now - datetime.fromisoformat(last_purchase) if last_purchase else None
    if order_count == 0:
        segment = ValueSegment.NONE
    elif recency is not None and recency > timedelta(days=policy.at_risk_days):
        segment = (
            ValueSegment.AT_RISK if base_total >= policy.champion_value / 2 else ValueSegment.LAPSED
        )
    elif base_total >= policy.champion_value:
        segment = ValueSegment.CHAMPION
    elif order_count >= policy.loyal_orders:
        segment = ValueSegment.LOYAL
    elif order_count == 1 and recency is not None and recency <= timedelta(days=policy.new_days):
        segment = ValueSegment.NEW
    else:
        segment = ValueSegment.OCCASIONAL

    return {
        "value": {
            "lifetime_value": [money(v, c) for c, v in sorted(per_currency.items())],
            "lifetime_value_base": money(
                base_total.quantize(Decimal("0.01")), policy.base_currency
            ),
            "unconverted_currencies": sorted(unconverted),
            "order_count": order_count,
            "average_order_value": money(average_order, policy.base_currency)
            if average_order
            else None,
            "first_purchase_at": placed_dates[0] if placed_dates else None,
            "last_purchase_at": last_purchase,
            "median_days_between_purchases": median_days,
            "open_orders": sorted(open_orders),
            "refunds": len(state["refunds"]),
            "disputes": len(state["disputes"]),
            "open_disputes": sorted(open_disputes),
            "overdue_invoices": sorted(overdue),
            "segment": segment,
        },
        "service": {
            "open_tickets": sorted(open_tickets),
            "tickets_90d": len(recent_tickets),
            "recurring_problems": recurring,
            "ticket_categories_60d": dict(sorted(categories.items())),
            "average_resolution_hours": round(statistics.fmean(durations), 1)
            if durations
            else None,
        },
        "satisfaction": {
            "last_csat": csats[-1][2] if csats else None,
            "last_nps": npss[-1][3] if npss else None,
            "csat_90d_average": round(statistics.fmean(csat90), 2) if csat90 else None,
            "nps_90d_average": round(statistics.fmean(nps90), 2) if nps90 else None,
            "unsatisfied_90d": len(unsatisfied90),
        },
        "contact": {
            "last_interaction": {"at": last[0], "channel": last[2], "type": last[3]}
            if last
            else None,
            "missed_calls_today": len(missed_today),
            "missed_calls_4h": len(missed_4h),
        },
        "risk": {
            "churn": churn,
            "churn_reason": churn_reason(cause) if cause else None,
            "churn_cause": cause,
        },
        "text": text,
    }


def churn_reason(cause: ChurnCause) -> str:
    """Why, in English, from the cause and its values."""
    values = {k: v for k, v in cause.items() if k != "code"}
    return CHURN_REASONS[cause["code"]].format(**values)


def _texts(state: State, now: datetime) -> DerivedText:
    """What the customer's analysed messages say as of ``now``."""
    day90 = _since(now, DAYS_90)
    day30 = _since(now, DAYS_30)
    hours24 = _since(now, HOURS_24)
    texts = state.get("texts", [])
    recent = [t for t in texts if t[0] >= day30]
    before = [t for t in texts if day90 <= t[0] < day30]
    trend = None
    if recent and before:
        change = statistics.fmean(t[3] for t in recent) - statistics.fmean(t[3] for t in before)
        trend = (
            "improving"
            if change >= TREND_STEP
            else "worsening"
            if change <= -TREND_STEP
            else "steady"
        )
    signals = [t for t in texts if t[0] >= day90 and set(t[6]) & set(CHURN_INTENTS)]
    last = state.get("last_text")
    last_inbound = cast(
        MessageFinding | None, {"at": last[0], "event_id": last[1], **last[2]} if last else None
    )
    return {
        "last_inbound": last_inbound,
        "negative_30d": sum(t[2] == "negative" for t in recent),
        "sentiment_trend": trend,
        "urgent_24h": [
            {"at": t[0], "event_id": t[1], "reasons": t[7]}
            for t in texts
            if t[0] >= hours24 and t[4] == "high"
        ],
        "angry_24h": [
            {"at": t[0], "event_id": t[1], "abusive": t[5], "score": t[3]}
            for t in texts
            if t[0] >= hours24 and (t[5] or t[3] <= VERY_NEGATIVE)
        ],
        "churn_signal": {
            "at": signals[-1][0],
            "event_id": signals[-1][1],
            "intent": min(set(signals[-1][6]) & set(CHURN_INTENTS)),
        }
        if signals
        else None,
    }


def sales_series(state: State, interval: str) -> list[dict[str, Any]]:
    """Order totals per period and currency (cancelled orders left out, refunds subtracted)."""

    def period(at: str) -> str:
        moment = datetime.fromisoformat(at)
        if interval == "year":
            return f"{moment.year}"
        if interval == "quarter":
            return f"{moment.year}-Q{(moment.month - 1) // 3 + 1}"
        return f"{moment.year}-{moment.month:02d}"

    buckets: dict[tuple[str, str], dict[str, Any]] = {}
    for order in state["orders"].values():
        currency = order.get("currency")
        if order["status"] == "cancelled" or order.get("total") is None or not currency:
            continue
        key = (period(order.get("placed") or order["at"]), currency)
        bucket = buckets.setdefault(key, {"orders": 0, "amount": Decimal(0)})
        bucket["orders"] += 1
        bucket["amount"] += _d(_corrected(state, order.get("total_id"), "total", order["total"]))
    for at, amount, currency in state["refunds"].values():
        bucket = buckets.setdefault((period(at), currency), {"orders": 0, "amount": Decimal(0)})
        bucket["amount"] -= _d(amount)
    return [
        {"period": p, "orders": b["orders"], "total": money(b["amount"], c)}
        for (p, c), b in sorted(buckets.items())
    ]
