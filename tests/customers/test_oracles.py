"""An owned-only key learns nothing of other owners' customers from conflicts, 404s or
merge redirects: every answer is the one a customer that does not exist would get."""

from typing import Any
from uuid import uuid4

import httpx
import pytest

from app.core.security import Role
from tests.support.api import create_customer
from tests.support.clock import ControlledClock
from tests.support.fixtures import MakeKey
from tests.support.world import MY_AGENT, World, build_world, leaks


@pytest.fixture
async def world(client: httpx.AsyncClient, admin: dict[str, str], clock: ControlledClock) -> World:
    return await build_world(client, admin, clock)


def without_instance(response: httpx.Response) -> dict[str, Any]:
    body = dict(response.json())
    body.pop("instance", None)
    return body


async def test_a_taken_identifier_held_by_an_invisible_customer_is_a_409_without_its_holder(
    client: httpx.AsyncClient, make_key: MakeKey, admin: dict[str, str], world: World
) -> None:
    writer = await make_key(Role.INTEGRATION, agent_id=MY_AGENT, owned_only=True)
    created = await client.post(
        "/v1/customers",
        json={"display_name": "Probe", "identifiers": [{"kind": "phone", "value": "611000001"}]},
        headers=writer,
    )
    assert created.status_code == 409, created.text
    body = created.json()
    assert "conflicting_customer_id" not in body
    assert body["identifier"] == {"kind": "phone", "value": world.theirs.phone}
    assert "already taken" in body["detail"]
    # the number comes back as the caller wrote it, normalised; nothing else of B's
    assert leaks(world, created.text, sent=world.theirs.phone) == []

    attached = await client.post(
        f"/v1/customers/{world.mine.person}/identifiers",
        json={"kind": "email", "value": world.theirs.email},
        headers=writer,
    )
    assert attached.status_code == 409 and "conflicting_customer_id" not in attached.json()
    assert leaks(world, attached.text, sent=world.theirs.email) == []

    # A key that may see the holder is told who it is, to merge or correct.
    visible = await client.post(
        f"/v1/customers/{world.mine.person}/identifiers",
        json={"kind": "email", "value": world.theirs.email},
        headers=admin,
    )
    assert visible.json()["conflicting_customer_id"] == world.theirs.person
    own = await create_customer(client, admin, display_name="Own", owner_id=MY_AGENT)
    mine = await client.post(
        f"/v1/customers/{own['id']}/identifiers",
        json={"kind": "phone", "value": world.mine.phone},
        headers=writer,
    )
    assert mine.json()["conflicting_customer_id"] == world.mine.person


async def test_an_invisible_customer_answers_exactly_as_a_missing_one(
    client: httpx.AsyncClient, make_key: MakeKey, world: World
) -> None:
    reader = await make_key(Role.SUPPORT, agent_id=MY_AGENT, owned_only=True)
    writer = await make_key(Role.INTEGRATION, agent_id=MY_AGENT, owned_only=True)
    missing = str(uuid4())
    for headers, method, path, body in (
        (reader, "GET", "/v1/customers/{id}", None),
        (reader, "GET", "/v1/customers/{id}/timeline", None),
        (reader, "GET", "/v1/customers/{id}/indicators", None),
        (reader, "GET", "/v1/customers/{id}/ficha?role=support", None),
        (
            writer,
            "POST",
            "/v1/customers/{id}/events",
            {"type": "note.added", "occurred_at": "2026-01-01T00:00:00Z", "payload": {"text": "x"}},
        ),
        (writer, "PUT", "/v1/customers/{id}/preferences", {"do_not_call": True}),
    ):
        theirs = await client.request(
            method, path.format(id=world.theirs.person), json=body, headers=headers
        )
        nobody = await client.request(method, path.format(id=missing), json=body, headers=headers)
        assert theirs.status_code == nobody.status_code == 404, (path, theirs.text)
        assert without_instance(theirs) == without_instance(nobody), path
        assert world.theirs.person not in theirs.json()["detail"], "no id is echoed"


async def test_unmerging_invisible_customers_answers_as_if_nothing_was_merged(
    client: httpx.AsyncClient, make_key: MakeKey, world: World
) -> None:
    writer = await make_key(Role.INTEGRATION, agent_id=MY_AGENT, owned_only=True)
    merged = await client.post(
        f"/v1/customers/{world.theirs.person}/unmerge",
        json={"source_customer_id": world.theirs.duplicate},
        headers=writer,
    )
    never = await client.post(
        f"/v1/customers/{world.theirs.person}/unmerge",
        json={"source_customer_id": world.theirs.contact},
        headers=writer,
    )
    assert merged.status_code == never.status_code == 404
    assert without_instance(merged) == without_instance(never)


