"""What a hostile caller, customer or payload cannot do with messages: break an e-mail's
headers, spoof the service's placeholders, forge a provider's report or a customer's reply
through another webhook source, or pick any time by a callback link."""

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import Settings
from app.messages import sending
from app.messages.providers import Accepted, Outgoing, Smtp
from app.messages.templates import LANGUAGES
from tests.support import providers
from tests.support.api import create_customer, timeline
from tests.support.clock import ControlledClock
from tests.support.providers import PUBLIC, SMS_FROM, SMTP_LOGIN, Mailbox, Stub
from tests.support.webhooks import generic_note, signed_generic, twilio_signature

# Monday 2 November 2026, 10:00 UTC: within the default contact hours (09:00-21:00 UTC).
MONDAY_10 = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
CARRIER = {"template": "carrier_delay", "fields": {"incident_title": "SEUR"}}


@pytest.fixture
def settings(settings: Settings, twilio: Stub, mailbox: Mailbox) -> Settings:
    return settings.model_copy(
        update={
            **providers.twilio_settings(twilio),
            "smtp_host": "127.0.0.1",
            "smtp_port": mailbox.port,
            "smtp_username": SMTP_LOGIN[0],
            "smtp_password": SecretStr(SMTP_LOGIN[1]),
            "smtp_security": "none",
        }
    )


async def _customer(
    client: httpx.AsyncClient, admin: dict[str, str], name: str, channel: str, **identifier: str
) -> str:
    """A customer reachable on ``channel`` (service consent, preferred) at ``identifier``."""
    body = {
        "display_name": name,
        "identifiers": [{"kind": kind, "value": value} for kind, value in identifier.items()],
    }
    customer = str((await create_customer(client, admin, **body))["id"])
    prefs = {"preferred_channel": channel}
    put = await client.put(f"/v1/customers/{customer}/preferences", json=prefs, headers=admin)
    assert put.status_code == 200, put.text
    consent = {"channel": channel, "purpose": "service", "granted": True, "source": "web"}
    posted = await client.post(f"/v1/customers/{customer}/consents", json=consent, headers=admin)
    assert posted.status_code == 201, posted.text
    return customer


async def _send(
    client: httpx.AsyncClient, admin: dict[str, str], customer: str, body: dict[str, Any]
) -> str:
    sent = await client.post(f"/v1/customers/{customer}/messages", json=body, headers=admin)
    assert sent.status_code == 201, sent.text
    return str(sent.json()["id"])


async def _pass(session: AsyncSession, settings: Settings, clock: ControlledClock) -> None:
    async with httpx.AsyncClient() as http:
        await sending.send_due(session, settings, clock, http)


async def _message(
    client: httpx.AsyncClient, admin: dict[str, str], customer: str, message: str
) -> dict[str, Any]:
    got = await client.get(f"/v1/customers/{customer}/messages/{message}", headers=admin)
    assert got.status_code == 200, got.text
    return dict(got.json())


async def _types(client: httpx.AsyncClient, admin: dict[str, str], customer: str) -> list[str]:
    return [e["type"] for e in (await timeline(client, admin, customer))["items"]]


def _template(body: str, subject: str = "Subject", **more: Any) -> dict[str, Any]:
    texts = {language: {"subject": subject, "body": body} for language in LANGUAGES}
    return {"purpose": "service", "fields": [], "texts": texts, **more}


