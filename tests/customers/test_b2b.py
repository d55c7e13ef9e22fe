"""Organisations and their contact persons: routing, the contact's ficha, the
organisation's timeline and indicators."""

from typing import Any

import httpx

from tests.support.api import append, new_customer, timeline
from tests.support.clock import ControlledClock


async def _b2b(
    client: httpx.AsyncClient, admin: dict[str, str], clock: ControlledClock
) -> dict[str, str]:
    """A VIP organisation worth 30,000 € with an open dispute, and its CTO (standard)."""
    org = await new_customer(
        client, admin, kind="organization", display_name="Acme Industrial S.A.", tier="vip"
    )
    cto = await new_customer(
        client,
        admin,
        display_name="Marta Gil",
        organization_id=org,
        identifiers=[{"kind": "phone", "value": "+34 611 222 333"}],
    )
    for body in (
        {
            "type": "order.placed",
            "occurred_at": clock.ago(days=30).isoformat(),
            "payload": {"order_id": "B-1", "total": "30000.00", "currency": "EUR"},
        },
        {
            "type": "payment.disputed",
            "occurred_at": clock.ago(days=2).isoformat(),
            "payload": {"payment_id": "pd-1", "amount": "900.00", "currency": "EUR"},
        },
    ):
        assert (await append(client, admin, org, body)).status_code == 201
    return {"org": org, "cto": cto}


async def test_a_contact_is_routed_with_the_better_of_its_own_and_its_organisation(
    client: httpx.AsyncClient, admin: dict[str, str], clock: ControlledClock
) -> None:
    """The CTO of a VIP organisation was routed as standard, priority 20."""
    b2b = await _b2b(client, admin, clock)
    answer = (await client.get("/v1/routing/by-phone/611222333", headers=admin)).json()
    assert answer["customer_id"] == b2b["cto"]
    assert (answer["tier"], answer["queue"], answer["priority"]) == ("vip", "vip", 90)
    assert "tier vip of organization Acme Industrial S.A." in answer["reasons"]
    assert "flag open_dispute of organization Acme Industrial S.A." in answer["reasons"]
    # Its own flags and tier still count: a contact better than its organisation keeps
    # its own.
    await _patch(client, admin, b2b["org"], {"tier": "standard"})
    await _patch(client, admin, b2b["cto"], {"tier": "premium"})
    answer = (await client.get("/v1/routing/by-phone/611222333", headers=admin)).json()
    assert (answer["tier"], answer["queue"]) == ("premium", "premium")
    assert "tier premium" in answer["reasons"]


async def _patch(
    client: httpx.AsyncClient, admin: dict[str, str], customer: str, patch: dict[str, Any]
) -> None:
    url = f"/v1/customers/{customer}"
    etag = (await client.get(url, headers=admin)).headers["etag"]
    headers = {**admin, "content-type": "application/merge-patch+json", "If-Match": etag}
    response = await client.patch(url, json=patch, headers=headers)
    assert response.status_code == 200, response.text


async def test_a_contacts_ficha_shows_its_organisations_value_and_satisfaction_that_differ(
    client: httpx.AsyncClient, admin: dict[str, str], clock: ControlledClock
) -> None:
    b2b = await _b2b(client, admin, clock)
    response = await client.get(
        f"/v1/customers/{b2b['cto']}/ficha", params={"role": "sales"}, headers=admin
    )
    assert response.status_code == 200, response.text
    indicators = response.json()["sections"]["indicators"]
    assert indicators["value"] == {"level": "none", "icon": "value_none"}
    assert indicators["organization"] == {"value": {"level": "high", "icon": "value_high"}}, (
        "its organisation's value, which differs; not its satisfaction, unknown for both"
    )
    # The organisation's own ficha has none: it is no contact.
    own = await client.get(
        f"/v1/customers/{b2b['org']}/ficha", params={"role": "sales"}, headers=admin
    )
    assert "organization" not in own.json()["sections"]["indicators"]