async def test_a_customer_merged_into_an_invisible_one_is_not_redirected_to_it(
    client: httpx.AsyncClient, make_key: MakeKey, admin: dict[str, str], world: World
) -> None:
    """A's duplicate was merged into B's person: its history is B's now."""
    reader = await make_key(Role.SUPPORT, agent_id=MY_AGENT, owned_only=True)
    given_away = world.mine.duplicate
    for path in (
        f"/v1/customers/{given_away}",
        f"/v1/customers/{given_away}?follow=false",
        f"/v1/customers/{given_away}/timeline",
        f"/v1/customers/{given_away}/ficha?role=support",
        f"/v1/customers/{given_away}/indicators",
    ):
        response = await client.get(path, headers=reader)
        assert response.status_code == 404, (path, response.status_code)
        assert "location" not in response.headers
        assert leaks(world, response.text + str(response.headers), sent=path) == [], path
    # whoever sees the survivor still follows the merge
    followed = await client.get(f"/v1/customers/{given_away}", headers=admin)
    assert followed.status_code == 308
    assert followed.headers["location"].endswith(world.theirs.person)


async def test_unmerge_gives_the_customer_back_to_its_owner(
    client: httpx.AsyncClient, make_key: MakeKey, admin: dict[str, str], world: World
) -> None:
    undone = await client.post(
        f"/v1/customers/{world.theirs.person}/unmerge",
        json={"source_customer_id": world.mine.duplicate},
        headers=admin,
    )
    assert undone.status_code == 200, undone.text
    reader = await make_key(Role.SUPPORT, agent_id=MY_AGENT, owned_only=True)
    back = await client.get(f"/v1/customers/{world.mine.duplicate}", headers=reader)
    assert back.status_code == 200 and back.json()["owner_id"] == MY_AGENT


async def test_a_persons_invisible_organisation_and_contacts_stay_hidden(
    client: httpx.AsyncClient, make_key: MakeKey, world: World
) -> None:
    reader = await make_key(Role.SUPPORT, agent_id=MY_AGENT, owned_only=True)
    person = await client.get(f"/v1/customers/{world.mine.person}", headers=reader)
    assert person.status_code == 200 and person.json()["organization"] is None
    organization = await client.get(f"/v1/customers/{world.mine.organization}", headers=reader)
    assert [c["id"] for c in organization.json()["contacts"]] == [world.mine.contact]
    contacts = await client.get(f"/v1/customers/{world.mine.organization}/contacts", headers=reader)
    assert [c["id"] for c in contacts.json()["items"]] == [world.mine.contact]
    for response in (person, organization, contacts):
        assert leaks(world, response.text) == []


async def test_a_merge_preview_does_not_name_an_invisible_organisation(
    client: httpx.AsyncClient, make_key: MakeKey, world: World
) -> None:
    """A's person is a contact of B's organisation; A's contact is not."""
    writer = await make_key(Role.INTEGRATION, agent_id=MY_AGENT, owned_only=True)
    preview = await client.post(
        f"/v1/customers/{world.mine.person}/merge",
        json={"source_customer_id": world.mine.contact, "dry_run": True},
        headers=writer,
    )
    assert preview.status_code == 200, preview.text
    [organization] = [
        c for c in preview.json()["conflicting_fields"] if c["field"] == "organization_id"
    ]
    assert organization == {
        "field": "organization_id",
        "survivor": None,
        "absorbed": world.mine.organization,
    }
    assert leaks(world, preview.text) == []


async def test_customers_merged_into_one_go_with_it_to_a_new_owner(
    client: httpx.AsyncClient, make_key: MakeKey, admin: dict[str, str], world: World
) -> None:
    path = f"/v1/customers/{world.theirs.person}"
    etag = (await client.get(path, headers=admin)).headers["ETag"]
    handed = await client.patch(
        path, json={"owner_id": MY_AGENT}, headers={**admin, "If-Match": etag}
    )
    assert handed.status_code == 200, handed.text
    reader = await make_key(Role.SUPPORT, agent_id=MY_AGENT, owned_only=True)
    for merged in (world.theirs.duplicate, world.mine.duplicate):
        followed = await client.get(f"/v1/customers/{merged}", headers=reader)
        assert followed.status_code == 308
        assert followed.headers["location"].endswith(world.theirs.person)
