"""Routing, segments and alerts answer an owned-only key as if others' customers did not
exist; the segment CSV cannot carry a spreadsheet formula."""

import csv
import io
from typing import Any

import httpx
import pytest

from app.core.db import Database
from app.core.security import Role
from tests.support.api import create_customer
from tests.support.clock import ControlledClock
from tests.support.fixtures import MakeKey
from tests.support.world import (
    MY_AGENT,
    THEIR_AGENT,
    World,
    build_world,
    committed_key,
    leaks,
)


@pytest.fixture
async def world(client: httpx.AsyncClient, admin: dict[str, str], clock: ControlledClock) -> World:
    return await build_world(client, admin, clock)


async def test_routing_treats_an_invisible_caller_as_an_unknown_number(
    client: httpx.AsyncClient, make_key: MakeKey, world: World
) -> None:
    mine = await make_key(Role.SUPPORT, agent_id=MY_AGENT, owned_only=True)
    theirs = await client.get(f"/v1/routing/by-phone/{world.theirs.phone}", headers=mine)
    unknown = await client.get("/v1/routing/by-phone/%2B34699000999", headers=mine)
    assert theirs.status_code == unknown.status_code == 200
    assert {**theirs.json(), "phone": None} == {**unknown.json(), "phone": None}
    assert theirs.json()["known"] is False
    assert leaks(world, theirs.text, sent=world.theirs.phone) == [], "only the number asked"
    own = (await client.get(f"/v1/routing/by-phone/{world.mine.phone}", headers=mine)).json()
    assert own["known"] is True and own["customer_id"] == world.mine.person


async def test_segments_list_and_count_only_the_keys_customers(
    live: tuple[httpx.AsyncClient, dict[str, str]], database: Database, clock: ControlledClock
) -> None:
    """JSON pages and the CSV (which reads in sessions of its own: committed data)."""
    client, admin = live
    world = await build_world(client, admin, clock)
    for role in (Role.MARKETING, Role.SALES, Role.COLLECTIONS):
        mine = await committed_key(database, role, agent_id=MY_AGENT, owned_only=True)
        for channel in ("email", "phone", "post"):
            query = {"channel": channel, "limit": 10}
            page = await client.post("/v1/segments/query", json=query, headers=mine)
            assert page.status_code == 200, page.text
            body = page.json()
            assert [m["customer_id"] for m in body["items"]] == [world.mine.person]
            # A's active customers: the person (consents given), the organisation and its
            # contact (no consent); the merged duplicate is no longer active.
            assert body["matched"] == 3 and body["excluded"]["no_consent"] == 2, body
            assert leaks(world, page.text) == []
            as_csv = await client.post(
                "/v1/segments/query", json=query, headers={**mine, "Accept": "text/csv"}
            )
            assert as_csv.status_code == 200
            rows = list(csv.DictReader(io.StringIO(as_csv.text)))
            assert [r["customer_id"] for r in rows] == [world.mine.person]
            assert leaks(world, as_csv.text) == []
            owned_by_them = await client.post(
                "/v1/segments/query", json={**query, "owner_id": THEIR_AGENT}, headers=mine
            )
            assert owned_by_them.json() == {
                "items": [],
                "next_cursor": None,
                "matched": 0,
                "excluded": {"no_consent": 0, "do_not_call": 0, "no_contact": 0},
            }


async def _me(client: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, Any]:
    return dict((await client.get("/v1/me", headers=headers)).json())


async def test_only_the_owner_a_supervisor_or_an_admin_acknowledges_an_alert(
    client: httpx.AsyncClient, make_key: MakeKey, admin: dict[str, str], world: World
) -> None:
    alert = world.theirs.alert
    ack = f"/v1/alerts/{alert}/ack"
    other_owned = await make_key(Role.SUPPORT, agent_id=MY_AGENT, owned_only=True)
    hidden = await client.post(ack, headers=other_owned)
    assert hidden.status_code == 404 and leaks(world, hidden.text, sent=ack) == []
    for stranger in (
        await make_key(Role.SUPPORT, agent_id="agent-c"),  # sees every customer
        await make_key(Role.INTEGRATION),  # no agent at all
        await make_key(Role.COLLECTIONS, agent_id=MY_AGENT),
    ):
        refused = await client.post(ack, headers=stranger)
        assert refused.status_code == 403, refused.text
    listed = await client.get("/v1/alerts", params={"status": "open"}, headers=admin)
    assert alert in [a["id"] for a in listed.json()["items"]], "refusals acknowledge nothing"

    owner = await make_key(Role.SUPPORT, agent_id=THEIR_AGENT, owned_only=True)
    done = await client.post(ack, headers=owner)
    assert done.status_code == 200, done.text
    body = done.json()
    assert body["status"] == "acknowledged" and body["acknowledged_by"] == THEIR_AGENT
    assert body["acknowledged_by_key_id"] == (await _me(client, owner))["key_id"]

    supervisor = await make_key(Role.SUPPORT, agent_id="lead-1", supervisor=True)
    assert (await _me(client, supervisor))["supervisor"] is True
    mine = await client.post(f"/v1/alerts/{world.mine.alert}/ack", headers=supervisor)
    assert mine.status_code == 200 and mine.json()["acknowledged_by"] == "lead-1"


