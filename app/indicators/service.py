"""Keeping indicators, flags and alerts current as the history grows; the rules'
thresholds and the stored policies."""

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from app.alerts import service as alerts
from app.alerts.schemas import AlertOut
from app.alerts.service import RaisedAlert
from app.core.clock import Clock
from app.core.config import Settings
from app.core.db import Along, Executor
from app.core.errors import NotFound, invalid_field
from app.core.security import Principal
from app.customers.service import readable_family
from app.indicators import queries
from app.indicators.repository import PolicyRepository
from app.indicators.rules import (
    DEFAULT_RULES,
    RULE_WINDOWS,
    Condition,
    affected_orders,
    evaluate,
)
from app.indicators.schemas import (
    IndicatorsOut,
    RuleConfig,
    RuleOut,
    SalesSeries,
)
from app.indicators.shapes import (
    Derived,
    Evaluated,
    FlagEntry,
    IncidentRow,
    SavedStats,
    Snapshot,
    State,
    StatsRow,
)
from app.indicators.state import (
    Fact,
    ValuePolicy,
    derive,
    derive_and_next_change,
    empty_state,
    fold,
    fold_all,
    sales_series,
)
from app.outbox import queries as outbox


def value_policy(settings: Settings) -> ValuePolicy:
    """How money and segments are read, from the settings the service runs with."""
    return ValuePolicy(
        base_currency=settings.base_currency,
        rates=settings.rates(),
        champion_value=Decimal(settings.segment_champion_value),
        loyal_orders=settings.segment_loyal_orders,
        at_risk_days=settings.segment_at_risk_days,
        new_days=settings.segment_new_days,
    )


async def record(
    session: AsyncSession, facts: Sequence[tuple[UUID, Fact]], settings: Settings, clock: Clock
) -> None:
    """Fold newly stored events into their customers' stats, in the append's transaction,
    and a contact person's into its organisation's too."""
    if not facts:
        return
    locked = await queries.lock(session, [customer_id for customer_id, _ in facts])
    await record_locked(session, locked, facts, settings, clock)


async def record_locked(
    on: Executor,
    locked: queries.Locked,
    facts: Sequence[tuple[UUID, Fact]],
    settings: Settings,
    clock: Clock,
    along: Along | None = None,
) -> list[Any]:
    """``record``, the stats rows of the facts' customers locked already, with the stored
    policies and the incidents (as ``queries.lock`` returns them: the store of a batch's
    events does). ``along`` goes in the round trip that saves the stats; its rows are the
    answer."""
    rows, rules, incidents = locked
    by_customer = {row["customer_id"]: row for row in rows}
    for customer_id, fact in facts:
        row = by_customer[customer_id]
        row["state"] = fold(row["state"] or empty_state(), fact)
        organization = row["organization_id"]
        if organization is not None and organization in by_customer:
            held = by_customer[organization]
            held["state"] = fold(held["state"] or empty_state(), fact)
    return await _refresh(on, rows, rules, incidents, value_policy(settings), clock.now(), along)


async def rebuild(
    session: AsyncSession, customer_ids: Sequence[UUID], settings: Settings, clock: Clock
) -> int:
    """Recompute stats from the whole history (merged-in customers and an organisation's
    contact persons included), and the stats of the organisations of contacts among them."""
    rows, rules, incidents = await queries.lock(session, customer_ids)
    histories = await queries.histories(session, [row["customer_id"] for row in rows])
    for row in rows:
        row["state"] = fold_all(histories[row["customer_id"]])
    await _refresh(session, rows, rules, incidents, value_policy(settings), clock.now())
    return len(rows)


async def reevaluate(
    session: AsyncSession, customer_ids: Sequence[UUID], settings: Settings, clock: Clock
) -> None:
    """Evaluate rules again without new events (time passed, an incident opened or closed)."""
    rows, rules, incidents = await queries.lock(session, customer_ids)
    for row in rows:
        row["state"] = row["state"] or empty_state()
    await _refresh(session, rows, rules, incidents, value_policy(settings), clock.now())


async def _refresh(
    on: Executor,
    rows: list[StatsRow],
    rules: dict[str, dict[str, Any]],
    incidents: list[IncidentRow],
    policy: ValuePolicy,
    now: datetime,
    along: Along | None = None,
) -> list[Any]:
    """Derive indicators as of ``now`` and evaluate the ``rules`` (the stored policies)
    and the open ``incidents``' matchers, store it all (with ``along``, whose rows it
    answers), raise and clear alerts (raised and cleared at ``now``)."""
    raised: list[RaisedAlert] = []
    ended: list[tuple[UUID, str]] = []
    flags: list[list[str]] = []
    answer = await queries.save(on, [], now, along) if not rows else []
    # A part at a time: a bulk import's thousands of customers' indicators, held all at
    # once until saved, were 45 MiB of a worker's peak (docs/performance.md, "Memory").
    for start in range(0, len(rows), queries.SAVE_ROWS):
        saved: list[SavedStats] = []
        for row in rows[start : start + queries.SAVE_ROWS]:
            new, held = _derived(row, rules, incidents, policy, now)
            saved.append(new)
            holding = {c.rule for c in held}
            raised += [_raised(row, c) for c in held if c.rule not in row["open_rules"]]
            ended += [(row["customer_id"], rule) for rule in row["open_rules"] - holding]
        last = start + queries.SAVE_ROWS >= len(rows)
        answer = await queries.save(on, saved, now, along if last else None)
        flags += [new["flags"] for new in saved]
    await alerts.clear_alerts(on, ended, now)
    await alerts.raise_alerts(on, raised, now)
    await outbox.announce(
        on, _flag_changes(rows, flags) + _membership_changes(rows, flags, incidents)
    )
    return answer


