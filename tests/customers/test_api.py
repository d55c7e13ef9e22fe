"""The customer aggregate through the HTTP API."""

import asyncio
import json
from typing import Any
from uuid import uuid4

import httpx
import pytest
from asyncpg.connection import LoggedQuery
from sqlalchemy import text
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import driver_connection
from app.core.security import Principal, Role
from app.customers.identifiers import IdentifierKind
from app.customers.repository import search_statement
from app.customers.schemas import CustomerStatus
from app.customers.search import identify, search_filters
from tests.support.api import create_customer
from tests.support.fixtures import MakeKey

PROBLEM = "application/problem+json"


def jose(**extra: Any) -> dict[str, Any]:
    return {
        "given_name": "José",
        "family_name": "Núñez",
        "tier": "premium",
        "owner_id": "agent-1",
        "identifiers": [
            {"kind": "phone", "value": "612 34 56 78"},
            {"kind": "email", "value": " Jose.Nunez@Example.com"},
            {"kind": "external", "value": "shopify:customer:7023"},
        ],
        **extra,
    }


async def test_create_returns_the_aggregate_with_location_and_etag(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    response = await client.post(
        "/v1/customers", json=jose(tags=["vip", "vip", "wholesale"]), headers=admin
    )
    assert response.status_code == 201
    body = response.json()
    assert response.headers["location"].endswith(f"/v1/customers/{body['id']}")
    assert response.headers["etag"] == '"1"'
    assert body["display_name"] == "José Núñez"
    assert body["kind"] == "person" and body["status"] == "active" and body["version"] == 1
    assert body["tags"] == ["vip", "wholesale"]
    assert {(i["kind"], i["value"]) for i in body["identifiers"]} == {
        ("phone", "+34612345678"),
        ("email", "jose.nunez@example.com"),
        ("external", "shopify:customer:7023"),
    }
    fetched = await client.get(response.headers["location"], headers=admin)
    assert fetched.json() == body
    assert fetched.headers["etag"] == '"1"'


async def test_identifier_of_another_customer_is_409_naming_it(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    first = await create_customer(client, admin, **jose())
    response = await client.post(
        "/v1/customers",
        json={
            "display_name": "Impostor",
            "identifiers": [{"kind": "phone", "value": "+34 612-345-678"}],
        },
        headers=admin,
    )
    assert response.status_code == 409
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert problem["conflicting_customer_id"] == first["id"]
    assert problem["identifier"] == {"kind": "phone", "value": "+34612345678"}
    search = await client.get("/v1/customers", params={"q": "Impostor"}, headers=admin)
    assert search.json()["items"] == [], "the refused customer must not be stored"


@pytest.mark.parametrize(
    ("identifier", "reason"),
    [
        ({"kind": "email", "value": "jose@@example"}, "email"),
        ({"kind": "phone", "value": "12"}, "phone"),
    ],
)
async def test_invalid_identifier_is_422_naming_the_field(
    client: httpx.AsyncClient, admin: dict[str, str], identifier: dict[str, str], reason: str
) -> None:
    response = await client.post(
        "/v1/customers", json={"display_name": "X", "identifiers": [identifier]}, headers=admin
    )
    assert response.status_code == 422
    errors = response.json()["errors"]
    assert [e["field"] for e in errors] == ["body.identifiers.0.value"]
    assert reason in errors[0]["reason"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "person"}, "body"),
        ({"display_name": "A", "tier": "gold"}, "body.tier"),
        ({"display_name": "A", "address": {"country": "XX"}}, "body.address.country"),
        ({"display_name": "A", "preferred_language": "español"}, "body.preferred_language"),
        ({"display_name": "A", "attributes": {"blob": "x" * 17000}}, "body.attributes"),
        ({"display_name": "A", "legal_name": "A S.L."}, "body"),
        ({"display_name": "A", "unknown": 1}, "body.unknown"),
    ],
)
async def test_invalid_profile_is_422_naming_the_field(
    client: httpx.AsyncClient, admin: dict[str, str], body: dict[str, Any], field: str
) -> None:
    response = await client.post("/v1/customers", json=body, headers=admin)
    assert response.status_code == 422, response.text
    assert field in [e["field"] for e in response.json()["errors"]]