# --- e-mail headers -----------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
async def test_a_line_break_in_a_name_or_a_field_never_reaches_an_email_header(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    session: AsyncSession,
    settings: Settings,
    clock: ControlledClock,
    mailbox: Mailbox,
) -> None:
    clock.set(MONDAY_10)
    hostile = await _customer(
        client, admin, "Eve\r\nBcc: spy@evil.example", "email", email="eve@example.com"
    )
    other = await _customer(client, admin, "Ana Ruiz", "email", email="ana@example.com")
    title = "SEUR\r\nBcc: spy@evil.example"
    edited = _template("Hola $name: $incident_title", "Retraso: $incident_title")
    edited["fields"] = ["incident_title"]
    put = await client.put("/v1/message-templates/delay", json=edited, headers=admin)
    assert put.status_code == 200, put.text
    first = await _send(
        client, admin, hostile, {"template": "delay", "fields": {"incident_title": title}}
    )
    second = await _send(client, admin, other, CARRIER)

    await _pass(session, settings, clock)

    assert (await _message(client, admin, hostile, first))["status"] == "sent"
    assert (await _message(client, admin, other, second))["status"] == "sent"
    assert sorted(tuple(e.rcpt_tos) for e in mailbox.envelopes) == [
        ("ana@example.com",),
        ("eve@example.com",),
    ]
    mail = next(m for m in mailbox.messages() if "eve@example.com" in m["To"])
    assert mail["Bcc"] is None
    assert mail["Subject"] == "Retraso: SEUR Bcc: spy@evil.example"
    assert "\n" not in mail["To"] and "Eve Bcc: spy@evil.example" in mail["To"]


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
async def test_an_address_smtp_cannot_write_fails_its_message_and_not_the_others(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    session: AsyncSession,
    settings: Settings,
    clock: ControlledClock,
    mailbox: Mailbox,
) -> None:
    """An internationalised address is valid, and plain SMTP cannot carry it: it stopped
    every pass of the sender, again and again."""
    clock.set(MONDAY_10)
    unwritable = await _customer(client, admin, "José", "email", email="josé@ejemplo.es")
    other = await _customer(client, admin, "Ana Ruiz", "email", email="ana@example.com")
    first = await _send(client, admin, unwritable, CARRIER)
    second = await _send(client, admin, other, CARRIER)

    await _pass(session, settings, clock)

    failed = await _message(client, admin, unwritable, first)
    assert failed["status"] == "failed" and "ASCII" in failed["reason"]
    assert "josé" not in failed["reason"]
    assert (await _message(client, admin, other, second))["status"] == "sent"
    assert [e.rcpt_tos for e in mailbox.envelopes] == [["ana@example.com"]]


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
async def test_an_unforeseen_error_fails_its_message_and_not_the_others(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    session: AsyncSession,
    settings: Settings,
    clock: ControlledClock,
    mailbox: Mailbox,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Whatever one message's sending raises, the pass goes on with the others and that
    message fails, with the error's kind and nothing of its text (which may quote data)."""
    clock.set(MONDAY_10)
    unlucky = await _customer(client, admin, "Eva Gil", "email", email="eva@example.com")
    other = await _customer(client, admin, "Ana Ruiz", "email", email="ana@example.com")
    first = await _send(client, admin, unlucky, CARRIER)
    second = await _send(client, admin, other, CARRIER)
    real_send = Smtp.send

    async def fault(self: Smtp, message: Outgoing, http: httpx.AsyncClient) -> Accepted:
        if message.to == "eva@example.com":
            raise RuntimeError("eva@example.com broke it")
        return await real_send(self, message, http)

    monkeypatch.setattr(Smtp, "send", fault)

    await _pass(session, settings, clock)

    failed = await _message(client, admin, unlucky, first)
    assert failed["status"] == "failed", failed
    assert failed["reason"] == "unforeseen error: RuntimeError"
    assert (await _message(client, admin, other, second))["status"] == "sent"
    assert [e.rcpt_tos for e in mailbox.envelopes] == [["ana@example.com"]]
    await _pass(session, settings, clock)  # not taken again
    assert len(mailbox.envelopes) == 1


async def test_a_subject_with_a_line_break_is_a_422_naming_it(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    body = _template("Hola $name", "Hola\r\nBcc: spy@evil.example")
    put = await client.put("/v1/message-templates/broken", json=body, headers=admin)
    assert put.status_code == 422, put.text
    assert put.json()["errors"][0]["field"] == "body.texts.es.subject"


# --- placeholders -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        (["name"], "body.fields.0"),
        (["incident_title", "given_name"], "body.fields.1"),
        (["callback_url"], "body.fields.0"),
        (["incident_title", "incident_title"], "body.fields.1"),
    ],
)
async def test_a_template_declares_neither_the_service_s_placeholders_nor_one_twice(
    client: httpx.AsyncClient, admin: dict[str, str], fields: list[str], named: str
) -> None:
    """Otherwise whoever sends it would write the customer's name (or the link) at will."""
    body = _template("Hola $name", fields=fields)
    put = await client.put("/v1/message-templates/spoof", json=body, headers=admin)
    assert put.status_code == 422, put.text
    assert put.json()["errors"][0]["field"] == named


# --- what comes back ------------------------------------------------------------------------


async def _sms_with_a_link(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    session: AsyncSession,
    settings: Settings,
    clock: ControlledClock,
    twilio: Stub,
    phone: str = "+34612345678",
) -> tuple[str, str, str]:
    """A customer sent an SMS offering a callback: the customer, the message, the link's path."""
    clock.set(MONDAY_10)
    customer = await _customer(client, admin, "Ana Ruiz", "sms", phone=phone)
    put = await client.put(
        "/v1/message-templates/callback", json=_template("Hola $name: $callback_url"), headers=admin
    )
    assert put.status_code == 200, put.text
    message = await _send(client, admin, customer, {"template": "callback"})
    await _pass(session, settings, clock)
    [body] = twilio.requests[-1].form()["Body"]
    return customer, message, body.rsplit(" ", 1)[1].removeprefix(PUBLIC)


