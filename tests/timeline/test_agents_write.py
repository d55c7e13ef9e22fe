"""Agents write on the customers they see, as themselves: notes (pinned or not) and call
wrap-ups, for every job role; integration keys keep writing everything."""

import httpx
import pytest

from app.core.security import JOB_ROLES, Role
from tests.support.api import append, event, new_customer, timeline
from tests.support.fixtures import MakeKey


@pytest.mark.parametrize("role", JOB_ROLES)
async def test_every_job_role_writes_notes_and_wrap_ups_as_its_agent(
    client: httpx.AsyncClient, admin: dict[str, str], make_key: MakeKey, role: Role
) -> None:
    customer = await new_customer(client, admin, owner_id="agent-7")
    key = await make_key(role, agent_id="agent-7")
    note = await client.post(
        f"/v1/customers/{customer}/notes",
        json={"text": "Wants a call after 17:00", "pinned": True, "actor": "someone-else"},
        headers=key,
    )
    assert note.status_code == 422  # nobody writes as another agent: there is no actor field
    note = await client.post(
        f"/v1/customers/{customer}/notes",
        json={"text": "Wants a call after 17:00", "pinned": True},
        headers=key,
    )
    assert note.status_code == 201, note.text
    assert note.headers["Location"].endswith(f"/v1/customers/{customer}/timeline")
    assert note.json()["type"] == "note.added"
    assert note.json()["actor"] == "agent-7"
    assert note.json()["payload"] == {"text": "Wants a call after 17:00", "pinned": True}
    wrap_up = await client.post(
        f"/v1/customers/{customer}/wrap-ups",
        json={
            "call_id": "CA-1",
            "disposition": "callback",
            "wrap_up_codes": ["refund", "delivery"],
            "satisfaction": "unsatisfied",
        },
        headers=key,
    )
    assert wrap_up.status_code == 201, wrap_up.text
    assert wrap_up.json()["type"] == "call.wrapped_up"
    assert wrap_up.json()["actor"] == "agent-7"
    assert wrap_up.json()["channel"] == "phone"
    assert wrap_up.json()["payload"]["wrap_up_codes"] == ["refund", "delivery"]
    assert wrap_up.json()["summary"] == "Call wrapped up: callback (refund, delivery)"
    items = (await timeline(client, admin, customer))["items"]
    assert {(i["type"], i["actor"]) for i in items} == {
        ("note.added", "agent-7"),
        ("call.wrapped_up", "agent-7"),
    }
    indicators = (await client.get(f"/v1/customers/{customer}/indicators", headers=key)).json()
    assert indicators["satisfaction"]["unsatisfied_90d"] == 1
    # The generic append stays the integrations' own.
    assert (await append(client, key, customer, event())).status_code == 403


async def test_a_pinned_note_shows_in_the_ficha(
    client: httpx.AsyncClient, admin: dict[str, str], make_key: MakeKey
) -> None:
    customer = await new_customer(client, admin)
    support = await make_key(Role.SUPPORT, agent_id="agent-2")
    for text, pinned in (("Allergic to latex gloves", True), ("Asked about stock", False)):
        response = await client.post(
            f"/v1/customers/{customer}/notes",
            json={"text": text, "pinned": pinned},
            headers=support,
        )
        assert response.status_code == 201
    ficha = (
        await client.get(
            f"/v1/customers/{customer}/ficha", params={"role": "support"}, headers=support
        )
    ).json()
    pinned = ficha["sections"]["pinned_notes"]["items"]
    assert [(n["text"], n["actor"]) for n in pinned] == [("Allergic to latex gloves", "agent-2")]


async def test_a_note_retried_with_its_key_is_stored_once(
    client: httpx.AsyncClient, admin: dict[str, str], make_key: MakeKey
) -> None:
    customer = await new_customer(client, admin)
    sales = await make_key(Role.SALES, agent_id="agent-3")
    headers = {**sales, "Idempotency-Key": "note-1"}
    first = await client.post(
        f"/v1/customers/{customer}/notes", json={"text": "Quote sent"}, headers=headers
    )
    again = await client.post(
        f"/v1/customers/{customer}/notes", json={"text": "Quote sent"}, headers=headers
    )
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]


async def test_a_job_key_without_an_agent_may_not_write(
    client: httpx.AsyncClient, admin: dict[str, str], make_key: MakeKey
) -> None:
    customer = await new_customer(client, admin)
    anonymous = await make_key(Role.COLLECTIONS)
    response = await client.post(
        f"/v1/customers/{customer}/notes", json={"text": "Promise to pay"}, headers=anonymous
    )
    assert response.status_code == 403
    assert "names none" in response.json()["detail"]


async def test_owned_only_keys_write_on_their_owners_customers_only(
    client: httpx.AsyncClient, admin: dict[str, str], make_key: MakeKey
) -> None:
    mine = await new_customer(client, admin, owner_id="agent-1")
    theirs = await new_customer(client, admin, owner_id="agent-2")
    owned = await make_key(Role.SUPPORT, agent_id="agent-1", owned_only=True)
    for path, body in (
        ("notes", {"text": "Checked"}),
        ("wrap-ups", {"disposition": "resolved"}),
    ):
        assert (
            await client.post(f"/v1/customers/{mine}/{path}", json=body, headers=owned)
        ).status_code == 201
        hidden = await client.post(f"/v1/customers/{theirs}/{path}", json=body, headers=owned)
        missing = await client.post(
            "/v1/customers/01933b8e-8a52-7cc2-9d0e-0c6f2b1e3a10/" + path, json=body, headers=owned
        )
        assert hidden.status_code == missing.status_code == 404
        assert hidden.json()["detail"].replace(theirs, "X") == missing.json()["detail"].replace(
            "01933b8e-8a52-7cc2-9d0e-0c6f2b1e3a10", "X"
        )


async def test_integration_and_admin_keys_write_everything(
    client: httpx.AsyncClient, admin: dict[str, str], make_key: MakeKey
) -> None:
    customer = await new_customer(client, admin)
    integration = await make_key(Role.INTEGRATION)
    assert (await append(client, integration, customer, event("call.completed"))).status_code == 201
    note = await client.post(
        f"/v1/customers/{customer}/notes", json={"text": "Imported"}, headers=integration
    )
    assert note.status_code == 201
    assert note.json()["actor"] is None  # a key without an agent writes as nobody in particular