# Found by schemathesis: each of these fits the schema but not its column (a 500).
TOO_LONG = [
    ({"kind": "organization", "legal_name": "A", "sector": "s" * 101}, "body.sector"),
    (
        {"display_name": "A", "preferred_language": "en" + "-abcdefgh" * 4},
        "body.preferred_language",
    ),
    ({"display_name": "A", "website": "https://example.com/" + "p" * 490}, "body.website"),
]


@pytest.mark.parametrize(("body", "field"), TOO_LONG)
async def test_profile_fields_longer_than_stored_are_422_naming_the_field(
    client: httpx.AsyncClient, admin: dict[str, str], body: dict[str, Any], field: str
) -> None:
    created = await client.post("/v1/customers", json=body, headers=admin)
    assert created.status_code == 422, created.text
    assert [e["field"] for e in created.json()["errors"]] == [field]
    kind = {"kind": body["kind"], "legal_name": "A"} if "kind" in body else {"display_name": "A"}
    customer = await client.post("/v1/customers", json=kind, headers=admin)
    patched = await client.patch(
        f"/v1/customers/{customer.json()['id']}",
        json=body,
        headers={**admin, "If-Match": customer.headers["etag"]},
    )
    assert patched.status_code == 422, patched.text
    assert [e["field"] for e in patched.json()["errors"]] == [field]


