"""Company reports from the events: revenue, orders, repeat purchase, retention, top
products and ticket categories."""

from datetime import UTC, datetime
from decimal import Decimal
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.money import Money, money
from app.reports import queries
from app.reports.schemas import SummaryReport


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