async def test_an_organisations_timeline_and_indicators_count_its_contacts(
    client: httpx.AsyncClient, admin: dict[str, str], clock: ControlledClock
) -> None:
    b2b = await _b2b(client, admin, clock)
    call = {
        "type": "call.completed",
        "occurred_at": clock.ago(days=1).isoformat(),
        "payload": {"from": "+34611222333", "duration_s": 240, "agent": "agent-2"},
    }
    order = {
        "type": "order.placed",
        "occurred_at": clock.ago(days=1).isoformat(),
        "payload": {"order_id": "B-2", "total": "500.00", "currency": "EUR"},
    }
    survey = {"type": "survey.answered", "occurred_at": clock.ago(days=1).isoformat()}
    for body in (call, order, {**survey, "payload": {"csat": 1}}):
        assert (await append(client, admin, b2b["cto"], body)).status_code == 201
    page = await timeline(client, admin, b2b["org"])
    whose = {(e["type"], e["customer_id"]) for e in page["items"]}
    assert ("call.completed", b2b["cto"]) in whose
    assert ("order.placed", b2b["org"]) in whose
    alone = await timeline(client, admin, b2b["org"], contacts="false")
    assert {e["customer_id"] for e in alone["items"]} == {b2b["org"]}
    # The contact's own timeline is its own.
    assert {e["customer_id"] for e in (await timeline(client, admin, b2b["cto"]))["items"]} == {
        b2b["cto"]
    }
    indicators: dict[str, Any] = (
        await client.get(f"/v1/customers/{b2b['org']}/indicators", headers=admin)
    ).json()
    assert indicators["value"]["lifetime_value_base"]["amount"] == "30500.00"
    assert indicators["value"]["order_count"] == 2
    assert indicators["satisfaction"]["last_csat"] == 1


async def test_a_contact_joining_or_leaving_moves_its_history_in_the_indicators(
    client: httpx.AsyncClient, admin: dict[str, str], clock: ControlledClock
) -> None:
    b2b = await _b2b(client, admin, clock)
    order = {
        "type": "order.placed",
        "occurred_at": clock.ago(days=1).isoformat(),
        "payload": {"order_id": "B-2", "total": "500.00", "currency": "EUR"},
    }
    assert (await append(client, admin, b2b["cto"], order)).status_code == 201

    async def org_value() -> str:
        found = await client.get(f"/v1/customers/{b2b['org']}/indicators", headers=admin)
        return str(found.json()["value"]["lifetime_value_base"]["amount"])

    assert await org_value() == "30500.00"
    await _patch(client, admin, b2b["cto"], {"organization_id": None})
    assert await org_value() == "30000.00"
    await _patch(client, admin, b2b["cto"], {"organization_id": b2b["org"]})
    assert await org_value() == "30500.00"


async def test_an_organisation_that_does_not_exist_is_never_named(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    """No foreign key stands behind organization_id (it may name a customer on another
    node): the service refuses a customer that is not there, on creation and on change."""
    nobody = "00000000-0000-7000-8000-000000000001"
    created = await client.post(
        "/v1/customers", json={"display_name": "B", "organization_id": nobody}, headers=admin
    )
    assert created.status_code == 422, created.text
    assert created.json()["errors"][0]["field"] == "body.organization_id"
    person = await new_customer(client, admin, display_name="C")
    url = f"/v1/customers/{person}"
    etag = (await client.get(url, headers=admin)).headers["etag"]
    headers = {**admin, "content-type": "application/merge-patch+json", "If-Match": etag}
    changed = await client.patch(url, json={"organization_id": nobody}, headers=headers)
    assert changed.status_code == 422, changed.text
    assert changed.json()["errors"][0]["field"] == "body.organization_id"


async def test_an_organisations_ficha_shows_its_contact_persons_events(
    client: httpx.AsyncClient, admin: dict[str, str], clock: ControlledClock
) -> None:
    """As its timeline does: the contact's call is among the organisation's interactions,
    on its ficha and on its screen-pop."""
    org = await new_customer(
        client,
        admin,
        kind="organization",
        display_name="Acme Industrial S.A.",
        identifiers=[{"kind": "phone", "value": "+34 910 000 000"}],
    )
    cto = await new_customer(client, admin, display_name="Marta Gil", organization_id=org)
    call = {
        "type": "call.completed",
        "occurred_at": clock.ago(days=1).isoformat(),
        "payload": {"from": "+34611222333", "duration_s": 240, "agent": "agent-2"},
    }
    assert (await append(client, admin, cto, call)).status_code == 201
    for url in (f"/v1/customers/{org}/ficha", "/v1/fichas/by-phone/910000000"):
        response = await client.get(url, params={"role": "support"}, headers=admin)
        assert response.status_code == 200, response.text
        shown = response.json()["sections"].get("recent_interactions", {"items": []})["items"]
        assert [e["summary"] for e in shown] == ["Call, 240 s"], url
