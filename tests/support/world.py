"""Two agents' customers side by side, built through the API with an admin key.

Agent B owns a rich world (a person with every kind of identifier, events, an open alert,
a duplicate merged into it, an organisation with a contact); agent A owns a smaller one
that touches B's on purpose (A's person in B's organisation, B's person among the
contacts of A's organisation, A's duplicate merged into B's person). A test reads it with
A's owned-only keys and must find nothing of B's.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import unquote

import httpx

from app.auth.service import create_key
from app.core.clock import Clock
from app.core.db import Database
from app.core.security import Role
from tests.support.api import create_customer

THEIR_AGENT = "agent-b"
MY_AGENT = "agent-a"


async def consent(
    client: httpx.AsyncClient, admin: dict[str, str], customer: str, channel: str
) -> None:
    response = await client.post(
        f"/v1/customers/{customer}/consents",
        json={"channel": channel, "purpose": "marketing", "granted": True, "source": "web"},
        headers=admin,
    )
    assert response.status_code == 201, response.text


async def append(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    customer: str,
    type_: str,
    source_event_id: str | None = None,
    *,
    at: datetime,
    **payload: Any,
) -> dict[str, Any]:
    body = {"type": type_, "occurred_at": at.isoformat()}
    if source_event_id is not None:
        body |= {"source": "shop", "source_event_id": source_event_id}
    response = await client.post(
        f"/v1/customers/{customer}/events", json={**body, "payload": payload}, headers=admin
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def merge(
    client: httpx.AsyncClient, admin: dict[str, str], survivor: str, absorbed: str
) -> None:
    response = await client.post(
        f"/v1/customers/{survivor}/merge", json={"source_customer_id": absorbed}, headers=admin
    )
    assert response.status_code == 200, response.text


async def open_alert(
    client: httpx.AsyncClient, admin: dict[str, str], customer: str, at: datetime
) -> str:
    """An open dispute raises an `open_dispute` alert for the customer's owner."""
    await append(
        client,
        admin,
        customer,
        "payment.disputed",
        at=at,
        payment_id=f"pay-{customer[-6:]}",
        amount="90.00",
        currency="EUR",
    )
    response = await client.get(
        "/v1/alerts", params={"customer_id": customer, "status": "open"}, headers=admin
    )
    [alert] = response.json()["items"]
    return str(alert["id"])


async def follow_up(
    client: httpx.AsyncClient, admin: dict[str, str], customer: str, assignee: str
) -> str:
    """A follow-up task on the customer, assigned to its owner."""
    body = {"customer_id": customer, "title": "Call back", "assignee": assignee}
    response = await client.post("/v1/tasks", json=body, headers=admin)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


@dataclass
class Side:
    """One agent's customers and what identifies them."""

    agent: str
    name: str = ""  # the person's display name
    person: str = ""
    duplicate: str = ""
    organization: str = ""
    contact: str = ""
    alert: str = ""
    task: str = ""  # a follow-up on the person
    phone: str = ""
    email: str = ""
    external_id: str = ""
    identifier: str = ""  # the id of the person's external id, as attached
    order_key: str = ""  # the source_event_id of the person's order (source "shop")
    names: list[str] = field(default_factory=list)
    phones: list[str] = field(default_factory=list)
    emails: list[str] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)  # customers, events, alerts


@dataclass
class World:
    mine: Side
    theirs: Side


