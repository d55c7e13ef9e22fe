"""Templates admin, sending by hand, and SendGrid's events on a message the service sent."""

import json
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import Settings
from app.core.security import Role
from app.messages.templates import DEFAULT_TEMPLATES
from tests.support.api import new_customer, timeline
from tests.support.fixtures import MakeKey
from tests.support.webhooks import SENDGRID_SIGNATURE, SENDGRID_TIMESTAMP, Signer


def _template(**changes: Any) -> dict[str, Any]:
    body = json.loads(json.dumps(DEFAULT_TEMPLATES["carrier_delay"]))
    return {**body, **changes}


async def test_the_shipped_templates_are_stored_and_an_admin_edits_them(
    client: httpx.AsyncClient, admin: dict[str, str], make_key: MakeKey
) -> None:
    listed = await client.get("/v1/message-templates", headers=admin)
    assert listed.status_code == 200
    stored = {t["name"]: t for t in listed.json()["items"]}
    for name, template in DEFAULT_TEMPLATES.items():
        assert {k: stored[name][k] for k in ("purpose", "fields", "texts")} == template

    edited = _template()
    edited["texts"]["es"]["body"] = "Hola $name, retraso: $incident_title. Cuesta $$5."
    put = await client.put("/v1/message-templates/carrier_delay", json=edited, headers=admin)
    assert put.status_code == 200, put.text
    got = await client.get("/v1/message-templates/carrier_delay", headers=admin)
    assert got.json()["texts"]["es"]["body"] == edited["texts"]["es"]["body"]

    support = await make_key(Role.SUPPORT)
    refused = await client.put("/v1/message-templates/carrier_delay", json=edited, headers=support)
    assert refused.status_code == 403
    missing = await client.get("/v1/message-templates/nope", headers=admin)
    assert missing.status_code == 404


@pytest.mark.parametrize(
    ("where", "text", "reason"),
    [
        ("fr.body", "Bonjour $prenom", "unknown placeholder $prenom"),
        ("pt.subject", "Preço: 5$", "starts no placeholder"),
        ("en.body", "Hi ${given_name", "starts no placeholder"),
    ],
)
async def test_a_wrong_placeholder_is_a_422_naming_its_text(
    client: httpx.AsyncClient, admin: dict[str, str], where: str, text: str, reason: str
) -> None:
    body = _template()
    language, part = where.split(".")
    body["texts"][language][part] = text
    put = await client.put("/v1/message-templates/carrier_delay", json=body, headers=admin)
    assert put.status_code == 422, put.text
    [error] = put.json()["errors"]
    assert error["field"] == f"body.texts.{where}" and reason in error["reason"]


