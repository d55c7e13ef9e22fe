"""Built-in rules over a customer's indicators: which flags hold now (pure, no I/O)."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypedDict, cast

from app.customers.schemas import Tier
from app.indicators.shapes import Derived, State


class RuleSettings(TypedDict, total=False):
    """A rule's settings: each rule takes those its default names (``DEFAULT_RULES``)."""

    enabled: bool
    threshold: int
    tiers: list[str]
    actions: list[dict[str, Any]]


# Defaults; an admin changes them at run time with PUT /v1/rules/{rule}.
# ``actions``: what the service does while an alert of the rule stays open; a message
# action queues a template for the customer ``after_minutes`` after the alert is raised,
# sent only if the alert is still open then (app/messages/journeys.py).
DEFAULT_RULES: dict[str, RuleSettings] = {
    "unsatisfied_streak": {"enabled": True, "threshold": 3, "actions": []},
    "premium_abandoned_calls": {
        "enabled": True,
        "threshold": 4,
        "tiers": [Tier.PREMIUM, Tier.VIP],
        "actions": [{"kind": "message", "template": "abandoned_calls", "after_minutes": 30}],
    },
    "recurring_problem": {"enabled": True, "threshold": 2, "actions": []},
    "open_dispute": {"enabled": True, "actions": []},
    "incident_affected": {"enabled": True, "actions": []},
    "urgent_message": {"enabled": True, "actions": []},
    "angry_message": {"enabled": True, "actions": []},
}
# The windows the rules count over: those of the indicators they read (unsatisfied_90d,
# missed_calls_4h, ticket_categories_60d), fixed, shown beside the settings.
RULE_WINDOWS: dict[str, dict[str, int]] = {
    "unsatisfied_streak": {"days": 90},
    "premium_abandoned_calls": {"hours": 4},
    "recurring_problem": {"days": 60},
    "urgent_message": {"hours": 24},
    "angry_message": {"hours": 24},
}


@dataclass(frozen=True, slots=True)
class Condition:
    """A rule holding for a customer: the flag it shows and the alert it raises."""

    rule: str
    code: str
    severity: str  # info | warning | danger
    label: str
    title: str
    detail: Mapping[str, Any]


# An order an incident's matcher no longer finds once it reached one of these.
_SETTLED = {"delivered", "cancelled", "refunded"}


def affected_orders(state: State, matcher: Mapping[str, Any]) -> list[str]:
    """The customer's orders an incident's matcher finds (a ``shipment_delay``: shipped by
    its carrier, any case, between ``shipped_from`` and ``shipped_to``, and neither
    delivered, cancelled nor refunded since), in id order. A function of the state alone,
    so that membership moves with each event and a rebuild finds the same."""
    start = datetime.fromisoformat(matcher["shipped_from"])
    end = datetime.fromisoformat(matcher["shipped_to"])
    carrier = (matcher.get("carrier") or "").casefold()
    return sorted(
        order_id
        for order_id, order in state["orders"].items()
        if order.get("shipped_at")
        and start <= datetime.fromisoformat(order["shipped_at"]) < end
        and (not carrier or (order.get("carrier") or "").casefold() == carrier)
        and order["status"] not in _SETTLED
        and not order.get("delivered_at")
    )


def evaluate(
    indicators: Derived,
    tier: str,
    incidents: Sequence[tuple[str, str, list[str]]],
    rules: Mapping[str, Mapping[str, Any]],
) -> list[Condition]:
    """The conditions that hold, given derived indicators, the tier and the open incidents
    affecting the customer (id, title, the orders it affects)."""
    held: list[Condition] = []

    def on(name: str) -> RuleSettings | None:
        # The stored settings were checked against RuleConfig when an admin stored them.
        config = cast(RuleSettings, {**DEFAULT_RULES[name], **rules.get(name, {})})
        return config if config.get("enabled", True) else None

    satisfaction = indicators["satisfaction"]
    contact = indicators["contact"]
    if (rule := on("unsatisfied_streak")) and satisfaction["unsatisfied_90d"] >= rule["threshold"]:
        count = satisfaction["unsatisfied_90d"]
        held.append(
            Condition(
                "unsatisfied_streak",
                "at_risk",
                "danger",
                "At risk",
                f"Loyalty action: {count} unsatisfied contacts in 90 days",
                {"unsatisfied_90d": count},
            )
        )
    if (
        (rule := on("premium_abandoned_calls"))
        and tier in rule["tiers"]
        and contact["missed_calls_4h"] >= rule["threshold"]
    ):
        count = contact["missed_calls_4h"]
        held.append(
            Condition(
                "premium_abandoned_calls",
                "abandoned_calls",
                "danger",
                "Calls abandoned",
                f"Urgent: {tier} customer abandoned {count} calls in 4 hours",
                {"missed_calls_4h": count},
            )
        )
    seen = indicators["service"]["ticket_categories_60d"]
    rule = on("recurring_problem")
    categories = sorted(c for c, n in seen.items() if rule and n >= rule["threshold"])
    if categories:
        held.append(
            Condition(
                "recurring_problem",
                "recurring_problem",
                "warning",
                "Recurring problem",
                f"Recurring problem: {', '.join(categories)}",
                {"categories": categories},
            )
        )
    if on("open_dispute") and indicators["value"]["open_disputes"]:
        disputes = indicators["value"]["open_disputes"]
        held.append(
            Condition(
                "open_dispute",
                "open_dispute",
                "danger",
                "Open dispute",
                f"Open payment dispute ({', '.join(disputes)})",
                {"disputes": disputes},
            )
        )
    text = indicators["text"]
    if on("urgent_message") and text["urgent_24h"]:
        urgent = text["urgent_24h"][-1]
        reasons = ", ".join(r.replace("_", " ") for r in urgent["reasons"])
        held.append(
            Condition(
                "urgent_message",
                "urgent_message",
                "danger",
                "Urgent message",
                f"Urgent message from the customer ({reasons})",
                {"audience": "owner", **urgent},
            )
        )
    if on("angry_message") and text["angry_24h"]:
        angry = text["angry_24h"][-1]
        held.append(
            Condition(
                "angry_message",
                "angry_customer",
                "danger",
                "Angry customer",
                "Supervisor: "
                + ("abusive message" if angry["abusive"] else "very negative message")
                + " from the customer",
                {"audience": "supervisor", **angry},
            )
        )
    if on("incident_affected"):
        for incident_id, title, orders in incidents:
            held.append(
                Condition(
                    f"incident_affected:{incident_id}",
                    f"incident:{incident_id}",
                    "warning",
                    "Affected by incident",
                    f"Affected by incident: {title}",
                    {"incident_id": incident_id, "orders": orders},
                )
            )
    return held
