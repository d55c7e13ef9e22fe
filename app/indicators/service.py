"""Keeping indicators, flags and alerts current as the history grows."""

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.clock import Clock
from app.core.config import Settings, get_settings
from app.core.db import Executor
from app.core.errors import EXAMPLE_ID, Forbidden, NotFound, invalid_field
from app.core.money import Money, money
from app.core.pagination import cursor_id, encode_cursor
from app.core.security import Principal, Role
from app.customers.schemas import Tier
from app.customers.service import readable_family
from app.indicators.models import Alert, Incident
from app.indicators.repository import (
    InsightRepository,
    MaintenanceRepository,
    StatsRepository,
    snapshot_row,
    stored_policies,
)
from app.indicators.rules import DEFAULT_RULES, evaluate
from app.indicators.schemas import (
    AlertOut,
    AlertPage,
    IncidentIn,
    IncidentList,
    IncidentOut,
    IndicatorsOut,
    RoutingAnswer,
    RoutingPolicy,
    RuleConfig,
    RuleOut,
    SalesSeries,
    SegmentMember,
    SegmentPage,
    SegmentQuery,
    SummaryReport,
)
from app.indicators.state import (
    Fact,
    ValuePolicy,
    derive,
    empty_state,
    fold,
    fold_all,
    next_change,
    sales_series,
)


def value_policy(settings: Settings) -> ValuePolicy:
    return ValuePolicy(
        base_currency=settings.base_currency,
        rates=settings.rates(),
        champion_value=Decimal(settings.segment_champion_value),
        loyal_orders=settings.segment_loyal_orders,
        at_risk_days=settings.segment_at_risk_days,
        new_days=settings.segment_new_days,
    )


async def record(session: AsyncSession, facts: Sequence[tuple[UUID, Fact]], clock: Clock) -> None:
    """Fold newly stored events into their customers' stats, in the append's transaction."""
    if not facts:
        return
    repo = StatsRepository(session)
    rows = await repo.lock([customer_id for customer_id, _ in facts])
    by_customer = {row["customer_id"]: row for row in rows}
    for customer_id, fact in facts:
        row = by_customer[customer_id]
        row["state"] = fold(row["state"] or empty_state(), fact)
    await _refresh(session, rows, clock.now())


async def rebuild(session: AsyncSession, customer_ids: Sequence[UUID], clock: Clock) -> int:
    """Recompute stats from the whole history (merged-in customers included)."""
    repo = StatsRepository(session)
    rows = await repo.lock(customer_ids)
    histories = await repo.histories([row["customer_id"] for row in rows])
    for row in rows:
        row["state"] = fold_all(histories[row["customer_id"]])
    await _refresh(session, rows, clock.now())
    return len(rows)


async def reevaluate(session: AsyncSession, customer_ids: Sequence[UUID], clock: Clock) -> None:
    """Evaluate rules again without new events (time passed, an incident opened or closed)."""
    rows = await StatsRepository(session).lock(customer_ids)
    for row in rows:
        row["state"] = row["state"] or empty_state()
    await _refresh(session, rows, clock.now())


async def _refresh(session: AsyncSession, rows: list[dict[str, Any]], now: datetime) -> None:
    """Derive indicators as of ``now``, evaluate the rules, store it all, raise and clear
    alerts (raised and cleared at ``now``)."""
    repo = StatsRepository(session)
    policy = value_policy(get_settings())
    rules = await stored_policies(session)
    saved, raised, ended = [], [], []
    for row in rows:
        indicators = derive(row["state"], now, policy)
        held = evaluate(indicators, row["tier"], row["incidents"], rules)
        indicators["flags"] = [
            {"code": c.code, "severity": c.severity, "label": c.label}
            for c in sorted(held, key=lambda c: c.code)
        ]
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
                "reevaluate_at": next_change(row["state"], now, policy),
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
    await repo.save(saved, now)
    await repo.clear_alerts(ended, now)
    await repo.raise_alerts(raised, now)