async def test_organisation_with_contacts(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    org = await create_customer(
        client,
        admin,
        kind="organization",
        legal_name="Talleres Núñez S.L.",
        sector="automotive",
        size_band="small",
        website="https://talleres.example",
    )
    assert org["display_name"] == "Talleres Núñez S.L."
    person = await create_customer(
        client, admin, **jose(organization_id=org["id"], job_title="Gerente")
    )
    assert person["organization"] == {
        "id": org["id"],
        "display_name": org["display_name"],
        "kind": "organization",
    }

    aggregate = (await client.get(f"/v1/customers/{org['id']}", headers=admin)).json()
    assert [c["id"] for c in aggregate["contacts"]] == [person["id"]]
    assert aggregate["contacts"][0]["job_title"] == "Gerente"
    contacts = (await client.get(f"/v1/customers/{org['id']}/contacts", headers=admin)).json()
    assert [c["id"] for c in contacts["items"]] == [person["id"]]

    not_an_org = await client.post(
        "/v1/customers", json={"display_name": "B", "organization_id": person["id"]}, headers=admin
    )
    assert not_an_org.status_code == 422
    assert not_an_org.json()["errors"][0]["field"] == "body.organization_id"
    assert (
        await client.get(f"/v1/customers/{person['id']}/contacts", headers=admin)
    ).status_code == 422


@pytest.mark.parametrize(
    "q", ["jose nunez", "nune", "NÚÑEZ", "José", "jose.nunez@example.com", "612345678"]
)
async def test_search_is_accent_and_case_insensitive_and_partial(
    client: httpx.AsyncClient, admin: dict[str, str], q: str
) -> None:
    wanted = await create_customer(client, admin, **jose())
    await create_customer(client, admin, given_name="Maria", family_name="Lopes")
    items = (await client.get("/v1/customers", params={"q": q}, headers=admin)).json()["items"]
    assert [i["id"] for i in items] == [wanted["id"]]
    assert items[0]["identifiers"]


async def test_search_filters_and_stable_cursor_pages(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    ids = []
    for n in range(7):
        body = await create_customer(
            client,
            admin,
            display_name=f"Cliente {n}",
            tier="vip" if n % 2 else "standard",
            tags=["campaign"] if n < 5 else [],
            owner_id="agent-9",
        )
        ids.append(body["id"])
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"owner_id": "agent-9", "limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get("/v1/customers", params=params, headers=admin)).json()
        seen += [i["id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(ids)), "newest first, every customer exactly once"

    vip = (
        await client.get(
            "/v1/customers", params={"owner_id": "agent-9", "tier": "vip"}, headers=admin
        )
    ).json()
    assert {i["id"] for i in vip["items"]} == {ids[1], ids[3], ids[5]}
    tagged = (
        await client.get(
            "/v1/customers", params={"tag": "campaign", "owner_id": "agent-9"}, headers=admin
        )
    ).json()
    assert {i["id"] for i in tagged["items"]} == set(ids[:5])

    ranked: list[str] = []
    cursor = None
    while True:
        params = {"q": "cliente", "limit": 3, **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/v1/customers", params=params, headers=admin)).json()
        ranked += [i["id"] for i in page["items"]]
        if not (cursor := page["next_cursor"]):
            break
    assert sorted(ranked) == sorted(ids) and len(ranked) == len(set(ranked))

    bad = await client.get("/v1/customers", params={"cursor": "%%%"}, headers=admin)
    assert bad.status_code == 400
    bad_phone = await client.get("/v1/customers", params={"phone": "12"}, headers=admin)
    assert bad_phone.status_code == 422
    assert bad_phone.json()["errors"][0]["field"] == "query.phone"


async def test_search_by_identifier_in_any_format(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    wanted = await create_customer(client, admin, **jose())
    for params in (
        {"phone": "0034 612 34 56 78"},
        {"email": "JOSE.NUNEZ@example.com"},
        {"external_id": "shopify:customer:7023"},
    ):
        items = (await client.get("/v1/customers", params=params, headers=admin)).json()["items"]
        assert [i["id"] for i in items] == [wanted["id"]], params


async def test_identify_by_any_identifier(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    wanted = await create_customer(client, admin, **jose())
    for params in (
        {"phone": "+34612345678"},
        {"phone": "612-34-56-78"},
        {"email": "jose.nunez@EXAMPLE.com"},
        {"external_id": "Shopify:customer:7023"},
    ):
        response = await client.get("/v1/identify", params=params, headers=admin)
        assert response.status_code == 200, params
        assert response.json() == {
            "customer_id": wanted["id"],
            "status": "active",
            "unverified": False,
        }

    unknown = await client.get("/v1/identify", params={"phone": "699 00 00 00"}, headers=admin)
    assert unknown.status_code == 404
    assert unknown.json()["identifier"] == {"kind": "phone", "value": "+34699000000"}
    invalid = await client.get("/v1/identify", params={"phone": "abc"}, headers=admin)
    assert invalid.status_code == 422 and invalid.json()["errors"][0]["field"] == "query.phone"
    two = await client.get(
        "/v1/identify", params={"phone": "612345678", "email": "a@b.co"}, headers=admin
    )
    assert two.status_code == 422


async def test_patch_needs_if_match_and_refuses_stale_versions(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    customer = await create_customer(
        client, admin, **jose(attributes={"shoe_size": 42, "team": "blue"})
    )
    url = f"/v1/customers/{customer['id']}"
    patch = {"tier": "vip", "job_title": None, "attributes": {"team": None, "vat": "ES123"}}
    headers = {**admin, "content-type": "application/merge-patch+json"}

    missing = await client.patch(url, json=patch, headers=headers)
    assert missing.status_code == 428 and missing.headers["content-type"] == PROBLEM

    done = await client.patch(url, json=patch, headers={**headers, "If-Match": '"1"'})
    assert done.status_code == 200, done.text
    body = done.json()
    assert body["tier"] == "vip" and body["version"] == 2 and done.headers["etag"] == '"2"'
    assert body["attributes"] == {"shoe_size": 42, "vat": "ES123"}
    assert body["family_name"] == "Núñez", "fields absent from the patch are kept"

    stale = await client.patch(
        url, json={"tier": "standard"}, headers={**headers, "If-Match": '"1"'}
    )
    assert stale.status_code == 412
    assert stale.json()["current_etag"] == '"2"'

    invalid = await client.patch(url, json={"tier": "gold"}, headers={**headers, "If-Match": '"2"'})
    assert invalid.status_code == 422 and invalid.json()["errors"][0]["field"] == "body.tier"
    immutable = await client.patch(
        url, json={"status": "erased"}, headers={**headers, "If-Match": '"2"'}
    )
    assert immutable.status_code == 422 and immutable.json()["errors"][0]["field"] == "body.status"
    wrong_type = await client.patch(
        url, content=b"tier=vip", headers={**admin, "content-type": "text/plain", "If-Match": '"2"'}
    )
    assert wrong_type.status_code == 415
    broken = await client.patch(url, content=b"{", headers={**headers, "If-Match": '"2"'})
    assert broken.status_code == 422


async def test_an_unverified_customer_is_verified_by_patch(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    customer = await create_customer(client, admin, display_name="+34612345678", unverified=True)
    assert customer["unverified"] is True
    verified = await client.patch(
        f"/v1/customers/{customer['id']}",
        json={"unverified": False, "display_name": "Ana Ruiz"},
        headers={**admin, "If-Match": '"1"'},
    )
    assert verified.json()["unverified"] is False
    assert verified.json()["display_name"] == "Ana Ruiz"


async def test_owned_only_keys_see_only_their_customers(
    client: httpx.AsyncClient, admin: dict[str, str], make_key: MakeKey
) -> None:
    mine = await create_customer(
        client,
        admin,
        display_name="Mine",
        owner_id="agent-1",
        identifiers=[{"kind": "email", "value": "mine@example.com"}],
    )
    theirs = await create_customer(
        client,
        admin,
        display_name="Theirs",
        owner_id="agent-2",
        identifiers=[{"kind": "email", "value": "theirs@example.com"}],
    )
    reader = await make_key(Role.SUPPORT, agent_id="agent-1", owned_only=True)
    writer = await make_key(Role.INTEGRATION, agent_id="agent-1", owned_only=True)

    assert (await client.get(f"/v1/customers/{mine['id']}", headers=reader)).status_code == 200
    hidden = await client.get(f"/v1/customers/{theirs['id']}", headers=reader)
    assert hidden.status_code == 404 and hidden.headers["content-type"] == PROBLEM
    found = (await client.get("/v1/customers", headers=reader)).json()["items"]
    assert [c["id"] for c in found] == [mine["id"]]
    by_email = await client.get(
        "/v1/identify", params={"email": "theirs@example.com"}, headers=reader
    )
    assert by_email.status_code == 404
    patched = await client.patch(
        f"/v1/customers/{theirs['id']}", json={"tier": "vip"}, headers={**writer, "If-Match": '"1"'}
    )
    assert patched.status_code == 404
    give_away = await client.patch(
        f"/v1/customers/{mine['id']}",
        json={"owner_id": "agent-2"},
        headers={**writer, "If-Match": '"1"'},
    )
    assert give_away.status_code == 403


async def test_job_roles_read_but_do_not_write(
    client: httpx.AsyncClient, admin: dict[str, str], make_key: MakeKey
) -> None:
    customer = await create_customer(client, admin, display_name="Ana")
    support = await make_key(Role.SUPPORT)
    assert (await client.get(f"/v1/customers/{customer['id']}", headers=support)).status_code == 200
    refused = await client.post("/v1/customers", json={"display_name": "B"}, headers=support)
    assert refused.status_code == 403 and refused.headers["content-type"] == PROBLEM
    integration = await make_key(Role.INTEGRATION)
    assert (
        await client.post("/v1/customers", json={"display_name": "B"}, headers=integration)
    ).status_code == 201


async def test_identifiers_attach_and_detach(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    customer = await create_customer(client, admin, display_name="Ana")
    other = await create_customer(
        client, admin, display_name="Bea", identifiers=[{"kind": "phone", "value": "699111222"}]
    )
    url = f"/v1/customers/{customer['id']}/identifiers"
    added = await client.post(
        url, json={"kind": "phone", "value": "+34 612 00 00 01"}, headers=admin
    )
    assert added.status_code == 201 and added.json()["value"] == "+34612000001"
    again = await client.post(url, json={"kind": "phone", "value": "612000001"}, headers=admin)
    assert again.status_code == 200 and again.json()["id"] == added.json()["id"]
    taken = await client.post(url, json={"kind": "phone", "value": "699 111 222"}, headers=admin)
    assert taken.status_code == 409 and taken.json()["conflicting_customer_id"] == other["id"]

    aggregate = await client.get(f"/v1/customers/{customer['id']}", headers=admin)
    assert aggregate.json()["version"] == 2, "attaching an identifier is a new version"
    stale = await client.delete(f"{url}/{added.json()['id']}", headers={**admin, "If-Match": '"1"'})
    assert stale.status_code == 412
    removed = await client.delete(f"{url}/{added.json()['id']}", headers=admin)
    assert removed.status_code == 204
    assert (
        await client.get("/v1/identify", params={"phone": "612000001"}, headers=admin)
    ).status_code == 404
    assert (await client.delete(f"{url}/{added.json()['id']}", headers=admin)).status_code == 404


async def test_preferences_and_consents(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    customer = await create_customer(client, admin, display_name="Ana")
    base = f"/v1/customers/{customer['id']}"
    preferences = {
        "preferred_channel": "email",
        "contact_hours": [{"days": ["mon", "wed"], "from": "09:00", "to": "13:00"}],
        "timezone": "Europe/Madrid",
        "content_interests": ["offers"],
        "do_not_call": True,
        "notes": "Does not like sales calls.",
    }
    put = await client.put(f"{base}/preferences", json=preferences, headers=admin)
    assert put.status_code == 200, put.text
    assert put.headers["etag"] == '"2"'
    bad_zone = await client.put(
        f"{base}/preferences", json={"timezone": "Mars/Base"}, headers=admin
    )
    assert bad_zone.status_code == 422 and bad_zone.json()["errors"][0]["field"] == "body.timezone"
    # A lone surrogate (JSON may escape one; UTF-8 cannot hold it) echoed in the reason
    # broke the validation error itself: a 500.
    surrogate = await client.put(
        f"{base}/preferences",
        content=json.dumps({"timezone": "Europe/\ud800"}),
        headers={**admin, "content-type": "application/json"},
    )
    assert surrogate.status_code == 422, surrogate.text
    assert surrogate.json()["errors"][0]["field"] == "body.timezone"
    bad_hours = await client.put(
        f"{base}/preferences",
        json={"contact_hours": [{"days": ["mon"], "from": "18:00", "to": "09:00"}]},
        headers=admin,
    )
    assert bad_hours.status_code == 422
    for written in ("09:00Z", "09:00+01:00", "9:00", "09:00:00.5", 0, 32400):
        # A time on the customer's clock, as the spec's pattern says: no offset, no fraction.
        offset = await client.put(
            f"{base}/preferences",
            json={"contact_hours": [{"days": ["mon"], "from": written, "to": "23:00"}]},
            headers=admin,
        )
        assert offset.status_code == 422, (written, offset.text)
        assert offset.json()["errors"][0]["field"] == "body.contact_hours.0.from"

    for granted in (True, False):
        recorded = await client.post(
            f"{base}/consents",
            json={
                "channel": "email",
                "purpose": "marketing",
                "granted": granted,
                "source": "web-form",
            },
            headers=admin,
        )
        assert recorded.status_code == 201
    await client.post(
        f"{base}/consents",
        json={"channel": "phone", "purpose": "service", "granted": True, "source": "call"},
        headers=admin,
    )
    aggregate = (await client.get(base, headers=admin)).json()
    assert aggregate["preferences"]["do_not_call"] is True
    assert aggregate["preferences"]["contact_hours"][0]["from"] == "09:00:00"
    current = {(c["channel"], c["purpose"]): c["granted"] for c in aggregate["consents"]}
    assert current == {("email", "marketing"): False, ("phone", "service"): True}
    history = (
        await client.get(f"{base}/consents/history", params={"limit": 2}, headers=admin)
    ).json()
    assert [c["channel"] for c in history["items"]] == ["phone", "email"]
    rest = (
        await client.get(
            f"{base}/consents/history", params={"cursor": history["next_cursor"]}, headers=admin
        )
    ).json()
    assert [c["granted"] for c in rest["items"]] == [True] and rest["next_cursor"] is None


async def test_concurrent_creates_with_the_same_phone(
    live: tuple[httpx.AsyncClient, dict[str, str]],
) -> None:
    client, admin = live
    bodies = [
        {"display_name": name, "identifiers": [{"kind": "phone", "value": spelling}]}
        for name, spelling in (("One", "612 99 88 77"), ("Two", "+34 612-998-877"))
    ]
    responses = await asyncio.gather(
        *(client.post("/v1/customers", json=b, headers=admin) for b in bodies)
    )
    assert sorted(r.status_code for r in responses) == [201, 409]
    winner = next(r for r in responses if r.status_code == 201).json()
    loser = next(r for r in responses if r.status_code == 409).json()
    assert loser["conflicting_customer_id"] == winner["id"]
    found = (await client.get("/v1/customers", params={"phone": "612998877"}, headers=admin)).json()
    assert [c["id"] for c in found["items"]] == [winner["id"]]


async def test_identify_is_an_index_lookup(session: AsyncSession) -> None:
    await session.execute(
        text(
            "INSERT INTO customers (id, kind, display_name) "
            "SELECT gen_random_uuid(), 'person', 'c' || n FROM generate_series(1, 3000) n"
        )
    )
    await session.execute(
        text(
            "INSERT INTO customer_identifiers (id, customer_id, kind, value) "
            "SELECT gen_random_uuid(), id, 'phone', '+3461' || lpad((row_number() OVER ())::text, 7, '0') "
            "FROM customers"
        )
    )
    await session.execute(text("ANALYZE customers"))
    await session.execute(text("ANALYZE customer_identifiers"))
    # The plans of the statements the service itself sends, captured from the driver (once
    # the driver knows the types they use: it asks the server the first time).
    conn = await driver_connection(session)
    principal = Principal(uuid4(), Role.SUPPORT)
    await identify(session, IdentifierKind.PHONE, ["+34610000041"], principal)
    sent: list[LoggedQuery] = []
    conn.add_query_logger(sent.append)
    try:
        found = await identify(session, IdentifierKind.PHONE, ["+34610000042"], principal)
        await asyncio.sleep(0)  # the driver calls its loggers on the next loop turn
    finally:
        conn.remove_query_logger(sent.append)
    assert found
    plans = [
        "\n".join(row[0] for row in await conn.fetch(f"EXPLAIN {q.query}", *q.args)) for q in sent
    ]
    for plan in plans:
        assert "Seq Scan" not in plan, plan
        # On a Citus cluster, each statement runs whole on the one shard it needs.
        assert "Citus" not in plan or "Task Count: 1\n" in plan, plan
    assert len(plans) <= 2, [q.query for q in sent]
    assert any("pk_customer_identifiers" in plan for plan in plans), plans
    assert any("pk_customers" in plan for plan in plans), plans


@pytest.mark.parametrize("depth", [900, 65])
async def test_a_merge_patch_nested_too_deep_is_a_422_naming_the_body(
    client: httpx.AsyncClient, admin: dict[str, str], depth: int
) -> None:
    customer = await create_customer(client, admin, **jose())
    deep = b'{"attributes": ' + b'{"a": ' * depth + b"1" + b"}" * depth + b"}"
    response = await client.patch(
        f"/v1/customers/{customer['id']}",
        content=deep,
        headers={**admin, "content-type": "application/merge-patch+json", "If-Match": '"1"'},
    )
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == "body"
    assert "nests deeper than 64" in response.json()["detail"]


@pytest.mark.parametrize("q", ["zz@", "ana@exa", "garcía lópez", "612 345 678"])
async def test_every_way_q_matches_reads_an_index(session: AsyncSession, q: str) -> None:
    """Every way `q` matches has an index to read: an OR of a trigram LIKE and a
    correlated EXISTS had none, so PostgreSQL scanned every customer (3-4 s at 100,000
    right after a bulk import). With sequential scans priced out, a shape that has no
    index path still shows one; at this test's size the planner could rightly prefer a
    scan, so the shape, not the size, is what is checked."""
    await session.execute(
        text(
            "INSERT INTO customers (id, kind, display_name) "
            "SELECT gen_random_uuid(), 'person', 'Cliente ' || n FROM generate_series(1, 2000) n"
        )
    )
    await session.execute(
        text(
            "INSERT INTO customer_identifiers (id, customer_id, kind, value) "
            "SELECT gen_random_uuid(), id, 'email', 'c' || md5(id::text) || '@example.com' "
            "FROM customers"
        )
    )
    filters = search_filters(
        q=q,
        phone=None,
        email=None,
        external_id=None,
        owner_id=None,
        tier=None,
        tag=None,
        kind=None,
        status=CustomerStatus.ACTIVE,
        default_region="ES",
    )
    statement = search_statement(filters, Principal(uuid4(), Role.SUPPORT), limit=26)
    compiled = statement.compile(
        dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}
    )
    # On Citus the shards plan the statement on the workers: the setting goes there too
    # (on one PostgreSQL the Citus setting is a placeholder nobody reads), and the plan
    # shown is a shard's.
    await session.execute(text("SET LOCAL citus.propagate_set_commands = 'local'"))
    await session.execute(text("SET LOCAL enable_seqscan = off"))
    plan = "\n".join((await session.execute(text(f"EXPLAIN {compiled}"))).scalars())
    assert "Seq Scan on customers" not in plan, plan
    assert "Seq Scan on customer_identifiers" not in plan, plan
