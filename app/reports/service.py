"""Company reports: from the events, revenue, orders, repeat purchase, retention, top
products and ticket categories; from the analysed messages, their topics."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import Executor
from app.core.money import Money, money
from app.reports import queries
from app.reports.schemas import SummaryReport, TopicsReport


async def summary(session: AsyncSession, since: datetime, until: datetime) -> SummaryReport:
    """Company figures for a period, from the events (amounts survive erasure)."""
    # In UTC: arithmetic in a historical offset (0001-01-01T16:00-17:36) can leave year 1
    # as a local time although the instant is in range.
    since, until = since.astimezone(UTC), until.astimezone(UTC)
    current_rows = await queries.report_rows(session, since, until)
    # The period before, as long as this one, but no earlier than the first instant there is.
    earliest = datetime.min.replace(tzinfo=UTC)
    previous_rows = await queries.report_rows(
        session, since - min(until - since, since - earliest), since
    )
    revenue: dict[str, Decimal] = {}
    order_totals: dict[str, list[Decimal]] = {}
    buyers: dict[UUID, int] = {}
    products: dict[str, int] = {}
    categories: dict[str, int] = {}
    for row in current_rows:
        payload = row["payload"]
        if row["type"] == "order.placed":
            buyers[row["customer_id"]] = buyers.get(row["customer_id"], 0) + 1
            if payload.get("total") is not None and payload.get("currency"):
                amount = Decimal(payload["total"])
                revenue[payload["currency"]] = revenue.get(payload["currency"], Decimal(0)) + amount
                order_totals.setdefault(payload["currency"], []).append(amount)
            for item in payload.get("items", []):
                if item.get("sku"):
                    products[item["sku"]] = products.get(item["sku"], 0) + int(item.get("qty", 1))
        elif row["type"] == "order.refunded":
            amount = payload.get("refund_amount") or payload.get("total")
            if amount is not None and payload.get("currency"):
                currency = payload["currency"]
                revenue[currency] = revenue.get(currency, Decimal(0)) - Decimal(amount)
        elif row["type"] == "ticket.opened" and payload.get("category"):
            categories[payload["category"]] = categories.get(payload["category"], 0) + 1
    previous_buyers = {r["customer_id"] for r in previous_rows if r["type"] == "order.placed"}
    return SummaryReport(
        period_from=since,
        period_to=until,
        revenue=[Money.model_validate(money(v, c)) for c, v in sorted(revenue.items())],
        orders=sum(buyers.values()),
        average_order_value=[
            Money.model_validate(money((sum(v, Decimal(0)) / len(v)).quantize(Decimal("0.01")), c))
            for c, v in sorted(order_totals.items())
        ],
        customers=len(buyers),
        repeat_purchase_rate=round(sum(1 for n in buyers.values() if n >= 2) / len(buyers), 4)
        if buyers
        else None,
        retention_rate=round(len(previous_buyers & buyers.keys()) / len(previous_buyers), 4)
        if previous_buyers
        else None,
        top_products=[
            {"sku": s, "units": n}
            for s, n in sorted(products.items(), key=lambda p: (-p[1], p[0]))[:10]
        ],
        top_ticket_categories=[
            {"category": c, "tickets": n}
            for c, n in sorted(categories.items(), key=lambda p: (-p[1], p[0]))[:10]
        ],
    )


MAX_PERIODS = 400
TOP_TERMS = 10


def period_start(moment: datetime, interval: str) -> datetime:
    """The start of the period of ``interval`` that holds ``moment`` (UTC; weeks start on
    Monday), as PostgreSQL's date_trunc."""
    day = moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if interval == "week":
        return day - timedelta(days=day.weekday())
    if interval == "month":
        return day.replace(day=1)
    return day


def next_period(start: datetime, interval: str) -> datetime | None:
    """The start of the period after the one ``start`` begins; None past year 9999, where
    no date is (the report's last period then ends at its ``to``)."""
    try:
        if interval == "month":
            return start.replace(year=start.year + start.month // 12, month=start.month % 12 + 1)
        return start + timedelta(days=7 if interval == "week" else 1)
    except (ValueError, OverflowError):
        return None


def previous_period(start: datetime, interval: str) -> datetime | None:
    """The start of the period before the one ``start`` begins; None before year 1 (the
    first period then has nothing to be compared with)."""
    try:
        if interval == "month":
            month = (start.month - 2) % 12 + 1
            return start.replace(year=start.year - (start.month == 1), month=month)
        return start - timedelta(days=7 if interval == "week" else 1)
    except (ValueError, OverflowError):
        return None


class TooManyPeriods(ValueError):
    pass


async def topics(on: Executor, since: datetime, until: datetime, interval: str) -> TopicsReport:
    """Intents and their words in the analysed messages, period by period from the period
    holding ``since`` to ``until``, each compared with the one before it; TooManyPeriods
    past MAX_PERIODS."""
    first = period_start(since, interval)
    starts = [first]
    while (following := next_period(starts[-1], interval)) is not None and following < until:
        starts.append(following)
        if len(starts) > MAX_PERIODS:
            raise TooManyPeriods(f"more than {MAX_PERIODS} periods of a {interval}")
    before = previous_period(first, interval)
    messages, intents, terms = await queries.topic_rows(on, before or first, until, interval)
    counted = {r["period"]: (r["messages"], r["negative"]) for r in messages}
    by_intent: dict[datetime, dict[str, int]] = {}
    for r in intents:
        by_intent.setdefault(r["period"], {})[r["intent"]] = r["count"]
    by_term: dict[datetime, dict[str, int]] = {}
    for r in terms:
        by_term.setdefault(r["period"], {})[r["term"]] = r["count"]
    periods = []
    for start, previous in zip(starts, [before, *starts[:-1]], strict=True):
        now, then = by_intent.get(start, {}), by_intent.get(previous, {}) if previous else {}
        total, negative = counted.get(start, (0, 0))
        grown = {i: n - then.get(i, 0) for i, n in now.items() if n > then.get(i, 0)}
        rising = [
            {"intent": i, "messages": now[i], "previous": then.get(i, 0), "change": change}
            for i, change in sorted(grown.items(), key=lambda p: (-p[1], p[0]))
        ]
        periods.append(
            {
                "period_from": start,
                "period_to": min(next_period(start, interval) or until, until),
                "messages": total,
                "negative": negative,
                "intents": [
                    {"intent": i, "messages": n}
                    for i, n in sorted(now.items(), key=lambda p: (-p[1], p[0]))
                ],
                "terms": [
                    {"term": t, "messages": n}
                    for t, n in sorted(by_term.get(start, {}).items(), key=lambda p: (-p[1], p[0]))[
                        :TOP_TERMS
                    ]
                ],
                "rising": rising,
            }
        )
    return TopicsReport.model_validate(
        {"period_from": first, "period_to": until, "interval": interval, "periods": periods}
    )
