"""Journey 1, end to end through the API and signed webhooks: three unsatisfied contacts
raise the at-risk flag and its alert, a follow-up lands on the owner's list, the next call
is routed to the VIP service, the owner acknowledges the alert as themselves; the defects
issue 21 saw on the way are regression tests here."""

import json
from datetime import timedelta

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import Settings
from app.core.security import Role
from app.indicators import service as indicators
from app.tasks.service import follow_up_alerts
from tests.support.api import new_customer
from tests.support.clock import ControlledClock
from tests.support.fixtures import MakeKey
from tests.support.webhooks import signed_generic

PHONE = "+34612345099"


async def test_three_unsatisfied_contacts_reach_the_vip_queue_on_the_next_call(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    make_key: MakeKey,
    session: AsyncSession,
    settings: Settings,
    clock: ControlledClock,
) -> None:
    policy = (await client.get("/v1/routing/policy", headers=admin)).json()
    policy["flag_queues"] = {"at_risk": {"queue": "vip", "priority": 80}}
    assert (await client.put("/v1/routing/policy", json=policy, headers=admin)).status_code == 200
    action = {"kind": "create_follow_up", "title": "Loyalty call", "due_minutes": 120}
    put = await client.put(
        "/v1/rules/unsatisfied_streak", json={"actions": [action]}, headers=admin
    )
    assert put.status_code == 200, put.text

    customer = await new_customer(
        client,
        admin,
        display_name="Marta Gil",
        owner_id="agent-3",
        identifiers=[{"kind": "phone", "value": PHONE}],
    )
    assert (await client.get(f"/v1/routing/by-phone/{PHONE}", headers=admin)).json()[
        "queue"
    ] == "default"

    # Two unsatisfied surveys from the survey platform, through the signed generic source...
    for n in (1, 2):
        body = json.dumps(
            {
                "customer": {"phone": PHONE},
                "type": "survey.answered",
                "occurred_at": (clock.now() - timedelta(days=10 - n)).isoformat(),
                "source_event_id": f"survey-{n}",
                "payload": {"csat": 1},
            }
        ).encode()
        delivered = await client.post(
            "/v1/webhooks/generic", content=body, headers=signed_generic(body, f"msg-{n}")
        )
        assert delivered.status_code == 200, delivered.text
    # ...and a third contact the support agent wraps up as unsatisfied, as themselves.
    support = await make_key(Role.SUPPORT, agent_id="agent-9")
    wrap_up = await client.post(
        f"/v1/customers/{customer}/wrap-ups",
        json={
            "disposition": "complaint",
            "wrap_up_codes": ["delivery"],
            "satisfaction": "unsatisfied",
        },
        headers=support,
    )
    assert wrap_up.status_code == 201, wrap_up.text

    flags = (await client.get(f"/v1/customers/{customer}/indicators", headers=admin)).json()[
        "flags"
    ]
    assert "at_risk" in [f["code"] for f in flags]
    [alert] = (
        await client.get("/v1/alerts", params={"customer_id": customer}, headers=admin)
    ).json()["items"]
    assert alert["owner_id"] == "agent-3" and alert["rule"] == "unsatisfied_streak"

    # The maintenance pass turns the alert into the owner's follow-up.
    assert await follow_up_alerts(session, settings, clock) == 1
    owner = await make_key(Role.SALES, agent_id="agent-3")
    [task] = (
        await client.get(
            "/v1/tasks", params={"assignee": "agent-3", "status": "open"}, headers=owner
        )
    ).json()["items"]
    assert (task["title"], task["alert_id"]) == ("Loyalty call", alert["id"])

    # The next call goes to the VIP service (flag_queues was a 422).
    routed = (await client.get(f"/v1/routing/by-phone/{PHONE}", headers=admin)).json()
    assert (routed["queue"], routed["priority"], routed["display_name"]) == ("vip", 80, "Marta Gil")
    assert "flag at_risk to queue vip" in routed["reasons"]

    # Acknowledging: not by another job's agent, by the owner, recorded as the agent.
    ack = f"/v1/alerts/{alert['id']}/ack"
    assert (await client.post(ack, headers=support)).status_code == 403
    acknowledged = await client.post(ack, headers=owner)
    assert acknowledged.status_code == 200
    assert acknowledged.json()["acknowledged_by"] == "agent-3"

    # Raising the threshold clears the flag at the next sweep; setting it back raises it
    # again at the next sweep, without a new event (the flag came back only with one).
    for threshold, held in ((5, False), (3, True)):
        put = await client.put(
            "/v1/rules/unsatisfied_streak",
            json={"threshold": threshold, "actions": [action]},
            headers=admin,
        )
        assert put.status_code == 200
        due = await indicators.due_customers(session, clock)
        await indicators.reevaluate(session, due, settings, clock)
        routed = (await client.get(f"/v1/routing/by-phone/{PHONE}", headers=admin)).json()
        assert (routed["queue"] == "vip") is held, threshold
