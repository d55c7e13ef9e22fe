"""Routing an incoming call: queue and priority from the caller's tier, language and
flags, by an admin-editable policy."""

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import Executor
from app.core.security import Principal
from app.customers.schemas import Tier
from app.indicators import service as indicators
from app.indicators.cache import PolicyCache
from app.routing import queries
from app.routing.schemas import RoutingAnswer, RoutingPolicy

ROUTING = "routing"


async def routing_policy(on: Executor) -> RoutingPolicy:
    return _policy(await indicators.stored_policy(on, ROUTING))


def _policy(stored: dict[str, Any] | None) -> RoutingPolicy:
    return RoutingPolicy.model_validate(stored) if stored else RoutingPolicy()


async def put_routing_policy(session: AsyncSession, policy: RoutingPolicy) -> RoutingPolicy:
    await indicators.put_policy(session, ROUTING, policy.model_dump(mode="json"))
    return policy


async def route(
    on: Executor, policies: PolicyCache, phone: str, principal: Principal
) -> RoutingAnswer:
    """Queue and priority for an incoming call: one lookup, no history read, the policy
    as this process keeps it. A caller the key may not see is routed exactly as an unknown
    number."""
    policy = _policy(await policies.stored(on, ROUTING))
    row = await queries.route(on, phone, principal)
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
    flags = row["flags"] or []
    for flag in flags:
        if flag in policy.flag_priority:
            priority += policy.flag_priority[flag]
            reasons.append(f"flag {flag}")
    queued = sorted((policy.flag_queues[f].priority, f) for f in flags if f in policy.flag_queues)
    if queued:
        flag = queued[-1][1]
        queue = policy.flag_queues[flag].queue
        priority = max(priority, policy.flag_queues[flag].priority)
        reasons.append(f"flag {flag} to queue {queue}")
    for flag in flags:
        if flag.startswith("incident:"):
            queue = flag
            priority = max(priority, policy.incident_priority)
            reasons.append(f"affected by {flag}")
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