async def snapshot(on: Executor, customer_id: UUID, alert_limit: int) -> dict[str, Any]:
    """The stats row as stored (state, flags, when last updated: None before any event)
    and up to ``alert_limit`` open alerts, newest first."""
    row = await snapshot_row(on, customer_id, alert_limit)
    alerts = [AlertOut.model_validate(a) for a in row["open_alerts"]]
    if not row["state"]:
        return {"state": empty_state(), "flags": [], "updated_at": None, "alerts": alerts}
    return {
        "state": row["state"],
        "flags": row["flags"],
        "updated_at": row["updated_at"],
        "alerts": alerts,
    }


async def current(
    session: AsyncSession, customer_id: UUID, now: datetime
) -> tuple[dict[str, Any], list[dict[str, str]]]:
    """Indicators as of ``now`` (time windows move on) and the flags set by the last
    evaluation."""
    found = await StatsRepository(session).stats(customer_id)
    state = found["state"] if found and found["state"] else empty_state()
    flags = found["flags"] if found else []
    return derive(state, now, value_policy(get_settings())), flags


# --- the API's read and admin operations -----------------------------------------------

RULE_NAMES = tuple(DEFAULT_RULES)
ROUTING = "routing"


class RuleNotFound(NotFound):
    """No rule of this name (GET /v1/rules lists them)."""

    code = "rule-not-found"
    title = "Rule not found"
    example = ("No rule 'unhappy_streak'.", {})


async def rules(session: AsyncSession) -> list[RuleOut]:
    stored = await stored_policies(session)
    return [
        RuleOut(rule=name, config={**DEFAULT_RULES[name], **stored.get(name, {})})
        for name in RULE_NAMES
    ]


async def put_rule(session: AsyncSession, name: str, config: RuleConfig) -> RuleOut:
    if name not in DEFAULT_RULES:
        raise RuleNotFound(f"No rule '{name}'; the rules are {', '.join(RULE_NAMES)}.")
    values = config.model_dump(mode="json", exclude_none=True)
    allowed = set(DEFAULT_RULES[name])
    for key in values:
        if key not in allowed:
            raise invalid_field(f"body.{key}", f"rule '{name}' has no setting '{key}'")
    await StatsRepository(session).put_policy(name, values)
    return RuleOut(rule=name, config={**DEFAULT_RULES[name], **values})


def _alert_out(alert: Alert) -> AlertOut:
    status = "cleared" if alert.cleared_at else alert.status
    return AlertOut.model_validate({**alert.__dict__, "status": status})


async def list_alerts(
    session: AsyncSession,
    principal: Principal,
    *,
    status: str | None,
    owner_id: str | None,
    customer_id: UUID | None,
    limit: int,
    cursor: str | None,
) -> AlertPage:
    before = cursor_id(cursor, "before")
    rows = await StatsRepository(session).alerts(
        principal,
        status=status,
        owner_id=owner_id,
        customer_id=customer_id,
        limit=limit + 1,
        before=before,
    )
    page = rows[:limit]
    next_cursor = encode_cursor({"before": str(page[-1].id)}) if len(rows) > limit else None
    return AlertPage(items=[_alert_out(a) for a in page], next_cursor=next_cursor)


class AlertNotFound(NotFound):
    """An alert that does not exist or whose customer the caller may not see."""

    code = "alert-not-found"
    title = "Alert not found"
    example = ("Alert not found.", {})

    def __init__(self) -> None:
        super().__init__("Alert not found.")


def may_acknowledge(alert: Alert, principal: Principal) -> bool:
    """The alert's owner, a supervisor or an admin: nobody silences another's alert."""
    return (
        principal.role is Role.ADMIN
        or principal.supervisor
        or (principal.agent_id is not None and principal.agent_id == alert.owner_id)
    )


