"""A rich customer and how a test reads its ficha: an organisation with a contact person
who bought, complained, was quoted, browsed and has notes, preferences and a follow-up."""

from typing import Any

import httpx

from tests.support.api import append, new_customer
from tests.support.clock import ControlledClock


def ago(clock: ControlledClock, days: float) -> str:
    """The clock's now less ``days``, as an event's ``occurred_at``."""
    return clock.ago(days=days).isoformat()


async def rich_customer(
    client: httpx.AsyncClient, admin: dict[str, str], clock: ControlledClock
) -> dict[str, str]:
    """An organisation with a contact person who bought, complained and has preferences."""
    org = await new_customer(
        client, admin, kind="organization", display_name="Talleres Núñez S.L.", tier="vip"
    )
    person = await new_customer(
        client,
        admin,
        display_name="Lucía Núñez",
        given_name="Lucía",
        family_name="Núñez",
        organization_id=org,
        tier="vip",
        owner_id="agent-1",
        preferred_language="es",
        identifiers=[
            {"kind": "phone", "value": "612 34 56 78"},
            {"kind": "email", "value": "lucia@example.com"},
        ],
    )
    events: list[tuple[str, float, dict[str, Any]]] = [
        (
            "order.placed",
            60,
            {
                "order_id": "A1",
                "total": "120.00",
                "currency": "EUR",
                "items": [{"sku": "BOOT", "name": "Botas de montaña", "qty": 1}],
            },
        ),
        ("order.delivered", 55, {"order_id": "A1"}),
        ("order.placed", 10, {"order_id": "A2", "total": "80.00", "currency": "EUR"}),
        ("order.shipped", 8, {"order_id": "A2", "carrier": "SEUR", "tracking": "X1"}),
        ("order.refunded", 50, {"order_id": "A1", "refund_amount": "20.00", "currency": "EUR"}),
        ("ticket.opened", 20, {"ticket_id": "T1", "category": "delivery", "subject": "Late"}),
        ("ticket.opened", 5, {"ticket_id": "T2", "category": "delivery", "subject": "Late again"}),
        (
            "ticket.resolved",
            18,
            {"ticket_id": "T1", "category": "delivery", "resolution": "Resent by courier"},
        ),
        ("survey.answered", 19, {"csat": 1}),
        ("survey.answered", 6, {"csat": 2}),
        ("survey.answered", 4, {"nps": 3}),
        ("payment.disputed", 3, {"payment_id": "pi_9", "amount": "80.00", "currency": "EUR"}),
        (
            "payment.failed",
            2,
            {
                "payment_id": "pi_10",
                "amount": "15.00",
                "currency": "EUR",
                "reason": "card declined",
            },
        ),
        ("invoice.overdue", 1, {"invoice_id": "F-7", "amount": "300.00", "currency": "EUR"}),
        ("quote.sent", 2, {"quote_id": "Q-1", "amount": "900.00", "currency": "EUR"}),
        ("web.page_viewed", 1, {"url": "https://shop.example/boots"}),
        ("note.added", 1, {"text": "Prefers mornings", "pinned": True}),
        ("call.completed", 0.5, {"from": "+34612345678", "duration_s": 120, "agent": "agent-1"}),
    ]
    for type_, days, payload in events:
        response = await append(
            client,
            admin,
            person,
            {"type": type_, "occurred_at": ago(clock, days), "payload": payload},
        )
        assert response.status_code == 201, response.text
    await client.put(
        f"/v1/customers/{person}/preferences",
        json={"preferred_channel": "email", "do_not_call": True, "notes": "No sales calls"},
        headers=admin,
    )
    for channel, granted in (("email", True), ("phone", False)):
        await client.post(
            f"/v1/customers/{person}/consents",
            headers=admin,
            json={"channel": channel, "purpose": "marketing", "granted": granted, "source": "form"},
        )
    follow_up = {"customer_id": person, "title": "Call back about F-7", "assignee": "agent-1"}
    created = await client.post("/v1/tasks", json=follow_up, headers=admin)
    assert created.status_code == 201, created.text
    return {"org": org, "person": person}


# What the rich customer's contact person's events name: its orders, tickets, invoice,
# payments and products.
PERSON_MARKERS = ("A1", "A2", "T1", "T2", "Late", "F-7", "pi_9", "pi_10", "card declined", "BOOT")


async def hand_over(
    client: httpx.AsyncClient, admin: dict[str, str], customer: str, owner: str
) -> None:
    """Give ``customer`` to the agent ``owner``."""
    url = f"/v1/customers/{customer}"
    etag = (await client.get(url, headers=admin)).headers["etag"]
    changed = await client.patch(
        url,
        json={"owner_id": owner},
        headers={**admin, "content-type": "application/merge-patch+json", "If-Match": etag},
    )
    assert changed.status_code == 200, changed.text


async def ficha(
    client: httpx.AsyncClient, headers: dict[str, str], customer: str, role: str, **params: Any
) -> dict[str, Any]:
    response = await client.get(
        f"/v1/customers/{customer}/ficha", params={"role": role, **params}, headers=headers
    )
    assert response.status_code == 200, response.text
    return response.json()
