"""The journeys that message customers, end to end: through the API, the sender and local
provider servers, on the controlled clock.

- abandoned calls: a premium customer abandons four calls; 30 minutes later, if the
  alert is still open, an SMS in their language offers a callback, which they take by
  the link or by replying;
- carrier delay: an incident declared with a message messages each affected customer
  once, on their preferred channel.
"""

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import Settings
from app.messages import journeys, sending
from tests.support import providers
from tests.support.api import create_customer, timeline
from tests.support.clock import ControlledClock
from tests.support.providers import PUBLIC, SENDGRID_KEY, SMS_FROM, TWILIO_SID, Stub
from tests.support.webhooks import twilio_signature

# Monday 2 November 2026, 10:00 in Madrid (09:00 UTC).
MONDAY_10_MADRID = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def settings(settings: Settings, twilio: Stub, sendgrid: Stub) -> Settings:
    return settings.model_copy(
        update={
            **providers.twilio_settings(twilio),
            "sendgrid_base_url": sendgrid.base_url,
            "sendgrid_api_key": SecretStr(SENDGRID_KEY),
        }
    )


async def _customer(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    *,
    language: str = "es",
    consents: tuple[tuple[str, str], ...] = (("sms", "service"),),
    preferences: dict[str, Any] | None = None,
    **identifiers: str,
) -> str:
    body = {
        "given_name": "Lucía",
        "family_name": "Gómez",
        "tier": "premium",
        "preferred_language": language,
        "identifiers": [
            {"kind": kind, "value": value}
            for kind, value in ({"phone": "+34612345678"} | identifiers).items()
        ],
    }
    customer = str((await create_customer(client, admin, **body))["id"])
    prefs = {
        "preferred_channel": "sms",
        "timezone": "Europe/Madrid",
        "contact_hours": [
            {"days": ["mon", "tue", "wed", "thu", "fri"], "from": "09:00", "to": "20:00"}
        ],
        **(preferences or {}),
    }
    put = await client.put(f"/v1/customers/{customer}/preferences", json=prefs, headers=admin)
    assert put.status_code == 200, put.text
    for channel, purpose in consents:
        consent = {"channel": channel, "purpose": purpose, "granted": True, "source": "web"}
        posted = await client.post(
            f"/v1/customers/{customer}/consents", json=consent, headers=admin
        )
        assert posted.status_code == 201, posted.text
    return customer


async def _abandon_four_calls(
    client: httpx.AsyncClient, admin: dict[str, str], customer: str, clock: ControlledClock
) -> dict[str, Any]:
    for minutes in (40, 30, 20, 10):
        body = {
            "type": "call.abandoned",
            "occurred_at": clock.ago(minutes=minutes).isoformat(),
            "payload": {"from": "+34612345678"},
        }
        appended = await client.post(f"/v1/customers/{customer}/events", json=body, headers=admin)
        assert appended.status_code == 201, appended.text
    alerts = await client.get("/v1/alerts", params={"customer_id": customer}, headers=admin)
    [alert] = alerts.json()["items"]
    assert alert["rule"] == "premium_abandoned_calls"
    return dict(alert)


async def _pass(session: AsyncSession, settings: Settings, clock: ControlledClock) -> int:
    """One pass of the sender, as the leading process makes it."""
    await journeys.plan_rule_messages(session, clock)
    async with httpx.AsyncClient() as http:
        return await sending.send_due(session, settings, clock, http)


async def _messages(
    client: httpx.AsyncClient, admin: dict[str, str], customer: str
) -> list[dict[str, Any]]:
    listed = await client.get(f"/v1/customers/{customer}/messages", headers=admin)
    assert listed.status_code == 200, listed.text
    return list(listed.json()["items"])


async def _types(client: httpx.AsyncClient, admin: dict[str, str], customer: str) -> list[str]:
    return [e["type"] for e in (await timeline(client, admin, customer))["items"]]


