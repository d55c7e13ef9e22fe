"""Follow-up tasks: written by agents, created from alerts, listed per assignee, snoozed,
reassigned and completed under If-Match, shown in the ficha, recorded on the timeline."""

from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import Settings
from app.core.pagination import encode_cursor
from app.core.security import JOB_ROLES, Role
from app.tasks.service import follow_up_alerts
from tests.support.api import append, new_customer, timeline
from tests.support.clock import ControlledClock
from tests.support.fixtures import MakeKey


async def create(
    client: httpx.AsyncClient, key: dict[str, str], customer: str, **body: Any
) -> dict[str, Any]:
    response = await client.post(
        "/v1/tasks", json={"customer_id": customer, "title": "Call back", **body}, headers=key
    )
    assert response.status_code == 201, response.text
    assert response.headers["Location"].endswith(f"/v1/tasks/{response.json()['id']}")
    assert response.headers["ETag"] == '"1"'
    return dict(response.json())


async def tasks(
    client: httpx.AsyncClient, key: dict[str, str], **params: Any
) -> list[dict[str, Any]]:
    response = await client.get("/v1/tasks", params=params, headers=key)
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


async def test_every_job_role_writes_follow_ups_as_its_agent(
    client: httpx.AsyncClient, admin: dict[str, str], make_key: MakeKey, clock: ControlledClock
) -> None:
    customer = await new_customer(client, admin)
    for role in JOB_ROLES:
        key = await make_key(role, agent_id=f"agent-{role.value}")
        task = await create(client, key, customer, title=f"{role.value} follow-up")
        assert task["created_by"] == task["assignee"] == f"agent-{role.value}"
        assert task["status"] == "open" and task["alert_id"] is None
    events = (await timeline(client, admin, customer, type="task.created"))["items"]
    assert {e["actor"] for e in events} == {f"agent-{r.value}" for r in JOB_ROLES}
    assert {e["summary"] for e in events} >= {"Follow-up: support follow-up"}


async def test_listed_per_assignee_status_and_due_time_soonest_first(
    client: httpx.AsyncClient, admin: dict[str, str], make_key: MakeKey, clock: ControlledClock
) -> None:
    customer = await new_customer(client, admin)
    ana = await make_key(Role.SUPPORT, agent_id="ana")
    soon = clock.now() + timedelta(hours=1)
    later = clock.now() + timedelta(days=2)
    t_later = await create(client, ana, customer, title="later", due_at=later.isoformat())
    t_soon = await create(client, ana, customer, title="soon", due_at=soon.isoformat())
    t_none = await create(client, ana, customer, title="whenever")
    await create(client, ana, customer, title="for luis", assignee="luis")
    mine = await tasks(client, ana, assignee="ana")
    assert [t["id"] for t in mine] == [t_soon["id"], t_later["id"], t_none["id"]]
    first = await client.get("/v1/tasks", params={"assignee": "ana", "limit": 2}, headers=ana)
    rest = await client.get(
        "/v1/tasks", params={"assignee": "ana", "cursor": first.json()["next_cursor"]}, headers=ana
    )
    assert [t["id"] for t in first.json()["items"] + rest.json()["items"]] == [
        t["id"] for t in mine
    ]
    assert rest.json()["next_cursor"] is None
    due = await tasks(
        client, ana, assignee="ana", due_before=(soon + timedelta(hours=1)).isoformat()
    )
    assert [t["id"] for t in due] == [t_soon["id"]]
    assert [t["title"] for t in await tasks(client, ana, assignee="luis")] == ["for luis"]
    bad = await client.get("/v1/tasks", params={"cursor": "nonsense"}, headers=ana)
    assert bad.status_code == 400
    # One at a time: the page after an undated task resumes after it too.
    await create(client, ana, customer, title="whenever, too")
    mine = await tasks(client, ana, assignee="ana")
    assert len(mine) == 4
    walked, cursor = [], None
    for _ in range(5):
        params = {"assignee": "ana", "limit": 1, **({"cursor": cursor} if cursor else {})}
        page = await client.get("/v1/tasks", params=params, headers=ana)
        assert page.status_code == 200, page.text
        walked += [t["id"] for t in page.json()["items"]]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
    assert walked == [t["id"] for t in mine]


@pytest.mark.parametrize(
    "due", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "2026-01-01T00:00:00"]
)
async def test_a_forged_cursor_s_time_is_a_400(
    client: httpx.AsyncClient, make_key: MakeKey, due: str
) -> None:
    """A time outside the years a timestamptz converts to, or without its offset."""
    ana = await make_key(Role.SUPPORT, agent_id="ana")
    position = {"due": due, "after": "01a234e4-1051-71be-a791-47ef6aed7566"}
    forged = encode_cursor(position)
    response = await client.get("/v1/tasks", params={"cursor": forged}, headers=ana)
    assert response.status_code == 400, response.text
    assert response.json()["type"].endswith("invalid-cursor")


