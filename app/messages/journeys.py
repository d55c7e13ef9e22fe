"""Journeys: messages the service plans by itself.

- A rule's ``message`` actions (``PUT /v1/rules/{rule}``, ``actions``): when an alert of
  the rule is raised, a message with the action's template is queued for the customer,
  ``after_minutes`` later, once per alert; the sender cancels it if by then the alert was
  acknowledged or cleared (the abandoned-calls journey: "we saw your four calls").
- An incident declared with a ``message``: every affected customer is queued the
  template once, those it affects when declared and those who join later (the
  carrier-delay journey).

Each message is then sent as any other: consent, do-not-contact, contact hours and language
are checked when it goes out.
"""

from collections.abc import Sequence
from datetime import timedelta
from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from app.alerts import service as alerts
from app.core.clock import Clock
from app.core.errors import invalid_field
from app.indicators import service as indicators
from app.messages.models import INCIDENT_ORIGIN
from app.messages.repository import MessageRepository
from app.messages.service import queue, template_for


def _fields(alert: dict[str, Any]) -> dict[str, str]:
    """An alert's details as a template's fields (lists joined), with its title."""
    fields = {"alert_title": alert["title"]}
    for key, value in alert["detail"].items():
        fields[key] = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
    return fields


async def plan_rule_messages(session: AsyncSession, clock: Clock) -> int:
    """Queue the message of every rule's message action for each open alert of the rule
    that has none yet; how many were queued."""
    actions = {
        rule.rule: [a for a in rule.config.get("actions", []) if a.get("kind") == "message"]
        for rule in await indicators.rules(session)
    }
    actions = {rule: found for rule, found in actions.items() if found}
    if not actions:
        return 0
    open_alerts = await alerts.open_of_rules(session, list(actions))
    repo = MessageRepository(session)
    wanted = [
        (alert, action, f"alert:{alert['id']}:{action['template']}")
        for alert in open_alerts
        for action in actions[alert["rule"]]
    ]
    done = await repo.dedupe_keys([(alert["customer_id"], key) for alert, _, key in wanted])
    queued = 0
    for alert, action, key in wanted:
        if (alert["customer_id"], key) in done:
            continue
        template = await repo.template(action["template"])
        message = await queue(
            session,
            alert["customer_id"],
            action["template"],
            template.purpose if template else "service",
            _fields(alert),
            f"rule:{alert['rule']}",
            alert["raised_at"] + timedelta(minutes=action.get("after_minutes", 0)),
            clock.now(),
            dedupe=key,
            alert_id=alert["id"],
        )
        queued += message is not None
    return queued


async def incident_template(session: AsyncSession, name: str) -> str:
    """The name of a template an incident can message (its only field the incident's
    title), or a 422 naming ``body.message.template``."""
    template = await template_for(session, name, "body.message.template")
    if set(template.fields) - {"incident_title"}:
        reason = f"the template needs fields an incident does not give: {template.fields}"
        raise invalid_field("body.message.template", reason)
    return template.name


async def message_affected(
    session: AsyncSession,
    incident_id: UUID,
    title: str,
    members: Sequence[UUID],
    template_name: str,
    clock: Clock,
) -> int:
    """Queue ``template_name`` for each customer an incident affects who has not had it
    (once per customer and incident); how many were queued."""
    key = f"{INCIDENT_ORIGIN}{incident_id}"
    repo = MessageRepository(session)
    done = await repo.dedupe_keys([(customer_id, key) for customer_id in members])
    wanted = [customer_id for customer_id in members if (customer_id, key) not in done]
    if not wanted:
        return 0
    template = await repo.template(template_name)
    now = clock.now()
    queued = 0
    for customer_id in wanted:
        message = await queue(
            session,
            customer_id,
            template_name,
            template.purpose if template else "service",
            {"incident_title": title},
            key,
            now,
            now,
            dedupe=key,
        )
        queued += message is not None
    return queued