async def test_abandoned_calls_get_an_sms_after_the_delay_in_their_language(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    session: AsyncSession,
    settings: Settings,
    clock: ControlledClock,
    twilio: Stub,
) -> None:
    clock.set(MONDAY_10_MADRID)
    customer = await _customer(client, admin)
    alert = await _abandon_four_calls(client, admin, customer, clock)

    await _pass(session, settings, clock)
    [queued] = await _messages(client, admin, customer)
    assert (queued["status"], queued["template"], queued["origin"]) == (
        "queued",
        "abandoned_calls",
        "rule:premium_abandoned_calls",
    )
    assert queued["not_before"] == (MONDAY_10_MADRID + timedelta(minutes=30)).isoformat().replace(
        "+00:00", "Z"
    )
    clock.advance(timedelta(minutes=29))
    await _pass(session, settings, clock)
    assert twilio.requests == [], "nothing before the delay"

    clock.advance(timedelta(minutes=2))
    await _pass(session, settings, clock)
    await _pass(session, settings, clock)  # planned once, sent once

    [request] = twilio.requests
    form = request.form()
    assert (form["To"], form["From"]) == (["+34612345678"], [SMS_FROM])
    assert form["StatusCallback"] == [f"{PUBLIC}/v1/webhooks/twilio"]
    [body] = form["Body"]
    assert body.startswith("Hola Lucía: hemos visto sus 4 llamadas"), body
    link = body.rsplit(" ", 1)[1]
    assert link.startswith(f"{PUBLIC}/v1/callbacks/")

    [sent] = await _messages(client, admin, customer)
    assert (sent["status"], sent["channel"], sent["language"], sent["provider"]) == (
        "sent",
        "sms",
        "es",
        "twilio",
    )
    assert sent["provider_message_id"] == f"SM{1:032x}"
    events = (await timeline(client, admin, customer))["items"]
    recorded = next(e for e in events if e["type"] == "message.sent")
    assert recorded["payload"]["channel"] == "sms"
    assert recorded["payload"]["template"] == "abandoned_calls"
    assert recorded["payload"]["body"] == body
    assert alert["status"] == "open"

    # Twilio reports it delivered, through the signed receiver.
    callback = urlencode(
        {
            "MessageSid": sent["provider_message_id"],
            "MessageStatus": "delivered",
            "AccountSid": TWILIO_SID,
            "From": SMS_FROM,
            "To": "+34612345678",
            "ApiVersion": "2010-04-01",
        }
    ).encode()
    signature = twilio_signature(f"{PUBLIC}/v1/webhooks/twilio", callback)
    delivered = await client.post(
        "/v1/webhooks/twilio",
        content=callback,
        headers={
            "content-type": "application/x-www-form-urlencoded",
            "x-twilio-signature": signature,
        },
    )
    assert delivered.status_code == 200 and delivered.json()["status"] == "accepted"
    assert (await _messages(client, admin, customer))[0]["status"] == "delivered"
    assert "message.delivered" in await _types(client, admin, customer)

    # The link opens a page of times (recording nothing); choosing one records the request.
    path = link.removeprefix(PUBLIC)
    page = await client.get(path)
    assert page.status_code == 200 and "<form" in page.text
    assert "callback.requested" not in await _types(client, admin, customer)
    slot = page.text.split('value="')[2].split('"')[0]  # the second time offered
    chosen = await client.post(path, data={"slot": slot})
    assert chosen.status_code == 200, chosen.text
    events = (await timeline(client, admin, customer))["items"]
    requested = next(e for e in events if e["type"] == "callback.requested")
    assert requested["payload"] == {"message_id": sent["id"], "via": "link", "slot": slot}
    assert (await _messages(client, admin, customer))[0]["callback_requested_at"] is not None
    forged = await client.get(path[:-3] + "xyz")
    assert forged.status_code == 404