def _derived(
    row: StatsRow,
    rules: dict[str, dict[str, Any]],
    incidents: list[IncidentRow],
    policy: ValuePolicy,
    now: datetime,
) -> tuple[SavedStats, list[Condition]]:
    """A stats row as saved, derived as of ``now``, and the conditions that hold."""
    derived, changes_at = derive_and_next_change(row["state"], now, policy)
    indicators, held = _evaluated(row["state"], derived, row["tier"], rules, incidents)
    value = indicators["value"]
    saved: SavedStats = {
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
        "reevaluate_at": changes_at,
    }
    return saved, held


def _raised(row: StatsRow, held: Condition) -> RaisedAlert:
    return {
        "customer_id": row["customer_id"],
        "rule": held.rule,
        "code": held.code,
        "severity": held.severity,
        "title": held.title,
        "detail": dict(held.detail),
        "owner_id": row["owner_id"],
    }


def _evaluated(
    state: State,
    derived: Derived,
    tier: str,
    rules: dict[str, dict[str, Any]],
    incidents: list[IncidentRow],
) -> tuple[Evaluated, list[Condition]]:
    """The indicators ``derived`` of ``state`` with the flags of the conditions the
    ``rules`` and the open ``incidents``' matchers find holding, and those conditions."""
    affecting = [
        (i["id"], i["title"], orders)
        for i in incidents
        if i["open"] and (orders := affected_orders(state, i["matcher"]))
    ]
    held = evaluate(derived, tier, affecting, rules)
    flags = [_flag_entry(c) for c in sorted(held, key=lambda c: c.code)]
    return {**derived, "flags": flags}, held


def _flag_entry(condition: Condition) -> FlagEntry:
    entry: FlagEntry = {
        "code": condition.code,
        "severity": condition.severity,
        "label": condition.label,
    }
    if "orders" in condition.detail:
        entry["orders"] = list(condition.detail["orders"])
    return entry


def _membership_changes(
    rows: list[StatsRow], flags: list[list[str]], incidents: list[IncidentRow]
) -> list[outbox.Fact]:
    """An ``incident.membership`` fact for each customer who joined an incident (its
    matcher found an order) or left it (the orders settled, or it closed)."""
    titles = {f"incident:{i['id']}": (i["id"], i["title"]) for i in incidents}
    changes = []
    for row, new in zip(rows, flags, strict=True):
        before, after = set(row["flags"]), set(new)
        for code in sorted((before ^ after) & titles.keys()):
            incident_id, title = titles[code]
            data = {
                "customer_id": str(row["customer_id"]),
                "incident_id": incident_id,
                "title": title,
                "affected": code in after,
            }
            changes.append(
                outbox.Fact("incident.membership", row["customer_id"], UUID(incident_id), data)
            )
    return changes


def _flag_changes(rows: list[StatsRow], flags: list[list[str]]) -> list[outbox.Fact]:
    """A ``flag.changed`` fact for each customer whose flags are not those stored before."""
    changes = []
    for row, new in zip(rows, flags, strict=True):
        before, after = set(row["flags"]), set(new)
        if before != after:
            data = {
                "customer_id": str(row["customer_id"]),
                "flags": sorted(after),
                "raised": sorted(after - before),
                "cleared": sorted(before - after),
            }
            changes.append(outbox.Fact("flag.changed", row["customer_id"], None, data))
    return changes


async def snapshot(
    on: Executor,
    customer_id: UUID,
    alert_limit: int,
    principal: Principal,
    now: datetime,
    policy: ValuePolicy,
) -> Snapshot:
    """What ``principal`` may read of the stats (state, flags, when last updated: None
    before any event) and up to ``alert_limit`` open alerts, newest first: as stored, but
    for an organisation some of whose contact persons it cannot see (see ``seen``)."""
    row = await queries.snapshot_row(on, customer_id, alert_limit, principal)
    return await seen(on, customer_id, row, principal, now, policy)


async def seen(
    on: Executor,
    customer_id: UUID,
    row: Any,
    principal: Principal,
    now: datetime,
    policy: ValuePolicy,
) -> Snapshot:
    """:func:`snapshot` from the row its statement read (``queries.snapshot_sql``; for a
    ficha, which reads it with other things). The stored stats and alerts of an
    organisation count every contact person's history: for a key that cannot see some of
    them (``hidden``), the state is folded from the history it sees and the flags are
    evaluated on it as the stored ones were, and no alert is shown (each counts the
    hidden ones too). Only that case reads more (two statements)."""
    if not row["hidden"]:
        return snapshot_of(row)
    return await folded(on, customer_id, principal, now, policy)