async def build_world(client: httpx.AsyncClient, admin: dict[str, str], clock: Clock) -> World:
    """Agent B's rich world and agent A's, each knowing the other's edges; what happened
    happened an hour before the service's now."""
    at = clock.now() - timedelta(hours=1)
    theirs = Side(THEIR_AGENT)
    mine = Side(MY_AGENT)

    theirs.phone, theirs.email = "+34611000001", "beatriz.victima@example.com"
    theirs.external_id = "shop:customer:b-7001"
    theirs.name, theirs.order_key = "Beatriz Victima", "order:SO-B1"
    person = await create_customer(
        client,
        admin,
        display_name=theirs.name,
        tier="vip",
        preferred_language="fr",
        owner_id=THEIR_AGENT,
        tags=["spring"],
        address={"street": "Calle Secreta 1", "city": "Sevilla", "country": "ES"},
        identifiers=[
            {"kind": "phone", "value": theirs.phone},
            {"kind": "email", "value": theirs.email},
            {"kind": "external", "value": theirs.external_id},
        ],
    )
    theirs.person = person["id"]
    theirs.identifier = _external(person)
    for channel in ("email", "phone", "post"):
        await consent(client, admin, theirs.person, channel)
    order = await append(
        client,
        admin,
        theirs.person,
        "order.placed",
        theirs.order_key,
        at=at,
        order_id="SO-B1",
        items=[{"sku": "BOOT-42", "name": "Boot", "qty": 1, "unit_price": "90.00"}],
        total="90.00",
        currency="EUR",
    )
    note = await append(client, admin, theirs.person, "note.added", at=at, text="Prefers mornings")
    theirs.alert = await open_alert(client, admin, theirs.person, at)
    theirs.task = await follow_up(client, admin, theirs.person, THEIR_AGENT)

    duplicate = await create_customer(
        client,
        admin,
        display_name="Bea Duplicada",
        owner_id=THEIR_AGENT,
        identifiers=[
            {"kind": "phone", "value": "+34611000002"},
            {"kind": "email", "value": "bea.duplicada@example.com"},
        ],
    )
    theirs.duplicate = duplicate["id"]
    await merge(client, admin, theirs.person, theirs.duplicate)

    organization = await create_customer(
        client,
        admin,
        kind="organization",
        display_name="Victima Corp SL",
        owner_id=THEIR_AGENT,
        identifiers=[{"kind": "email", "value": "info@victima-corp.example"}],
    )
    theirs.organization = organization["id"]
    contact = await create_customer(
        client,
        admin,
        display_name="Bruno Contacto",
        owner_id=THEIR_AGENT,
        organization_id=theirs.organization,
        identifiers=[
            {"kind": "phone", "value": "+34611000003"},
            {"kind": "email", "value": "bruno.contacto@example.com"},
        ],
    )
    theirs.contact = contact["id"]

    mine.phone, mine.email = "+34622000001", "ana.atacante@example.com"
    mine.external_id = "shop:customer:a-7001"
    mine.name, mine.order_key = "Ana Atacante", "order:SO-A1"
    my_person = await create_customer(
        client,
        admin,
        display_name=mine.name,
        tier="vip",
        owner_id=MY_AGENT,
        tags=["spring"],
        organization_id=theirs.organization,  # A's person in B's organisation
        address={"street": "Calle Propia 2", "city": "Sevilla", "country": "ES"},
        identifiers=[
            {"kind": "phone", "value": mine.phone},
            {"kind": "email", "value": mine.email},
            {"kind": "external", "value": mine.external_id},
        ],
    )
    mine.person = my_person["id"]
    mine.identifier = _external(my_person)
    for channel in ("email", "phone", "post"):
        await consent(client, admin, mine.person, channel)
    await append(
        client,
        admin,
        mine.person,
        "order.placed",
        mine.order_key,
        at=at,
        order_id="SO-A1",
        items=[{"sku": "BOOT-42", "name": "Boot", "qty": 1, "unit_price": "50.00"}],
        total="50.00",
        currency="EUR",
    )
    mine.alert = await open_alert(client, admin, mine.person, at)
    mine.task = await follow_up(client, admin, mine.person, MY_AGENT)
    my_organization = await create_customer(
        client, admin, kind="organization", display_name="Atacante SA", owner_id=MY_AGENT
    )
    mine.organization = my_organization["id"]
    stranger = await create_customer(
        client,
        admin,
        display_name="Benito Ajeno",
        owner_id=THEIR_AGENT,
        organization_id=mine.organization,  # B's person among the contacts of A's organisation
        identifiers=[{"kind": "phone", "value": "+34611000004"}],
    )
    # Its history counts in the stats and alerts of A's organisation, which A's key reads
    # as if it were not there.
    await append(
        client,
        admin,
        stranger["id"],
        "order.placed",
        at=at,
        order_id="SO-B4",
        items=[{"sku": "BOOT-44", "name": "Botas Ajenas", "qty": 1}],
        total="70.00",
        currency="EUR",
    )
    await append(
        client,
        admin,
        stranger["id"],
        "payment.disputed",
        at=at,
        payment_id="pay-B4-ajeno",
        amount="70.00",
        currency="EUR",
    )
    my_contact = await create_customer(
        client,
        admin,
        display_name="Alicia Contacto",
        owner_id=MY_AGENT,
        organization_id=mine.organization,
    )
    mine.contact = my_contact["id"]
    # A's duplicate merged into B's person: it is B's history now.
    given_away = await create_customer(
        client,
        admin,
        display_name="Adela Fusionada",
        owner_id=MY_AGENT,
        identifiers=[{"kind": "phone", "value": "+34622000009"}],
    )
    mine.duplicate = given_away["id"]
    await merge(client, admin, theirs.person, mine.duplicate)

    theirs.names = [
        "Beatriz",
        "Victima",  # the person, the organisation, the street
        "Bea Duplicada",
        "Bruno Contacto",
        "Benito Ajeno",
        "Calle Secreta",
        "Prefers mornings",
        "SO-B1",
        "SO-B4",
        "Botas Ajenas",
        "pay-B4-ajeno",
    ]
    theirs.phones = ["+34611000001", "+34611000002", "+34611000003", "+34611000004"]
    theirs.emails = [
        theirs.email,
        "bea.duplicada@example.com",
        "bruno.contacto@example.com",
        "info@victima-corp.example",
        theirs.external_id,
    ]
    theirs.ids = [
        theirs.person,
        theirs.duplicate,
        theirs.organization,
        theirs.contact,
        stranger["id"],
        theirs.alert,
        theirs.task,
        order["id"],
        note["id"],
    ]
    return World(mine=mine, theirs=theirs)


def _external(customer: dict[str, Any]) -> str:
    return str(next(i["id"] for i in customer["identifiers"] if i["kind"] == "external"))


def leaks(world: World, text: str, *, sent: str = "") -> list[str]:
    """What of B's world ``text`` shows, leaving out what the request itself carried."""
    theirs = world.theirs
    markers = [*theirs.ids, *theirs.names, *theirs.phones, *theirs.emails]
    markers += [m.removeprefix("+") for m in theirs.phones]  # a phone without its +
    folded, sent_folded = text.lower(), unquote(sent).lower()
    # a phone the request carried may come back normalised: with its +, or without
    return [m for m in markers if m.lower() in folded and m.lower().lstrip("+") not in sent_folded]


async def committed_key(database: Database, role: Role, **options: Any) -> dict[str, str]:
    """A key committed for the ``live`` app and the served one (the ``make_key`` fixture's
    keys live in the test's rolled-back transaction)."""
    async with database.sessionmaker() as session, session.begin():
        _, secret = await create_key(session, role=role, name="test", **options)
    return {"Authorization": f"Bearer {secret}"}
