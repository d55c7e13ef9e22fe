"""Routing an incoming call: queue and priority from the caller's tier, language and
flags (a contact person's with its organisation's: the better tier, every flag), by an
admin-editable policy."""

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import Settings
from app.core.db import Executor
from app.core.security import Principal
from app.customers.schemas import Tier
from app.indicators import service as indicators
from app.indicators.cache import PolicyCache
from app.routing import queries
from app.routing.schemas import RoutingAnswer, RoutingPolicy

ROUTING = "routing"
# Tiers from worst to best: a contact person is routed with the better of its own and
# its organisation's.
_RANK = [Tier.STANDARD, Tier.PREMIUM, Tier.VIP]


async def routing_policy(on: Executor) -> RoutingPolicy:
    return _policy(await indicators.stored_policy(on, ROUTING))


def _policy(stored: dict[str, Any] | None) -> RoutingPolicy:
    return RoutingPolicy.model_validate(stored) if stored else RoutingPolicy()


async def put_routing_policy(session: AsyncSession, policy: RoutingPolicy) -> RoutingPolicy:
    await indicators.put_policy(session, ROUTING, policy.model_dump(mode="json"))
    return policy


async def route(
    on: Executor,
    policies: PolicyCache,
    readings: list[str],
    principal: Principal,
    settings: Settings,
    now: datetime,
) -> RoutingAnswer:
    """Queue and priority for an incoming call from a caller id of these ``readings``
    (``caller_readings``): one lookup, no history read, the policy as this process keeps
    it. A caller the key may not see is routed exactly as an unknown number; so is one
    whose readings name several customers, with that reason (the IVR asks, it does not
    guess). The flags of an organisation some of whose contact persons the key cannot see
    are those of the history it sees (``indicators.folded``): only then is it read."""
    policy = _policy(await policies.stored(on, ROUTING))
    rows = await queries.route(on, readings, principal)
    if len({r["id"] for r in rows}) != 1:
        reason = (
            f"caller id {' or '.join(readings)} names several customers"
            if rows
            else "unknown caller"
        )
        return RoutingAnswer(
            known=False,
            phone=readings[0],
            priority=policy.unknown_priority,
            queue=policy.default_queue,
            reasons=[reason],
        )
    row = rows[0]
    tier, whose = Tier(row["tier"]), ""
    organization = row["organization_name"]
    if organization is not None and _RANK.index(Tier(row["organization_tier"])) > _RANK.index(tier):
        tier, whose = Tier(row["organization_tier"]), f" of organization {organization}"
    tier_rule = policy.tiers.get(tier, {"queue": policy.default_queue, "priority": 0})
    queue, priority = tier_rule["queue"], int(tier_rule["priority"])
    reasons = [f"tier {tier.value}{whose}"]
    language = row["preferred_language"]
    if language and language.split("-")[0] in policy.language_queues:
        queue = policy.language_queues[language.split("-")[0]]
        reasons.append(f"language {language}")
    own, affecting = row["flags"] or [], row["affecting"] or []
    their = row["organization_flags"] or []
    if row["hidden"]:
        seen = await indicators.folded(
            on, row["id"], principal, now, indicators.value_policy(settings)
        )
        own = [flag["code"] for flag in seen["flags"]]
        affecting = [flag for flag in seen["flags"] if "orders" in flag]
    if row["organization_hidden"]:
        held = await indicators.folded(
            on, row["organization_id"], principal, now, indicators.value_policy(settings)
        )
        their = [flag["code"] for flag in held["flags"]]
    inherited = [f for f in their if f not in own]
    whose_flag = dict.fromkeys(own, "") | dict.fromkeys(
        inherited, f" of organization {organization}"
    )
    for flag, whose in whose_flag.items():
        if flag in policy.flag_priority:
            priority += policy.flag_priority[flag]
            reasons.append(f"flag {flag}{whose}")
    queued = sorted(
        (policy.flag_queues[f].priority, f) for f in whose_flag if f in policy.flag_queues
    )
    if queued:
        flag = queued[-1][1]
        queue = policy.flag_queues[flag].queue
        priority = max(priority, policy.flag_queues[flag].priority)
        reasons.append(f"flag {flag}{whose_flag[flag]} to queue {queue}")
    affected_orders: list[str] = []
    for entry in affecting:
        # The incident's flag, with the orders it affects (what the IVR reads out).
        queue, affected_orders = entry["code"], entry["orders"]
        priority = max(priority, policy.incident_priority)
        reasons.append(f"affected by {entry['code']}")
    return RoutingAnswer(
        known=True,
        phone=row["phone"],
        customer_id=row["id"],
        display_name=row["display_name"],
        language=language,
        tier=tier,
        priority=min(priority, 100),
        queue=queue,
        reasons=reasons,
        affected_orders=affected_orders,
    )