async def folded(
    on: Executor, customer_id: UUID, principal: Principal, now: datetime, policy: ValuePolicy
) -> Snapshot:
    """The stats of the history of a customer that ``principal`` sees, folded and
    evaluated as of ``now`` as stored stats are, without alerts (:func:`seen`)."""
    facts, tier, rules, incidents = await queries.seen_history(on, customer_id, principal)
    state = fold_all(facts)
    evaluated, _ = _evaluated(state, derive(state, now, policy), tier, rules, incidents)
    return {
        "state": state,
        "flags": evaluated["flags"],
        "updated_at": now if facts else None,
        "alerts": [],
    }


def snapshot_of(row: Any) -> Snapshot:
    """The stats as stored, from the row ``queries.snapshot_sql`` read."""
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
    session: AsyncSession,
    customer_id: UUID,
    principal: Principal,
    settings: Settings,
    now: datetime,
) -> tuple[Derived, list[FlagEntry]]:
    """Indicators as of ``now`` (time windows move on) and the flags set by the last
    evaluation, as ``principal`` may read them (:func:`snapshot`)."""
    policy = value_policy(settings)
    stored = await snapshot(session, customer_id, 0, principal, now, policy)
    return derive(stored["state"], now, policy), stored["flags"]


# --- the API's read and admin operations -----------------------------------------------

RULE_NAMES = tuple(DEFAULT_RULES)


class RuleNotFound(NotFound):
    """No rule of this name (GET /v1/rules lists them)."""

    code = "rule-not-found"
    title = "Rule not found"
    example = ("No rule 'unhappy_streak'.", {})


async def stored_policy(on: Executor, name: str) -> dict[str, Any] | None:
    """A stored policy's settings (a rule's thresholds, routing, retention); None when
    none was ever stored."""
    return (await queries.stored_policies(on)).get(name)


async def put_policy(session: AsyncSession, name: str, config: dict[str, Any]) -> None:
    """Store a policy's settings; the next decision that reads it uses them."""
    await PolicyRepository(session).put_policy(name, config)


async def rules(session: AsyncSession) -> list[RuleOut]:
    stored = await queries.stored_policies(session)
    return [_rule_out(name, stored.get(name, {})) for name in RULE_NAMES]


def _rule_out(name: str, stored: dict[str, Any]) -> RuleOut:
    return RuleOut(
        rule=name, config={**DEFAULT_RULES[name], **stored}, windows=RULE_WINDOWS.get(name, {})
    )


async def put_rule(session: AsyncSession, name: str, config: RuleConfig, clock: Clock) -> RuleOut:
    """Store a rule's settings; the customers it concerns are due at the next maintenance
    pass (and ``rules sweep``), so that a changed threshold raises and clears alerts
    without waiting for each customer's next event."""
    if name not in DEFAULT_RULES:
        raise RuleNotFound(f"No rule '{name}'; the rules are {', '.join(RULE_NAMES)}.")
    values = config.model_dump(mode="json", exclude_none=True)
    allowed = set(DEFAULT_RULES[name])
    for key in values:
        if key not in allowed:
            raise invalid_field(f"body.{key}", f"rule '{name}' has no setting '{key}'")
    await put_policy(session, name, values)
    await queries.make_due(session, name, clock.now())
    return _rule_out(name, values)


async def indicators_of(
    session: AsyncSession,
    customer_id: UUID,
    principal: Principal,
    settings: Settings,
    clock: Clock,
) -> IndicatorsOut:
    """The customer's indicators as of the clock's now."""
    customer, _ = await readable_family(session, customer_id, principal)
    now = clock.now()
    values, flags = await current(session, customer.id, principal, settings, now)
    return IndicatorsOut(customer_id=customer.id, as_of=now, flags=flags, **values)


async def sales(
    session: AsyncSession,
    customer_id: UUID,
    interval: str,
    principal: Principal,
    settings: Settings,
    clock: Clock,
) -> SalesSeries:
    customer, _ = await readable_family(session, customer_id, principal)
    policy = value_policy(settings)
    state = (await snapshot(session, customer.id, 0, principal, clock.now(), policy))["state"]
    return SalesSeries.model_validate(
        {"customer_id": customer.id, "interval": interval, "items": sales_series(state, interval)}
    )


async def customer_ids_after(session: AsyncSession, after: UUID | None, limit: int) -> list[UUID]:
    return await queries.customers_after(session, after, limit)


async def due_customers(session: AsyncSession, clock: Clock) -> list[UUID]:
    """Customers whose rules and indicators to evaluate again as of the clock's now: with
    flags or open alerts (a threshold may have changed), or whose indicators time alone
    changes by now (a window item expired, a purchase grew old)."""
    return await queries.due(session, clock.now())
