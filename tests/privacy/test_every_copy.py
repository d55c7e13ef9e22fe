"""Privacy covers every copy: stored URLs, logs, the export of a delivery shared by
several customers, failed deliveries."""

import base64
import json

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import Settings
from tests.privacy.scan import columns_holding
from tests.support.api import new_customer
from tests.support.fixtures import AppLog
from tests.support.webhooks import INBOUND_CONTENT_TYPE, inbound_parse_body, signed_generic

TOKEN = "pt7Hq2ZsX9wLm4Vb"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """SendGrid Inbound Parse configured with a path token besides its user:pass."""
    inbound = [*settings.webhook_secrets["sendgrid-inbound"], TOKEN]
    secrets = {**settings.webhook_secrets, "sendgrid-inbound": inbound}
    return settings.model_copy(update={"webhook_secrets": secrets})


async def test_a_path_token_is_never_stored_listed_or_logged(
    client: httpx.AsyncClient, admin: dict[str, str], session: AsyncSession, app_log: AppLog
) -> None:
    posted = await client.post(
        f"/v1/webhooks/sendgrid-inbound/{TOKEN}",
        content=inbound_parse_body(),
        headers={"content-type": INBOUND_CONTENT_TYPE},
    )
    assert posted.status_code == 200, posted.text
    wrong = await client.post(
        "/v1/webhooks/sendgrid-inbound/not-the-token",
        content=inbound_parse_body(),
        headers={"content-type": INBOUND_CONTENT_TYPE},
    )
    assert wrong.status_code == 401

    stored = await session.scalar(
        text("SELECT url FROM webhook_deliveries WHERE source = 'sendgrid-inbound'")
    )
    assert stored == "http://testserver/v1/webhooks/sendgrid-inbound/{token}"
    assert await columns_holding(session, [TOKEN]) == []
    listed = await client.get(
        "/v1/webhook-deliveries", params={"source": "sendgrid-inbound"}, headers=admin
    )
    assert listed.status_code == 200 and TOKEN not in listed.text
    [delivery] = listed.json()["items"]
    replayed = await client.post(f"/v1/webhook-deliveries/{delivery['id']}/replay", headers=admin)
    assert replayed.status_code == 200, "a stored delivery replays without its token"

    assert TOKEN not in app_log.text() and "not-the-token" not in app_log.text()
    routes = {line.get("route") for line in app_log.lines() if line.get("event") == "request"}
    assert "/v1/webhooks/{source}/{token}" in routes


async def test_logs_carry_route_templates_never_phones_or_query_strings(
    client: httpx.AsyncClient, admin: dict[str, str], app_log: AppLog
) -> None:
    await new_customer(client, admin, identifiers=[{"kind": "phone", "value": "+34612345678"}])
    for url in (
        "/v1/fichas/by-phone/+34612345678?role=support",
        "/v1/fichas/by-phone/612%2034%2056%2078?role=support",
        "/v1/routing/by-phone/%2B34612345678",
        "/v1/identify?phone=%2B34612345678",
        "/v1/customers?q=612345678",
        "/v1/nowhere/612345678",
    ):
        assert (await client.get(url, headers=admin)).status_code < 500

    logged = app_log.text()
    for needle in ("612345678", "612 34 56 78", "612%2034", "%2B34", "role=support"):
        assert needle not in logged, needle
    requests = [line for line in app_log.lines() if line.get("event") == "request"]
    assert {line["route"] for line in requests} >= {
        "/v1/fichas/by-phone/{phone}",
        "/v1/routing/by-phone/{phone}",
        "/v1/identify",
        "unmatched",
    }
    assert all("path" not in line for line in requests)


def _bodies(export: dict[str, object]) -> str:
    """The export as text with every raw body decoded, for searching."""
    decoded = [
        base64.b64decode(d["body_base64"]).decode(errors="replace")
        for d in export["webhook_deliveries"]  # type: ignore[union-attr]
        if isinstance(d, dict) and d.get("body_base64")
    ]
    return json.dumps(export) + "\n".join(decoded)


async def test_the_export_holds_only_the_subjects_data(
    live: tuple[httpx.AsyncClient, dict[str, str]],
) -> None:
    client, admin = live
    ana = await new_customer(
        client, admin, identifiers=[{"kind": "email", "value": "ana@example.com"}]
    )
    await new_customer(
        client,
        admin,
        display_name="Bob Stone",
        identifiers=[{"kind": "email", "value": "bob.stone@example.com"}],
    )
    # One delivery, two customers (as a SendGrid batch or a generic list carries them).
    batch = json.dumps(
        [
            {
                "customer": {"email": email},
                "type": "note.added",
                "occurred_at": "2026-03-04T10:00:00Z",
                "payload": {"text": f"note about {who}"},
            }
            for email, who in (("ana@example.com", "Ana"), ("bob.stone@example.com", "Bob Stone"))
        ]
    ).encode()
    shared = await client.post(
        "/v1/webhooks/generic", content=batch, headers=signed_generic(batch, "m-b1")
    )
    assert shared.json()["status"] == "accepted", shared.text
    own = json.dumps(
        {
            "customer": {"email": "ana@example.com"},
            "type": "note.added",
            "occurred_at": "2026-03-05T10:00:00Z",
            "payload": {"text": "only about Ana"},
        }
    ).encode()
    assert (
        await client.post("/v1/webhooks/generic", content=own, headers=signed_generic(own, "m-b2"))
    ).is_success

    doc = (await client.get(f"/v1/customers/{ana}/export", headers=admin)).json()

    searchable = _bodies(doc)
    assert "bob.stone@example.com" not in searchable and "Bob Stone" not in searchable
    by_id = {d["delivery_id"]: d for d in doc["webhook_deliveries"]}
    assert set(by_id) == {"m-b1", "m-b2"}
    assert base64.b64decode(by_id["m-b2"]["body_base64"]) == own
    assert by_id["m-b1"]["body_base64"] is None and "other customers" in by_id["m-b1"]["note"]
    notes = [e["payload"]["text"] for e in doc["events"]]
    assert notes == ["note about Ana", "only about Ana"]


