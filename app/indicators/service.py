"""Keeping indicators, flags and alerts current as the history grows."""

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import Settings, get_settings
from app.customers.service import CustomerGraphRepository
from app.indicators.repository import StatsRepository
from app.indicators.rules import evaluate
from app.indicators.state import Fact, ValuePolicy, derive, empty_state, fold, fold_all


def value_policy(settings: Settings) -> ValuePolicy:
    return ValuePolicy(
        base_currency=settings.base_currency,
        rates=settings.rates(),
        champion_value=Decimal(settings.segment_champion_value),
        loyal_orders=settings.segment_loyal_orders,
        at_risk_days=settings.segment_at_risk_days,
        new_days=settings.segment_new_days,
    )


async def record(session: AsyncSession, facts: Sequence[tuple[UUID, Fact]]) -> None:
    """Fold newly stored events into their customers' stats, in the append's transaction."""
    if not facts:
        return
    repo = StatsRepository(session)
    rows = await repo.lock([customer_id for customer_id, _ in facts])
    by_customer = {row["customer_id"]: row for row in rows}
    for customer_id, fact in facts:
        row = by_customer[customer_id]
        row["state"] = fold(row["state"] or empty_state(), fact)
    await _refresh(session, rows, datetime.now(UTC))


async def rebuild(session: AsyncSession, customer_ids: Sequence[UUID]) -> int:
    """Recompute stats from the whole history (merged-in customers included)."""
    repo = StatsRepository(session)
    graph = CustomerGraphRepository(session)
    rows = await repo.lock(customer_ids)
    for row in rows:
        family = await graph.family(row["customer_id"])
        row["state"] = fold_all(await repo.facts(family))
    await _refresh(session, rows, datetime.now(UTC))
    return len(rows)


async def reevaluate(session: AsyncSession, customer_ids: Sequence[UUID]) -> None:
    """Evaluate rules again without new events (time passed, an incident opened or closed)."""
    rows = await StatsRepository(session).lock(customer_ids)
    for row in rows:
        row["state"] = row["state"] or empty_state()
    await _refresh(session, rows, datetime.now(UTC))


async def _refresh(session: AsyncSession, rows: list[dict[str, Any]], now: datetime) -> None:
    """Derive indicators, evaluate the rules, store it all, raise and clear alerts."""
    repo = StatsRepository(session)
    policy = value_policy(get_settings())
    rules = await repo.policies()
    saved, raised, ended = [], [], []
    for row in rows:
        indicators = derive(row["state"], now, policy)
        held = evaluate(indicators, row["tier"], row["incidents"], rules)
        value = indicators["value"]
        saved.append(
            {
                "customer_id": row["customer_id"],
                "state": row["state"],
                "indicators": indicators,
                "ltv": Decimal(value["lifetime_value_base"]["amount"]),
                "orders": value["order_count"],
                "open_orders": len(value["open_orders"]),
                "last_purchase": datetime.fromisoformat(value["last_purchase_at"])
                if value["last_purchase_at"]
                else None,
                "segment": value["segment"],
                "churn": indicators["risk"]["churn"],
                "flags": sorted({c.code for c in held}),
            }
        )
        holding = {c.rule for c in held}
        raised += [
            {
                "customer_id": row["customer_id"],
                "rule": c.rule,
                "code": c.code,
                "severity": c.severity,
                "title": c.title,
                "detail": dict(c.detail),
                "owner_id": row["owner_id"],
            }
            for c in held
            if c.rule not in row["open_rules"]
        ]
        ended += [(row["customer_id"], rule) for rule in row["open_rules"] - holding]
    await repo.save(saved)
    await repo.clear_alerts(ended)
    await repo.raise_alerts(raised)


async def current(session: AsyncSession, customer_id: UUID) -> tuple[dict[str, Any], list[str]]:
    """Indicators as of now (time windows move on) and the customer's flags."""
    found = await StatsRepository(session).stats(customer_id)
    state = found["state"] if found and found["state"] else empty_state()
    flags = found["flags"] if found else []
    return derive(state, datetime.now(UTC), value_policy(get_settings())), flags
