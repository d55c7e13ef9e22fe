"""Journey 3, end to end through the API and signed webhooks: an incident is declared for
a carrier and a window; a customer whose parcel is delivered afterwards leaves it, a
shipment reported later joins it (and gets the incident's message, once), closing ends it;
the routing answer gives the IVR what it needs to address the caller. The defects issue 21
saw (membership frozen at declaration, the routing answer without the orders) are
regression tests here."""

import json
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.security import Role
from app.incidents import service as incidents
from tests.support.api import new_customer
from tests.support.clock import ControlledClock
from tests.support.fixtures import MakeKey
from tests.support.webhooks import signed_generic

DELIVERED_LATER = "+34612345201"
SHIPPED_LATER = "+34612345202"
UNTOUCHED = "+34612345203"


async def order_event(
    client: httpx.AsyncClient, clock: ControlledClock, phone: str, kind: str, order: str, **p: Any
) -> None:
    """The shop's order event, through the signed generic source."""
    body = json.dumps(
        {
            "customer": {"phone": phone},
            "type": f"order.{kind}",
            "occurred_at": (clock.now() - timedelta(hours=1)).isoformat(),
            "source_event_id": f"{order}-{kind}",
            "payload": {"order_id": order, **p},
        }
    ).encode()
    delivered = await client.post(
        "/v1/webhooks/generic", content=body, headers=signed_generic(body, f"{order}-{kind}")
    )
    assert delivered.status_code == 200, delivered.text


async def route(client: httpx.AsyncClient, headers: dict[str, str], phone: str) -> Any:
    answer = await client.get(f"/v1/routing/by-phone/{phone}", headers=headers)
    assert answer.status_code == 200, answer.text
    return answer.json()


async def memberships(session: AsyncSession) -> list[tuple[str, bool]]:
    """The ``incident.membership`` facts written to the outbox: (customer, affected)."""
    rows = await session.execute(
        text("SELECT data FROM outbox WHERE kind = 'incident.membership' ORDER BY seq")
    )
    return [(r.data["customer_id"], r.data["affected"]) for r in rows]


async def test_membership_follows_the_orders_and_ends_when_closed(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    make_key: MakeKey,
    session: AsyncSession,
    clock: ControlledClock,
) -> None:
    sub = await client.post(
        "/v1/webhook-subscriptions",
        json={"url": "https://crm.example.com/hooks", "kinds": ["incident.membership"]},
        headers=admin,
    )
    assert sub.status_code == 201, sub.text
    delivered_later = await new_customer(
        client,
        admin,
        display_name="Marta Gil",
        preferred_language="es",
        owner_id="agent-1",
        identifiers=[{"kind": "phone", "value": DELIVERED_LATER}],
    )
    shipped_later = await new_customer(
        client,
        admin,
        display_name="João Silva",
        preferred_language="pt",
        owner_id="agent-2",
        identifiers=[{"kind": "phone", "value": SHIPPED_LATER}],
    )
    await new_customer(client, admin, identifiers=[{"kind": "phone", "value": UNTOUCHED}])
    await order_event(client, clock, DELIVERED_LATER, "shipped", "1001", carrier="SEUR")
    await order_event(client, clock, DELIVERED_LATER, "shipped", "1002", carrier="seur")
    await order_event(client, clock, UNTOUCHED, "shipped", "3001", carrier="MRW")

    declared = await client.post(
        "/v1/incidents",
        json={
            "title": "SEUR Madrid",
            "matcher": {
                "kind": "shipment_delay",
                "carrier": "SEUR",
                "shipped_from": (clock.now() - timedelta(days=2)).isoformat(),
                "shipped_to": (clock.now() + timedelta(days=1)).isoformat(),
            },
            "message": {"template": "carrier_delay"},
        },
        headers=admin,
    )
    assert declared.status_code == 201, declared.text
    incident = declared.json()
    queue = f"incident:{incident['id']}"
    assert (incident["affected"], incident["messages_queued"]) == (1, 1)

    answer = await route(client, admin, DELIVERED_LATER)
    assert answer["queue"] == queue
    assert (answer["display_name"], answer["language"]) == ("Marta Gil", "es")
    assert answer["affected_orders"] == ["1001", "1002"]
    assert (await route(client, admin, UNTOUCHED))["queue"] == "default"

    # One parcel arrives: the other still holds the customer in the incident.
    await order_event(client, clock, DELIVERED_LATER, "delivered", "1001")
    assert (await route(client, admin, DELIVERED_LATER))["affected_orders"] == ["1002"]
    # The second is cancelled: they leave the incident's queue.
    await order_event(client, clock, DELIVERED_LATER, "cancelled", "1002")
    answer = await route(client, admin, DELIVERED_LATER)
    assert (answer["queue"], answer["affected_orders"]) == ("default", [])

    # A shipment in the window reported after the declaration joins its customer.
    await order_event(client, clock, SHIPPED_LATER, "shipped", "2001", carrier="SEUR")
    answer = await route(client, admin, SHIPPED_LATER)
    assert (answer["queue"], answer["affected_orders"]) == (queue, ["2001"])
    assert (answer["display_name"], answer["language"]) == ("João Silva", "pt")
    # ...and gets the incident's message, once, at the next messages pass.
    assert await incidents.message_new_members(session, clock) == 1
    assert await incidents.message_new_members(session, clock) == 0
    sent = (await client.get(f"/v1/customers/{shipped_later}/messages", headers=admin)).json()
    assert [m["template"] for m in sent["items"]] == ["carrier_delay"]

    listed = (await client.get("/v1/incidents", headers=admin)).json()["items"]
    assert [i["affected"] for i in listed if i["id"] == incident["id"]] == [1]
    # An owned-only key counts only its owner's customers among the members.
    for agent, seen in (("agent-1", 0), ("agent-2", 1)):
        mine = await make_key(Role.SUPPORT, owned_only=True, agent_id=agent)
        listed = (await client.get("/v1/incidents", headers=mine)).json()["items"]
        assert [i["affected"] for i in listed if i["id"] == incident["id"]] == [seen]

    closed = await client.post(f"/v1/incidents/{incident['id']}/close", headers=admin)
    assert (closed.json()["status"], closed.json()["affected"]) == ("closed", 0)
    answer = await route(client, admin, SHIPPED_LATER)
    assert (answer["queue"], answer["affected_orders"]) == ("default", [])
    # Closed, it no longer takes anyone in.
    await order_event(client, clock, SHIPPED_LATER, "shipped", "2002", carrier="SEUR")
    assert (await route(client, admin, SHIPPED_LATER))["queue"] == "default"

    assert await memberships(session) == [
        (delivered_later, True),
        (delivered_later, False),
        (shipped_later, True),
        (shipped_later, False),
    ]