async def test_an_admin_acknowledges_any_alert_and_is_recorded_by_key(
    client: httpx.AsyncClient, make_key: MakeKey, admin: dict[str, str], world: World
) -> None:
    done = await client.post(f"/v1/alerts/{world.theirs.alert}/ack", headers=admin)
    assert done.status_code == 200, done.text
    body = done.json()
    assert body["acknowledged_by"] is None
    assert body["acknowledged_by_key_id"] == (await _me(client, admin))["key_id"]


async def test_a_handed_over_customers_alert_goes_with_it(
    client: httpx.AsyncClient, make_key: MakeKey, admin: dict[str, str], world: World
) -> None:
    """Visibility and the right to acknowledge follow the customer's current owner."""
    path = f"/v1/customers/{world.mine.person}"
    etag = (await client.get(path, headers=admin)).headers["ETag"]
    patched = await client.patch(
        path, json={"owner_id": "agent-c"}, headers={**admin, "If-Match": etag}
    )
    assert patched.status_code == 200, patched.text
    old_owner = await make_key(Role.SUPPORT, agent_id=MY_AGENT, owned_only=True)
    listed = await client.get("/v1/alerts", headers=old_owner)
    assert [a["id"] for a in listed.json()["items"]] == []
    gone = await client.post(f"/v1/alerts/{world.mine.alert}/ack", headers=old_owner)
    assert gone.status_code == 404
    new_owner = await make_key(Role.SUPPORT, agent_id="agent-c", owned_only=True)
    [alert] = (await client.get("/v1/alerts", headers=new_owner)).json()["items"]
    assert alert["id"] == world.mine.alert and alert["owner_id"] == "agent-c"
    done = await client.post(f"/v1/alerts/{world.mine.alert}/ack", headers=new_owner)
    assert done.status_code == 200, done.text


async def test_segment_csv_neutralises_formulas_but_keeps_phone_numbers(
    live: tuple[httpx.AsyncClient, dict[str, str]],
) -> None:
    """Every cell that a spreadsheet would read as a formula starts with a quote, except
    phone numbers in the E.164 form the service stores: `+` then digits cannot hold a
    formula, and dialers and mailers need them exactly."""
    client, admin = live
    names = ['=HYPERLINK("http://evil.example","Click")', "+SUM(1,2)", "-2+3", "@SUM(1)"]
    for n, name in enumerate(names):
        customer = await create_customer(
            client,
            admin,
            display_name=name,
            address={"street": f"\t=cmd|' /C calc'!A{n}", "city": "Sevilla"},
            identifiers=[
                {"kind": "phone", "value": f"+3461100010{n}"},
                {"kind": "email", "value": f"=1+{n}@example.com"},
            ],
        )
        for channel in ("phone", "email", "post"):
            response = await client.post(
                f"/v1/customers/{customer['id']}/consents",
                json={"channel": channel, "purpose": "marketing", "granted": True, "source": "t"},
                headers=admin,
            )
            assert response.status_code == 201
    cells: dict[str, list[dict[str, str]]] = {}
    for channel in ("phone", "email", "post"):
        response = await client.post(
            "/v1/segments/query",
            json={"channel": channel},
            headers={**admin, "Accept": "text/csv"},
        )
        cells[channel] = list(csv.DictReader(io.StringIO(response.text)))
        assert len(cells[channel]) == len(names)
    every_cell = [v for rows in cells.values() for row in rows for v in row.values()]
    dangerous = [v for v in every_cell if v[:1] in {"=", "+", "-", "@", "\t", "\r"}]
    phones = sorted(row["contact"] for row in cells["phone"])
    assert dangerous == phones, "only the E.164 phone numbers keep their leading +"
    assert phones == [f"+3461100010{n}" for n in range(len(names))]
    assert sorted(row["display_name"] for row in cells["phone"]) == sorted(
        "'" + name for name in names
    )
    assert sorted(row["contact"] for row in cells["email"]) == [
        f"'=1+{n}@example.com" for n in range(len(names))
    ]
    assert all(row["contact"].startswith("'\t=cmd") for row in cells["post"])


async def test_incidents_count_only_the_customers_the_key_sees(
    client: httpx.AsyncClient, make_key: MakeKey, admin: dict[str, str], clock: ControlledClock
) -> None:
    shipped = clock.ago(days=1).isoformat()
    for owner in (MY_AGENT, THEIR_AGENT, THEIR_AGENT):
        customer = await create_customer(
            client, admin, display_name=f"Parcel {owner}", owner_id=owner
        )
        response = await client.post(
            f"/v1/customers/{customer['id']}/events",
            json={
                "type": "order.shipped",
                "occurred_at": shipped,
                "payload": {"order_id": f"o-{customer['id'][-6:]}", "carrier": "STRIKEBOUND"},
            },
            headers=admin,
        )
        assert response.status_code == 201, response.text
    declared = await client.post(
        "/v1/incidents",
        json={
            "title": "Strike",
            "matcher": {
                "carrier": "strikebound",  # no other test's carrier: these three parcels alone
                "shipped_from": clock.ago(days=2).isoformat(),
                "shipped_to": clock.now().isoformat(),
            },
        },
        headers=admin,
    )
    assert declared.json()["affected"] == 3
    mine = await make_key(Role.SUPPORT, agent_id=MY_AGENT, owned_only=True)

    async def this_incident(headers: dict[str, str]) -> dict[str, Any]:
        listed = (await client.get("/v1/incidents", headers=headers)).json()["items"]
        return next(i for i in listed if i["id"] == declared.json()["id"])

    assert (await this_incident(mine))["affected"] == 1, "the key's own customers only"
    assert (await this_incident(admin))["affected"] == 3