async def test_snooze_reassign_and_complete_under_if_match(
    client: httpx.AsyncClient, admin: dict[str, str], make_key: MakeKey, clock: ControlledClock
) -> None:
    customer = await new_customer(client, admin)
    ana = await make_key(Role.SALES, agent_id="ana")
    task = await create(client, ana, customer)
    path = f"/v1/tasks/{task['id']}"
    until = clock.now() + timedelta(hours=3)
    snooze = {"status": "snoozed", "snoozed_until": until.isoformat()}
    assert (await client.patch(path, json=snooze, headers=ana)).status_code == 428
    stale = await client.patch(path, json=snooze, headers={**ana, "If-Match": '"7"'})
    assert stale.status_code == 412
    snoozed = await client.patch(path, json=snooze, headers={**ana, "If-Match": '"1"'})
    assert snoozed.status_code == 200, snoozed.text
    assert snoozed.json()["status"] == "snoozed" and snoozed.headers["ETag"] == '"2"'
    assert await tasks(client, ana, status="open") == []
    assert [t["id"] for t in await tasks(client, ana, status="snoozed")] == [task["id"]]
    clock.advance(timedelta(hours=4))
    assert [t["status"] for t in await tasks(client, ana, status="open")] == ["open"]
    no_time = await client.patch(
        path, json={"status": "snoozed"}, headers={**ana, "If-Match": '"2"'}
    )
    assert no_time.status_code == 422
    moved = await client.patch(path, json={"assignee": "luis"}, headers={**ana, "If-Match": '"2"'})
    assert moved.json()["assignee"] == "luis"
    done = await client.patch(path, json={"status": "done"}, headers={**ana, "If-Match": '"3"'})
    assert done.status_code == 200
    assert (done.json()["status"], done.json()["completed_by"]) == ("done", "ana")
    [completed] = (await timeline(client, admin, customer, type="task.completed"))["items"]
    assert completed["actor"] == "ana" and completed["payload"]["task_id"] == task["id"]
    got = await client.get(path, headers=ana)
    assert got.headers["ETag"] == '"4"' and got.json()["status"] == "done"


async def test_owned_only_keys_see_and_change_only_their_owners_tasks(
    client: httpx.AsyncClient, admin: dict[str, str], make_key: MakeKey
) -> None:
    mine = await new_customer(client, admin, owner_id="agent-1")
    theirs = await new_customer(client, admin, owner_id="agent-2")
    owned = await make_key(Role.SUPPORT, agent_id="agent-1", owned_only=True)
    other = await create(client, admin, theirs, assignee="agent-1")
    await create(client, owned, mine)
    refused = await client.post(
        "/v1/tasks", json={"customer_id": theirs, "title": "x"}, headers=owned
    )
    assert refused.status_code == 404
    assert [t["customer_id"] for t in await tasks(client, owned, assignee="agent-1")] == [mine]
    path = f"/v1/tasks/{other['id']}"
    assert (await client.get(path, headers=owned)).status_code == 404
    patched = await client.patch(
        path, json={"status": "done"}, headers={**owned, "If-Match": '"1"'}
    )
    assert patched.status_code == 404


async def test_a_rule_action_creates_one_follow_up_per_alert(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    session: AsyncSession,
    settings: Settings,
    clock: ControlledClock,
) -> None:
    action = {"kind": "create_follow_up", "due_minutes": 60}
    put = await client.put("/v1/rules/open_dispute", json={"actions": [action]}, headers=admin)
    assert put.status_code == 200, put.text
    assert put.json()["config"]["actions"] == [action]
    customer = await new_customer(client, admin, owner_id="agent-5")
    dispute = {"payment_id": "p1", "amount": "9.00", "currency": "EUR"}
    await append(
        client,
        admin,
        customer,
        {"type": "payment.disputed", "occurred_at": clock.now().isoformat(), "payload": dispute},
    )
    [alert] = (
        await client.get("/v1/alerts", params={"customer_id": customer}, headers=admin)
    ).json()["items"]
    assert await follow_up_alerts(session, settings, clock) == 1
    assert await follow_up_alerts(session, settings, clock) == 0  # once per alert
    [task] = await tasks(client, admin, customer_id=customer)
    assert task["alert_id"] == alert["id"] and task["assignee"] == "agent-5"
    assert task["title"] == alert["title"] and task["created_by"] is None
    ficha = await client.get(
        f"/v1/customers/{customer}/ficha", params={"role": "support"}, headers=admin
    )
    assert "follow_ups" not in ficha.json()["sections"]  # not in the support template yet
    template = (await client.get("/v1/ficha-templates/support", headers=admin)).json()
    sections = [*template["sections"], {"name": "follow_ups", "limit": 3}]
    put = await client.put(
        "/v1/ficha-templates/support", json={"sections": sections}, headers=admin
    )
    assert put.status_code == 200, put.text
    ficha = await client.get(
        f"/v1/customers/{customer}/ficha", params={"role": "support", "lang": "es"}, headers=admin
    )
    shown = ficha.json()["sections"]["follow_ups"]
    assert shown["label"] == "Seguimientos"
    assert [(i["id"], i["alert_id"], i["overdue"]) for i in shown["items"]] == [
        (task["id"], alert["id"], False)
    ]