async def test_a_reply_to_the_sms_asks_for_the_callback(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    session: AsyncSession,
    settings: Settings,
    clock: ControlledClock,
    twilio: Stub,
) -> None:
    clock.set(MONDAY_10_MADRID)
    customer = await _customer(client, admin)
    await _abandon_four_calls(client, admin, customer, clock)
    await _pass(session, settings, clock)
    clock.advance(timedelta(minutes=31))
    await _pass(session, settings, clock)
    assert len(twilio.requests) == 1

    reply = urlencode(
        {
            "MessageSid": "SM" + "f" * 32,
            "SmsStatus": "received",
            "AccountSid": TWILIO_SID,
            "From": "+34612345678",
            "To": SMS_FROM,
            "Body": "Sí, llámenme a las 17h",
            "NumMedia": "0",
        }
    ).encode()
    posted = await client.post(
        "/v1/webhooks/twilio",
        content=reply,
        headers={
            "content-type": "application/x-www-form-urlencoded",
            "x-twilio-signature": twilio_signature(f"{PUBLIC}/v1/webhooks/twilio", reply),
        },
    )
    assert posted.status_code == 200 and posted.json()["status"] == "accepted", posted.text
    events = (await timeline(client, admin, customer))["items"]
    assert [e["type"] for e in events[:2]] == ["callback.requested", "message.received"]
    assert events[0]["payload"]["via"] == "reply"
    assert events[0]["payload"]["text"] == "Sí, llámenme a las 17h"


async def test_no_sms_when_the_alert_was_acknowledged_before_the_delay(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    session: AsyncSession,
    settings: Settings,
    clock: ControlledClock,
    twilio: Stub,
) -> None:
    clock.set(MONDAY_10_MADRID)
    customer = await _customer(client, admin)
    alert = await _abandon_four_calls(client, admin, customer, clock)
    await _pass(session, settings, clock)
    acknowledged = await client.post(f"/v1/alerts/{alert['id']}/ack", headers=admin)
    assert acknowledged.status_code == 200, acknowledged.text

    clock.advance(timedelta(minutes=31))
    await _pass(session, settings, clock)

    assert twilio.requests == []
    [message] = await _messages(client, admin, customer)
    assert message["status"] == "cancelled"
    assert "message.sent" not in await _types(client, admin, customer)


async def test_no_sms_without_consent_or_with_do_not_call(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    session: AsyncSession,
    settings: Settings,
    clock: ControlledClock,
    twilio: Stub,
) -> None:
    clock.set(MONDAY_10_MADRID)
    marketing_only = await _customer(client, admin, consents=(("sms", "marketing"),))
    do_not_call = await _customer(
        client, admin, preferences={"do_not_call": True}, phone="+34699999999"
    )
    for customer in (marketing_only, do_not_call):
        await _abandon_four_calls(client, admin, customer, clock)
    await _pass(session, settings, clock)
    clock.advance(timedelta(minutes=31))
    await _pass(session, settings, clock)

    assert twilio.requests == []
    [no_consent] = await _messages(client, admin, marketing_only)
    assert no_consent["status"] == "skipped"
    assert "sms: no service consent" in no_consent["reason"]
    [refused] = await _messages(client, admin, do_not_call)
    assert refused["status"] == "skipped" and "sms: do_not_call" in refused["reason"]


async def test_a_message_waits_for_the_contact_hours_on_the_customer_s_clock(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    session: AsyncSession,
    settings: Settings,
    clock: ControlledClock,
    twilio: Stub,
) -> None:
    # Friday 6 November 2026, 20:30 in Madrid: after the window (09:00-20:00, weekdays).
    clock.set(datetime(2026, 11, 6, 19, 30, tzinfo=UTC))
    customer = await _customer(client, admin, language="fr")
    sent = await client.post(
        f"/v1/customers/{customer}/messages",
        json={"template": "carrier_delay", "fields": {"incident_title": "Retards SEUR"}},
        headers=admin,
    )
    assert sent.status_code == 201, sent.text
    assert sent.headers["location"].endswith(f"/messages/{sent.json()['id']}")

    await _pass(session, settings, clock)
    [waiting] = await _messages(client, admin, customer)
    monday_9_madrid = "2026-11-09T08:00:00Z"
    assert (waiting["status"], waiting["not_before"]) == ("queued", monday_9_madrid)
    clock.set(datetime(2026, 11, 8, 12, 0, tzinfo=UTC))  # Sunday noon: still closed
    await _pass(session, settings, clock)
    assert twilio.requests == []

    clock.set(datetime(2026, 11, 9, 8, 0, 30, tzinfo=UTC))
    await _pass(session, settings, clock)
    [request] = twilio.requests
    assert request.form()["Body"][0].startswith("Bonjour Lucía, votre commande est retardée")
    one = await client.get(
        sent.headers["location"].removeprefix("http://testserver"), headers=admin
    )
    assert (one.json()["status"], one.json()["language"]) == ("sent", "fr")