async def acknowledge(
    session: AsyncSession, alert_id: UUID, principal: Principal, clock: Clock
) -> AlertOut:
    """Acknowledge an alert: 404 when its customer is out of sight, 403 when the caller sees
    it but is neither its owner, a supervisor nor an admin."""
    alert = await StatsRepository(session).alert(alert_id, principal)
    if alert is None:
        raise AlertNotFound()
    if not may_acknowledge(alert, principal):
        raise Forbidden("Only the alert's owner, a supervisor or an admin acknowledges it.")
    if alert.acknowledged_at is None:
        alert.status = "acknowledged"
        alert.acknowledged_at = clock.now()
        alert.acknowledged_by = principal.agent_id
        alert.acknowledged_by_key_id = principal.key_id
        await session.flush()
    return _alert_out(alert)


def _incident_out(incident: Incident) -> IncidentOut:
    return IncidentOut.model_validate({**incident.__dict__, "queue": f"incident:{incident.id}"})


async def declare_incident(session: AsyncSession, data: IncidentIn, clock: Clock) -> IncidentOut:
    """Flag every customer the matcher finds and route their calls to the incident's queue."""
    repo = StatsRepository(session)
    matcher = data.matcher
    members = await repo.match_shipments(matcher.carrier, matcher.shipped_from, matcher.shipped_to)
    incident = await repo.add_incident(
        Incident(
            title=data.title,
            matcher=matcher.model_dump(mode="json"),
            affected=len(members),
            declared_at=clock.now(),
        )
    )
    await repo.add_incident_members(incident.id, members)
    await reevaluate(session, members, clock)
    await session.refresh(incident)
    return _incident_out(incident)


class IncidentNotFound(NotFound):
    """No incident with this id."""

    code = "incident-not-found"
    title = "Incident not found"
    example = (f"Incident {EXAMPLE_ID} not found.", {})


async def close_incident(session: AsyncSession, incident_id: UUID, clock: Clock) -> IncidentOut:
    repo = StatsRepository(session)
    incident = await repo.incident(incident_id)
    if incident is None:
        raise IncidentNotFound(f"Incident {incident_id} not found.")
    if incident.status == "open":
        incident.status = "closed"
        incident.closed_at = clock.now()
        await session.flush()
        await reevaluate(session, await repo.incident_members(incident.id), clock)
    return _incident_out(incident)


async def list_incidents(session: AsyncSession, principal: Principal) -> IncidentList:
    """Every incident; ``affected`` counts the customers the caller may see."""
    return IncidentList(
        items=[
            _incident_out(incident).model_copy(update={"affected": seen})
            for incident, seen in await StatsRepository(session).incidents(principal)
        ]
    )


async def routing_policy(on: Executor) -> RoutingPolicy:
    stored = (await stored_policies(on)).get(ROUTING)
    return RoutingPolicy.model_validate(stored) if stored else RoutingPolicy()


async def put_routing_policy(session: AsyncSession, policy: RoutingPolicy) -> RoutingPolicy:
    await StatsRepository(session).put_policy(ROUTING, policy.model_dump(mode="json"))
    return policy


async def route(on: Executor, phone: str, principal: Principal) -> RoutingAnswer:
    """Queue and priority for an incoming call: one lookup, no history read. A caller the
    key may not see is routed exactly as an unknown number."""
    policy = await routing_policy(on)
    row = await InsightRepository(on).route(phone, principal)
    if row is None:
        return RoutingAnswer(
            known=False,
            phone=phone,
            priority=policy.unknown_priority,
            queue=policy.default_queue,
            reasons=["unknown caller"],
        )
    tier_rule = policy.tiers.get(Tier(row["tier"]), {"queue": policy.default_queue, "priority": 0})
    queue, priority = tier_rule["queue"], int(tier_rule["priority"])
    reasons = [f"tier {row['tier']}"]
    language = row["preferred_language"]
    if language and language.split("-")[0] in policy.language_queues:
        queue = policy.language_queues[language.split("-")[0]]
        reasons.append(f"language {language}")
    for flag in row["flags"] or []:
        if flag.startswith("incident:"):
            queue = flag
            priority = max(priority, policy.incident_priority)
            reasons.append(f"affected by {flag}")
        elif flag in policy.flag_priority:
            priority += policy.flag_priority[flag]
            reasons.append(f"flag {flag}")
    return RoutingAnswer(
        known=True,
        phone=phone,
        customer_id=row["id"],
        display_name=row["display_name"],
        language=language,
        tier=Tier(row["tier"]),
        priority=min(priority, 100),
        queue=queue,
        reasons=reasons,
    )