async def test_a_failed_delivery_is_linked_to_the_customers_it_names(
    live: tuple[httpx.AsyncClient, dict[str, str]],
) -> None:
    """A delivery that stored no event still belongs to the export of whom it names, found
    by the identifiers its adapter read (a national-format phone here), not by a search."""
    client, admin = live
    ana = await new_customer(
        client, admin, identifiers=[{"kind": "phone", "value": "+34612345678"}]
    )
    broken = json.dumps(
        {
            "customer": {"phone": "612 34 56 78"},
            "type": "order.placed",
            "occurred_at": "2026-03-04T10:00:00Z",
            "payload": {"order_id": "SO-1", "total": {"amount": "lots", "currency": "EUR"}},
        }
    ).encode()
    failed = await client.post(
        "/v1/webhooks/generic", content=broken, headers=signed_generic(broken, "m-f1")
    )
    assert failed.status_code == 202, failed.text

    doc = (await client.get(f"/v1/customers/{ana}/export", headers=admin)).json()

    [delivery] = doc["webhook_deliveries"]
    assert delivery["status"] == "failed"
    assert base64.b64decode(delivery["body_base64"]) == broken


async def test_a_failed_delivery_naming_someone_before_they_are_a_customer_is_theirs(
    live: tuple[httpx.AsyncClient, dict[str, str]], session: AsyncSession
) -> None:
    """A delivery that failed before its sender was anyone's customer names no customer
    then; once they become one (here by the API, later), it is in their export and their
    erasure wipes it, found by the identifiers it named (a national-format phone)."""
    client, admin = live
    broken = json.dumps(
        {
            "customer": {"email": "late.comer@example.com", "phone": "633 44 55 66"},
            "type": "survey.answered",
            "occurred_at": "2026-03-04T10:00:00Z",
            "payload": {"csat": "very", "comment": "Late Comer, Calle Tardía 9"},
        }
    ).encode()
    failed = await client.post(
        "/v1/webhooks/generic", content=broken, headers=signed_generic(broken, "m-late")
    )
    assert failed.status_code == 202, failed.text
    late = await new_customer(
        client,
        admin,
        display_name="Late Comer",
        identifiers=[{"kind": "phone", "value": "+34633445566"}],
    )

    doc = (await client.get(f"/v1/customers/{late}/export", headers=admin)).json()
    [delivery] = doc["webhook_deliveries"]
    assert base64.b64decode(delivery["body_base64"]) == broken

    erased = await client.post(
        f"/v1/customers/{late}/erasure",
        json={"reason": "asked", "requested_at": "2026-11-01T00:00:00Z"},
        headers=admin,
    )
    assert erased.json()["deliveries_redacted"] == 1, erased.text
    needles = ["late.comer@example.com", "633 44 55 66", "633445566", "Calle Tard"]
    assert await columns_holding(session, needles) == []


async def test_a_failed_delivery_naming_someone_else_is_exported_without_its_body(
    live: tuple[httpx.AsyncClient, dict[str, str]],
) -> None:
    """A failed batch that names the subject and a person who is nobody's customer yet
    carries that person's data: the subject's export shows it without body or error."""
    client, admin = live
    ana = await new_customer(
        client, admin, identifiers=[{"kind": "email", "value": "ana@example.com"}]
    )
    batch = json.dumps(
        [
            {
                "customer": {"email": email},
                "type": "survey.answered",
                "occurred_at": "2026-03-04T10:00:00Z",
                "payload": {"csat": score},
            }
            for email, score in (("ana@example.com", 4), ("zoe.unknown@example.com", "bad"))
        ]
    ).encode()
    failed = await client.post(
        "/v1/webhooks/generic", content=batch, headers=signed_generic(batch, "m-z")
    )
    assert failed.status_code == 202, failed.text

    doc = (await client.get(f"/v1/customers/{ana}/export", headers=admin)).json()

    assert "zoe.unknown" not in _bodies(doc)
    [delivery] = doc["webhook_deliveries"]
    assert delivery["body_base64"] is None and "other customers" in delivery["note"]