async def test_another_webhook_source_can_neither_report_on_a_message_nor_ask_for_a_callback(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    session: AsyncSession,
    settings: Settings,
    clock: ControlledClock,
    twilio: Stub,
) -> None:
    """A generic source writes events; the status of a message is the provider's to say,
    and a reply comes from the provider's receiver, not from anyone who can post a note."""
    customer, message, _ = await _sms_with_a_link(client, admin, session, settings, clock, twilio)
    failed = generic_note(
        type="message.failed",
        customer={"phone": "+34612345678"},
        payload={"channel": "sms", "message_id": message, "reason": "forged"},
    )
    reply = generic_note(
        type="message.received",
        customer={"phone": "+34612345678"},
        payload={"channel": "sms", "body": "call me"},
    )
    for index, event in enumerate((failed, reply)):
        body = httpx.Request("POST", "/", json=event).content
        headers = signed_generic(body, f"msg_{index}", at=clock.now())
        posted = await client.post("/v1/webhooks/generic", content=body, headers=headers)
        assert posted.status_code == 200 and posted.json()["status"] == "accepted", posted.text

    got = await _message(client, admin, customer, message)
    assert (got["status"], got["reason"], got["callback_requested_at"]) == ("sent", None, None)
    assert "callback.requested" not in await _types(client, admin, customer)


async def test_a_provider_s_report_on_another_customer_s_message_changes_nothing(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    session: AsyncSession,
    settings: Settings,
    clock: ControlledClock,
    twilio: Stub,
) -> None:
    customer, message, _ = await _sms_with_a_link(client, admin, session, settings, clock, twilio)
    sid = (await _message(client, admin, customer, message))["provider_message_id"]
    await _customer(client, admin, "Bob", "sms", phone="+34622222222")
    report = urlencode(
        {"MessageSid": sid, "MessageStatus": "undelivered", "To": "+34622222222", "From": SMS_FROM}
    ).encode()
    posted = await client.post(
        "/v1/webhooks/twilio",
        content=report,
        headers={
            "content-type": "application/x-www-form-urlencoded",
            "x-twilio-signature": twilio_signature(f"{PUBLIC}/v1/webhooks/twilio", report),
        },
    )
    assert posted.status_code == 200, posted.text
    assert (await _message(client, admin, customer, message))["status"] == "sent"


# --- the callback link ----------------------------------------------------------------------


async def test_a_callback_link_takes_only_a_time_it_offers(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    session: AsyncSession,
    settings: Settings,
    clock: ControlledClock,
    twilio: Stub,
) -> None:
    customer, _, path = await _sms_with_a_link(client, admin, session, settings, clock, twilio)
    page = await client.get(path)
    offered = page.text.split('value="')[1].split('"')[0]
    for slot in ("2999-01-01T00:00:00+00:00", "2026-11-02T11:30:00+00:00"):
        refused = await client.post(path, data={"slot": slot})
        assert refused.status_code == 422, refused.text
        assert refused.json()["errors"][0]["field"] == "body.slot"
    assert "callback.requested" not in await _types(client, admin, customer)

    clock.advance(timedelta(minutes=20))  # the page was left open a while
    chosen = await client.post(path, data={"slot": offered})
    assert chosen.status_code == 200, chosen.text
    assert "callback.requested" in await _types(client, admin, customer)


async def test_a_callback_link_used_again_says_the_first_choice_stands(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    session: AsyncSession,
    settings: Settings,
    clock: ControlledClock,
    twilio: Stub,
) -> None:
    customer, _, path = await _sms_with_a_link(client, admin, session, settings, clock, twilio)
    first, second = ((clock.now() + timedelta(hours=h)).replace(minute=0) for h in (2, 3))
    assert (await client.post(path, data={"slot": first.isoformat()})).status_code == 200

    again = await client.post(path, data={"slot": second.isoformat()})
    assert again.status_code == 200
    assert second.isoformat() not in again.text and "already" in again.text
    page = await client.get(path)
    assert page.status_code == 200 and "<form" not in page.text and "already" in page.text
    types = await _types(client, admin, customer)
    assert types.count("callback.requested") == 1