async def test_a_template_needs_every_language(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    body = _template()
    del body["texts"]["pt"]
    put = await client.put("/v1/message-templates/new-one", json=body, headers=admin)
    assert put.status_code == 422
    assert put.json()["errors"][0]["field"] == "body.texts.pt"


async def test_sending_by_hand_checks_the_fields_and_the_owner(
    client: httpx.AsyncClient, admin: dict[str, str], make_key: MakeKey
) -> None:
    mine = await new_customer(client, admin, owner_id="agent-a")
    theirs = await new_customer(client, admin, owner_id="agent-b")
    url = f"/v1/customers/{mine}/messages"
    for fields, field in (({}, "incident_title"), ({"incident_title": "x", "extra": "y"}, "extra")):
        wrong = await client.post(
            url, json={"template": "carrier_delay", "fields": fields}, headers=admin
        )
        assert wrong.status_code == 422
        assert wrong.json()["errors"][0]["field"] == f"body.fields.{field}"
    unknown = await client.post(url, json={"template": "nope"}, headers=admin)
    assert unknown.json()["errors"][0]["field"] == "body.template"

    owned = await make_key(Role.INTEGRATION, agent_id="agent-a", owned_only=True)
    body = {"template": "carrier_delay", "fields": {"incident_title": "SEUR"}}
    assert (await client.post(url, json=body, headers=owned)).status_code == 201
    other = await client.post(f"/v1/customers/{theirs}/messages", json=body, headers=owned)
    assert other.status_code == 404
    listed = await client.get(f"/v1/customers/{theirs}/messages", headers=owned)
    assert listed.status_code == 404
    support = await make_key(Role.SUPPORT)
    assert (await client.post(url, json=body, headers=support)).status_code == 403
    assert len((await client.get(url, headers=support)).json()["items"]) == 1


@pytest.fixture
def signer() -> Signer:
    return Signer()


@pytest.fixture
def settings(settings: Settings, signer: Signer) -> Settings:
    secrets = {**settings.webhook_secrets, "sendgrid-events": [signer.public]}
    return settings.model_copy(update={"webhook_secrets": secrets})


async def test_sendgrid_events_on_our_message_update_its_status(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    session: AsyncSession,
    signer: Signer,
    clock: Any,
) -> None:
    customer = await new_customer(
        client, admin, identifiers=[{"kind": "email", "value": "ana@example.com"}]
    )
    sent = await client.post(
        f"/v1/customers/{customer}/messages",
        json={"template": "carrier_delay", "fields": {"incident_title": "SEUR"}},
        headers=admin,
    )
    message = sent.json()["id"]
    # As the sender leaves a message SendGrid accepted.
    await session.execute(
        text(
            "UPDATE messages SET status = 'sent', channel = 'email', provider = 'sendgrid', "
            "provider_message_id = 'sgmsg1', sent_at = now() WHERE id = :id"
        ),
        {"id": message},
    )
    bounce = {
        "email": "ana@example.com",
        "timestamp": int(clock.now().timestamp()),
        "event": "bounce",
        "sg_event_id": "ev-bounce-1",
        "sg_message_id": "sgmsg1.filter0001",
        "reason": "550 5.1.1 mailbox unavailable",
        "ch_message_id": message,
    }
    delivery = signer.deliver([bounce], str(int(clock.now().timestamp())))
    posted = await client.post(
        "/v1/webhooks/sendgrid-events",
        content=delivery.body,
        headers={
            "content-type": "application/json",
            SENDGRID_SIGNATURE: delivery.headers[SENDGRID_SIGNATURE],
            SENDGRID_TIMESTAMP: delivery.headers[SENDGRID_TIMESTAMP],
        },
    )
    assert posted.status_code == 200 and posted.json()["status"] == "accepted", posted.text
    got = await client.get(f"/v1/customers/{customer}/messages/{message}", headers=admin)
    assert (got.json()["status"], got.json()["reason"]) == (
        "failed",
        "550 5.1.1 mailbox unavailable",
    )
    [event] = [
        e for e in (await timeline(client, admin, customer))["items"] if e["type"] != "note.added"
    ]
    assert event["type"] == "message.failed"
    assert event["payload"]["message_id"] == message and event["payload"]["channel"] == "email"


async def test_an_erasure_cancels_queued_messages_and_wipes_their_fields(
    live: tuple[httpx.AsyncClient, dict[str, str]], session: AsyncSession, clock: Any
) -> None:
    client, admin = live
    customer = await new_customer(client, admin)
    body = {"template": "carrier_delay", "fields": {"incident_title": "Ana Ruiz's order"}}
    sent = await client.post(f"/v1/customers/{customer}/messages", json=body, headers=admin)
    assert sent.status_code == 201
    erased = await client.post(
        f"/v1/customers/{customer}/erasure",
        json={"reason": "GDPR", "requested_at": clock.now().isoformat()},
        headers=admin,
    )
    assert erased.status_code == 200, erased.text
    row = (
        await session.execute(
            text("SELECT status, fields FROM messages WHERE id = :id"), {"id": sent.json()["id"]}
        )
    ).one()
    assert (row.status, row.fields) == ("cancelled", {})