async def _shipped(
    client: httpx.AsyncClient, admin: dict[str, str], customer: str, order: str, at: datetime
) -> None:
    for type_ in ("order.placed", "order.shipped"):
        body = {
            "type": type_,
            "occurred_at": at.isoformat(),
            "source": "shop",
            "source_event_id": f"{order}:{type_}",
            "payload": {"order_id": order, "total": "20.00", "currency": "EUR", "carrier": "SEUR"},
        }
        posted = await client.post(f"/v1/customers/{customer}/events", json=body, headers=admin)
        assert posted.status_code == 201, posted.text


async def test_a_carrier_delay_messages_each_affected_customer_once_by_preference(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    session: AsyncSession,
    settings: Settings,
    clock: ControlledClock,
    twilio: Stub,
    sendgrid: Stub,
) -> None:
    clock.set(MONDAY_10_MADRID)
    by_sms = await _customer(client, admin)
    by_email = await _customer(
        client,
        admin,
        language="pt-BR",
        consents=(("email", "service"), ("sms", "service")),
        preferences={"preferred_channel": "email"},
        phone="+34622222222",
        email="joao@example.com",
    )
    no_consent = await _customer(client, admin, consents=(), phone="+34633333333")
    for index, customer in enumerate((by_sms, by_email, no_consent)):
        await _shipped(client, admin, customer, f"SO-{index}", clock.ago(days=1))

    declared = await client.post(
        "/v1/incidents",
        json={
            "title": "SEUR Madrid",
            "matcher": {
                "kind": "shipment_delay",
                "carrier": "SEUR",
                "shipped_from": clock.ago(days=2).isoformat(),
                "shipped_to": clock.now().isoformat(),
            },
            "message": {"template": "carrier_delay"},
        },
        headers=admin,
    )
    assert declared.status_code == 201, declared.text
    assert (declared.json()["affected"], declared.json()["messages_queued"]) == (3, 3)

    await _pass(session, settings, clock)
    await _pass(session, settings, clock)

    [sms] = twilio.requests
    assert sms.form()["To"] == ["+34612345678"]
    assert "SEUR Madrid" in sms.form()["Body"][0]
    [email] = sendgrid.requests
    mail = email.json()
    assert mail["personalizations"][0]["to"][0]["email"] == "joao@example.com"
    assert mail["subject"] == "A sua encomenda vai chegar com atraso"
    assert "SEUR Madrid" in mail["content"][0]["value"]
    for customer, channel in ((by_sms, "sms"), (by_email, "email")):
        [message] = await _messages(client, admin, customer)
        assert (message["status"], message["channel"]) == ("sent", channel)
        assert (await _types(client, admin, customer)).count("message.sent") == 1
    [skipped] = await _messages(client, admin, no_consent)
    assert skipped["status"] == "skipped"


async def test_an_unknown_template_for_an_incident_is_named(
    client: httpx.AsyncClient, admin: dict[str, str], clock: ControlledClock
) -> None:
    declared = await client.post(
        "/v1/incidents",
        json={
            "title": "SEUR Madrid",
            "matcher": {
                "kind": "shipment_delay",
                "shipped_from": clock.ago(days=2).isoformat(),
                "shipped_to": clock.now().isoformat(),
            },
            "message": {"template": "no_such_template"},
        },
        headers=admin,
    )
    assert declared.status_code == 422
    assert declared.json()["errors"][0]["field"] == "body.message.template"