def _segment_args(query: SegmentQuery) -> list[Any]:
    return [
        [t.value for t in query.tier] if query.tier else None,
        query.tags or None,
        query.owner_id,
        query.value_segment or None,
        query.churn_risk or None,
        query.has_flag,
        query.has_open_order,
        query.last_purchase_before,
        query.last_purchase_after,
        query.bought_sku,
        query.language,
        query.country,
        query.channel.value,
        query.purpose.value,
    ]


async def segment_page(
    session: AsyncSession, query: SegmentQuery, principal: Principal, *, counts: bool = True
) -> SegmentPage:
    """One page of reachable customers the caller may see, and how many of those the
    filters matched and left out."""
    repo = InsightRepository(session)
    args = _segment_args(query)
    after = cursor_id(query.cursor, "after")
    rows = await repo.segment(args, principal, after, query.limit + 1)
    page = rows[: query.limit]
    matched, excluded = 0, {}
    if counts:
        totals = await repo.segment_counts(args, principal)
        matched = totals["matched"]
        excluded = {k: totals[k] for k in ("no_consent", "do_not_call", "no_contact")}
    return SegmentPage(
        items=[
            SegmentMember(
                customer_id=r["id"],
                display_name=r["display_name"],
                language=r["preferred_language"],
                tier=Tier(r["tier"]),
                channel=query.channel,
                contact=r["contact"],
            )
            for r in page
        ],
        next_cursor=encode_cursor({"after": str(page[-1]["id"])})
        if len(rows) > query.limit
        else None,
        matched=matched,
        excluded=excluded,
    )


async def indicators_of(
    session: AsyncSession, customer_id: UUID, principal: Principal, clock: Clock
) -> IndicatorsOut:
    """The customer's indicators as of the clock's now."""
    customer, _ = await readable_family(session, customer_id, principal)
    now = clock.now()
    values, flags = await current(session, customer.id, now)
    return IndicatorsOut(customer_id=customer.id, as_of=now, flags=flags, **values)


async def sales(
    session: AsyncSession, customer_id: UUID, interval: str, principal: Principal
) -> SalesSeries:
    customer, _ = await readable_family(session, customer_id, principal)
    found = await StatsRepository(session).stats(customer.id)
    state = found["state"] if found and found["state"] else empty_state()
    return SalesSeries.model_validate(
        {"customer_id": customer.id, "interval": interval, "items": sales_series(state, interval)}
    )


async def summary(session: AsyncSession, since: datetime, until: datetime) -> SummaryReport:
    """Company figures for a period, from the events (amounts survive erasure)."""
    # In UTC: arithmetic in a historical offset (0001-01-01T16:00-17:36) can leave year 1
    # as a local time although the instant is in range.
    since, until = since.astimezone(UTC), until.astimezone(UTC)
    repo = InsightRepository(session)
    current_rows = await repo.report_rows(since, until)
    # The period before, as long as this one, but no earlier than the first instant there is.
    earliest = datetime.min.replace(tzinfo=UTC)
    previous_rows = await repo.report_rows(since - min(until - since, since - earliest), since)
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


async def customer_ids_after(session: AsyncSession, after: UUID | None, limit: int) -> list[UUID]:
    return await MaintenanceRepository(session).customers_after(after, limit)


async def due_customers(session: AsyncSession, clock: Clock) -> list[UUID]:
    """Customers whose rules and indicators to evaluate again as of the clock's now: with
    flags or open alerts (a threshold may have changed), or whose indicators time alone
    changes by now (a window item expired, a purchase grew old)."""
    return await MaintenanceRepository(session).due(clock.now())
