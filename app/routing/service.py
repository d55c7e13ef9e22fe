"""Routing an incoming call: queue and priority from the caller's tier, language and
flags, by an admin-editable policy."""

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import Executor
from app.core.security import Principal
from app.customers.schemas import Tier
from app.indicators import service as indicators
from app.routing import queries
from app.routing.schemas import RoutingAnswer, RoutingPolicy

ROUTING = "routing"


async def routing_policy(on: Executor) -> RoutingPolicy:
    stored = await indicators.stored_policy(on, ROUTING)
    return RoutingPolicy.model_validate(stored) if stored else RoutingPolicy()


async def put_routing_policy(session: AsyncSession, policy: RoutingPolicy) -> RoutingPolicy:
    await indicators.put_policy(session, ROUTING, policy.model_dump(mode="json"))
    return policy


async def route(on: Executor, readings: list[str], principal: Principal) -> RoutingAnswer:
    """Queue and priority for an incoming call from a caller id of these ``readings``
    (``caller_readings``): one lookup, no history read. A caller the key may not see is
    routed exactly as an unknown number; so is one whose readings name several customers,
    with that reason (the IVR asks, it does not guess)."""
    policy = await routing_policy(on)
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
    phone = row["phone"]
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
