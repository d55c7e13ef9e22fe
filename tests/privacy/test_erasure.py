"""Erasure: personal data leaves every column of every table; company figures stay."""

import asyncio
import base64
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import Settings
from app.core.db import plain_url
from app.core.security import ACCESS_CHANNEL
from app.indicators import service as indicators
from tests.privacy.scan import columns_holding
from tests.support.api import append, new_customer
from tests.support.clock import ControlledClock
from tests.support.fixtures import AppLog
from tests.support.webhooks import (
    Signer,
    golden,
    shopify_post,
    signed_generic,
    twilio_signature,
)

# Jane Doe as the platforms' documentation samples know her, with a Spanish mobile too.
NAME, EMAIL, PHONE = "Jane Doe", "jane.doe@example.com", "+447700900123"
MOBILE, MOBILE_AS_WRITTEN = "+34612345678", "612 34 56 78"
ADDRESS = "1 Example Street"
# What else her profile says, each spelled so that only that field holds it.
JOB, WEBSITE, TAG = "Lighthouse keeper", "https://keeper-blog.example.org/", "lamp-collector"
CARD, PREFERENCE, EVIDENCE = "LC-99812", "ring twice, deaf in one ear", "paper form 88-J"
OLD_EMAIL = "maiden.name@example.com"  # an identifier she had, detached before
# A duplicate of her, merged into her record before she asks to be erased.
TWIN_NAME, TWIN_EMAIL, TWIN_NOTE = "Janet Twinning", "twinning.j@example.net", "moved to Leeds"
NEEDLES = [
    "Jane", "Doe", EMAIL, PHONE, PHONE.lstrip("+"), ADDRESS, "SW1A 1AA",
    MOBILE.lstrip("+34"), MOBILE_AS_WRITTEN, JOB, "keeper-blog", TAG, CARD, PREFERENCE,
    EVIDENCE, OLD_EMAIL, "Twinning", TWIN_EMAIL, TWIN_NOTE, "Harbour Row",
]  # fmt: skip
SENDGRID = Signer()
REPORT = {"from": "2000-01-01T00:00:00Z", "to": "2100-01-01T00:00:00Z"}
T0 = "2026-03-04T10:00:00Z"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """SendGrid's Event Webhook configured, for a batch naming her and someone else."""
    secrets = {**settings.webhook_secrets, "sendgrid-events": [SENDGRID.public]}
    return settings.model_copy(update={"webhook_secrets": secrets})


async def rich_history(client: httpx.AsyncClient, admin: dict[str, str]) -> str:
    """Jane through Shopify (order with a shipping address), Twilio (a call to her), the
    generic source (a note) and the API (a call with notes, an email, her profile)."""
    order = json.loads(golden("shopify_orders_create.json"))
    raw, headers = shopify_post(order, "orders/create", "w-erase-1")
    assert (await client.post("/v1/webhooks/shopify", content=raw, headers=headers)).is_success
    twilio = golden("twilio_voice_status_completed.form")
    # A callback URL may carry what the caller's platform chose to put in it: her number.
    called = f"/v1/webhooks/twilio?caller={PHONE.lstrip('+')}"
    response = await client.post(
        called,
        content=twilio,
        headers={
            "content-type": "application/x-www-form-urlencoded",
            "x-twilio-signature": twilio_signature(f"http://testserver{called}", twilio),
        },
    )
    assert response.is_success, response.text
    note = json.dumps(
        {
            "customer": {"email": EMAIL},
            "type": "note.added",
            "occurred_at": "2026-04-14T10:05:14Z",
            "payload": {"text": f"{NAME} moved to {ADDRESS}, call {PHONE}"},
        }
    ).encode()
    assert (
        await client.post(
            "/v1/webhooks/generic", content=note, headers=signed_generic(note, "m-erase")
        )
    ).is_success
    found = await client.get("/v1/identify", params={"email": EMAIL}, headers=admin)
    customer = str(found.json()["customer_id"])
    assert (await client.get("/v1/identify", params={"phone": PHONE}, headers=admin)).json()[
        "customer_id"
    ] == customer
    profile = await client.get(f"/v1/customers/{customer}", headers=admin)
    patched = await client.patch(
        f"/v1/customers/{customer}",
        json={
            "display_name": NAME,
            "given_name": "Jane",
            "family_name": "Doe",
            "address": {"street": ADDRESS, "city": "London", "postal_code": "SW1A 1AA"},
        },
        headers={**admin, "If-Match": profile.headers["etag"]},
    )
    assert patched.status_code == 200, patched.text
    mobile = await client.post(
        f"/v1/customers/{customer}/identifiers",
        json={"kind": "phone", "value": MOBILE},
        headers={**admin, "If-Match": patched.headers["etag"]},
    )
    assert mobile.status_code == 201, mobile.text
    await everything_else_she_told_us(client, admin, customer)
    # A delivery the service could not take names her by her mobile as people write it,
    # her name and her address: nothing in it spells her identifiers as stored.
    broken = json.dumps(
        {
            "customer": {"phone": MOBILE_AS_WRITTEN},
            "type": "order.placed",
            "occurred_at": "2026-04-15T10:00:00Z",
            "payload": {
                "order_id": "SO-77",
                "total": {"amount": "lots", "currency": "EUR"},
                "shipping_address": {"name": NAME, "street": ADDRESS},
            },
        }
    ).encode()
    failed = await client.post(
        "/v1/webhooks/generic", content=broken, headers=signed_generic(broken, "m-erase-broken")
    )
    assert failed.status_code == 202, failed.text
    # Keys that spell her email: a source's own id, and an Idempotency-Key.
    keyed = await client.post(
        f"/v1/customers/{customer}/events",
        json={
            "type": "email.sent",
            "occurred_at": "2026-04-16T11:00:00Z",
            "source": "crm",
            "source_event_id": f"{EMAIL}:welcome",
            "payload": {"to": [EMAIL], "subject": "Welcome"},
        },
        headers=admin,
    )
    assert keyed.status_code == 201, keyed.text
    by_header = await client.post(
        f"/v1/customers/{customer}/events",
        json={
            "type": "note.added",
            "occurred_at": "2026-04-16T12:00:00Z",
            "payload": {"text": "ok"},
        },
        headers={**admin, "Idempotency-Key": f"{EMAIL}-note-1"},
    )
    assert by_header.status_code == 201, by_header.text
    # Screen-pops and routing while she calls: her number is in the path.
    for url in (
        f"/v1/fichas/by-phone/{MOBILE}?role=support",
        f"/v1/fichas/by-phone/{MOBILE_AS_WRITTEN}?role=support",
        f"/v1/routing/by-phone/{PHONE}",
    ):
        assert (await client.get(url, headers=admin)).status_code == 200, url
    for body in (
        {
            "type": "call.completed",
            "occurred_at": "2026-04-16T09:00:00Z",
            "payload": {"from": PHONE, "duration_s": 240, "notes": f"{NAME} asked about SW1A 1AA"},
        },
        {
            "type": "email.received",
            "occurred_at": "2026-04-16T10:00:00Z",
            "summary": f"Email from {NAME}",
            "actor": EMAIL,
            "payload": {"from": EMAIL, "subject": f"{NAME}: my order", "excerpt": "Hi, Jane"},
        },
    ):
        assert (await append(client, admin, customer, body)).status_code == 201
    assert (
        await client.get(f"/v1/customers/{customer}/ficha?role=support", headers=admin)
    ).status_code == 200
    return customer


async def everything_else_she_told_us(
    client: httpx.AsyncClient, admin: dict[str, str], customer: str
) -> None:
    """Her job, website, tags, custom attributes, contact preferences, a consent with its
    evidence, an email she no longer has, and a duplicate record of her merged into hers."""
    profile = await client.get(f"/v1/customers/{customer}", headers=admin)
    patched = await client.patch(
        f"/v1/customers/{customer}",
        json={"job_title": JOB, "website": WEBSITE, "tags": [TAG], "attributes": {"card": CARD}},
        headers={**admin, "If-Match": profile.headers["etag"]},
    )
    assert patched.status_code == 200, patched.text
    preferences = await client.put(
        f"/v1/customers/{customer}/preferences",
        json={"preferred_channel": "email", "notes": PREFERENCE},
        headers=admin,
    )
    assert preferences.status_code == 200, preferences.text
    consent = await client.post(
        f"/v1/customers/{customer}/consents",
        json={
            "channel": "email",
            "purpose": "marketing",
            "granted": True,
            "source": "store",
            "evidence": EVIDENCE,
        },
        headers=admin,
    )
    assert consent.status_code == 201, consent.text
    old = await client.post(
        f"/v1/customers/{customer}/identifiers",
        json={"kind": "email", "value": OLD_EMAIL},
        headers=admin,
    )
    assert old.status_code == 201, old.text
    detached = await client.delete(
        f"/v1/customers/{customer}/identifiers/{old.json()['id']}", headers=admin
    )
    assert detached.status_code == 204, detached.text
    twin = await client.post(
        "/v1/customers",
        json={
            "given_name": "Janet",
            "family_name": "Twinning",
            "identifiers": [{"kind": "email", "value": TWIN_EMAIL}],
        },
        headers=admin,
    )
    assert twin.status_code == 201, twin.text
    note = {
        "type": "note.added",
        "occurred_at": "2026-04-13T09:00:00Z",
        "actor": TWIN_EMAIL,
        "summary": f"{TWIN_NAME} {TWIN_NOTE}",
        "payload": {"text": f"{TWIN_NAME} {TWIN_NOTE}"},
    }
    assert (await append(client, admin, twin.json()["id"], note)).status_code == 201
    merged = await client.post(
        f"/v1/customers/{customer}/merge",
        json={"source_customer_id": twin.json()["id"]},
        headers=admin,
    )
    assert merged.status_code == 200, merged.text


async def personal_data_left(session: AsyncSession) -> list[str]:
    """Every (table.column, needle) where one of Jane's needles still appears."""
    return await columns_holding(session, NEEDLES)


async def test_erasure_leaves_no_personal_data_and_the_figures_unchanged(
    live: tuple[httpx.AsyncClient, dict[str, str]], session: AsyncSession, app_log: AppLog
) -> None:
    client, admin = live
    customer = await rich_history(client, admin)
    # A batch naming her and a refund of an order not recorded yet: kept failed, awaiting
    # that order. Once she is erased, it awaits nothing (its body is gone).
    batch = json.dumps(
        [
            {
                "customer": {"email": EMAIL},
                "type": "note.added",
                "occurred_at": "2026-04-17T10:00:00Z",
                "payload": {"text": "ok"},
            },
            {
                "customer": {"event": {"source": "erp", "source_event_id": "SO-404"}},
                "type": "order.refunded",
                "occurred_at": "2026-04-17T11:00:00Z",
                "source": "erp",
                "source_event_id": "RF-1",
                "payload": {"order_id": "SO-404", "refund_amount": "5.00", "currency": "EUR"},
            },
        ]
    ).encode()
    waiting = await client.post(
        "/v1/webhooks/generic", content=batch, headers=signed_generic(batch, "m-erase-waiting")
    )
    assert waiting.status_code == 202, waiting.text
    # A delivery naming her by her id alone (no identifier to find it by), kept failed.
    by_id = json.dumps(
        {
            "customer": {"id": customer},
            "type": "order.placed",
            "occurred_at": "2026-04-17T12:00:00Z",
            "payload": {
                "order_id": "SO-78",
                "total": {"amount": "lots", "currency": "EUR"},
                "shipping_address": {"name": NAME, "street": "Flat 4B, Harbour Row"},
            },
        }
    ).encode()
    failed_by_id = await client.post(
        "/v1/webhooks/generic", content=by_id, headers=signed_generic(by_id, "m-erase-by-id")
    )
    assert failed_by_id.status_code == 202, failed_by_id.text
    # A kept field may hold a list: its strings are free text, and go.
    gift = {
        "type": "custom.gift_wrapped",
        "occurred_at": "2026-04-18T10:00:00Z",
        "payload": {"items": [f"card for {NAME}", {"sku": "WRAP-1", "qty": 1}]},
    }
    assert (await append(client, admin, customer, gift)).status_code == 201
    # Indicators keep a failed payment's reason: rebuilt from what is kept, it goes too.
    declined = {
        "type": "payment.failed",
        "occurred_at": "2026-04-18T11:00:00Z",
        "payload": {
            "payment_id": "pi_77",
            "amount": "10.00",
            "currency": "EUR",
            "reason": f"card of {NAME} declined",
        },
    }
    assert (await append(client, admin, customer, declined)).status_code == 201
    assert await personal_data_left(session), "the scan finds Jane before the erasure"
    report = await client.get("/v1/reports/summary", params=REPORT, headers=admin)
    events_before = (await client.get(f"/v1/customers/{customer}/timeline", headers=admin)).json()
    etag_before = (await client.get(f"/v1/customers/{customer}", headers=admin)).headers["etag"]

    erased = await client.post(
        f"/v1/customers/{customer}/erasure",
        json={"reason": "GDPR art. 17 request #4471", "requested_at": "2026-11-20T09:00:00Z"},
        headers=admin,
    )
    assert erased.status_code == 200, erased.text
    receipt = erased.json()
    assert receipt["status"] == "erased" and not receipt["already_erased"]
    # Her email, two phones, her Shopify customer id and her twin's email; six raw
    # deliveries, the failed ones included.
    assert receipt["identifiers_removed"] == 5 and receipt["deliveries_redacted"] == 6
    assert receipt["events_redacted"] == len(events_before["items"])

    assert await personal_data_left(session) == []
    # What an admin sees of her deliveries: nothing she sent, nothing about her.
    deliveries = await client.get(
        "/v1/webhook-deliveries", params={"include": "body"}, headers=admin
    )
    assert len(deliveries.json()["items"]) == 6
    for delivery in deliveries.json()["items"]:
        assert not delivery["body"] and delivery["headers"] == {}, delivery
        assert delivery["error"] is None and "?" not in delivery["url"], delivery
        assert delivery["awaits"] is None, delivery
    after = await client.get("/v1/reports/summary", params=REPORT, headers=admin)
    assert after.json() == report.json(), "company figures do not change"
    gone = await client.get("/v1/identify", params={"phone": PHONE}, headers=admin)
    assert gone.status_code == 404, "a later call from the number is an unknown caller"
    erased_profile = await client.get(f"/v1/customers/{customer}", headers=admin)
    assert erased_profile.headers["etag"] != etag_before, "a cached profile is stale"
    profile = erased_profile.json()
    assert profile["status"] == "erased" and profile["identifiers"] == []
    history = (await client.get(f"/v1/customers/{customer}/timeline", headers=admin)).json()
    kept = {e["type"]: e for e in history["items"]}
    record = kept["customer.erased"]["payload"]
    assert record["reason"] == "GDPR art. 17 request #4471"
    assert datetime.fromisoformat(record["requested_at"]) == datetime(2026, 11, 20, 9, tzinfo=UTC)
    order = kept["order.placed"]["payload"]
    assert order["currency"] and order["total"] and all("sku" in i for i in order["items"])
    assert "shipping_address" not in order
    assert kept["call.completed"]["payload"]["duration_s"] in (62, 240)
    assert kept["custom.gift_wrapped"]["payload"] == {"items": [{"sku": "WRAP-1", "qty": 1}]}

    again = await client.post(
        f"/v1/customers/{customer}/erasure",
        json={"reason": "repeat", "requested_at": "2026-11-21T09:00:00Z"},
        headers=admin,
    )
    assert again.status_code == 200 and again.json()["already_erased"] is True
    assert again.json()["erased_at"] == receipt["erased_at"]
    logged = app_log.text()
    routes = {line.get("route") for line in app_log.lines()}
    assert "/v1/fichas/by-phone/{phone}" in routes, "the log was captured"
    assert [needle for needle in NEEDLES if needle.lower() in logged.lower()] == []


async def test_an_organisations_erasure_removes_its_legal_name_and_website(
    live: tuple[httpx.AsyncClient, dict[str, str]], session: AsyncSession
) -> None:
    client, admin = live
    created = await client.post(
        "/v1/customers",
        json={
            "kind": "organization",
            "legal_name": "Lamplight Holdings of Jane Doe SL",
            "display_name": "Lamplight",
            "website": "https://lamplight-holdings.example.com/",
        },
        headers=admin,
    )
    assert created.status_code == 201, created.text
    organisation = created.json()["id"]

    erased = await client.post(
        f"/v1/customers/{organisation}/erasure",
        json={"reason": "request", "requested_at": "2026-11-20T09:00:00Z"},
        headers=admin,
    )

    assert erased.status_code == 200, erased.text
    profile = (await client.get(f"/v1/customers/{organisation}", headers=admin)).json()
    assert (profile["legal_name"], profile["website"]) == (None, None)
    assert await columns_holding(session, ["Lamplight", "lamplight-holdings"]) == []


async def test_an_identifier_written_into_a_kept_field_is_erased_too(
    live: tuple[httpx.AsyncClient, dict[str, str]], session: AsyncSession
) -> None:
    """The kept fields (ids, skus, statuses, categories) stay for the figures; one that
    spells the customer's email, phone (in any spelling) or external id is personal data
    all the same, and goes. What names nobody stays."""
    client, admin = live
    created = await client.post(
        "/v1/customers",
        json={
            "display_name": "Kim",
            "identifiers": [
                {"kind": "email", "value": "kim.kept@example.com"},
                {"kind": "phone", "value": "+34699887766"},
                {"kind": "external", "value": "crm:contact:K-77"},
            ],
        },
        headers=admin,
    )
    customer = created.json()["id"]
    for body in (
        {
            "type": "ticket.opened",
            "payload": {"ticket_id": "KIM.KEPT@example.com", "category": "billing"},
        },
        {
            "type": "custom.loyalty",
            "payload": {"status": "699 88 77 66", "items": [{"sku": "crm:contact:K-77"}]},
        },
    ):
        stored = await append(client, admin, customer, {"occurred_at": T0, **body})
        assert stored.status_code == 201, stored.text

    erased = await client.post(
        f"/v1/customers/{customer}/erasure",
        json={"reason": "asked", "requested_at": "2026-11-20T09:00:00Z"},
        headers=admin,
    )
    assert erased.status_code == 200, erased.text

    needles = ["kim.kept", "699887766", "699 88 77 66", "K-77"]
    assert await columns_holding(session, needles) == []
    history = (await client.get(f"/v1/customers/{customer}/timeline", headers=admin)).json()
    ticket = next(e for e in history["items"] if e["type"] == "ticket.opened")
    assert ticket["payload"]["category"] == "billing"


async def test_a_retry_of_an_erased_fact_records_nothing_new(
    live: tuple[httpx.AsyncClient, dict[str, str]], session: AsyncSession
) -> None:
    """Keys are kept hashed after an erasure: a platform sending a fact again (a Shopify
    order in a new delivery, an API retry with the same key) is still a duplicate."""
    client, admin = live
    customer = await rich_history(client, admin)
    erased = await client.post(
        f"/v1/customers/{customer}/erasure",
        json={"reason": "request", "requested_at": "2026-11-20T09:00:00Z"},
        headers=admin,
    )
    assert erased.status_code == 200, erased.text
    count = text("SELECT count(*) FROM events")
    before = await session.scalar(count)

    order = json.loads(golden("shopify_orders_create.json"))
    raw, headers = shopify_post(order, "orders/create", "w-erase-again")
    again = await client.post("/v1/webhooks/shopify", content=raw, headers=headers)
    assert again.status_code == 200 and again.json()["status"] == "accepted", again.text
    resent = await client.post(
        "/v1/events",
        json={
            "customer": {"email": EMAIL},
            "type": "email.sent",
            "occurred_at": "2026-04-16T11:00:00Z",
            "source": "crm",
            "source_event_id": f"{EMAIL}:welcome",
            "payload": {"to": [EMAIL], "subject": "Welcome"},
        },
        headers=admin,
    )
    assert resent.status_code == 200, resent.text

    assert await session.scalar(count) == before
    keys = await session.scalar(
        text("SELECT count(*) FROM event_keys WHERE key LIKE :k"), {"k": f"%{EMAIL}%"}
    )
    assert keys == 0


async def test_an_erasure_cut_short_before_the_stats_is_finished_by_repeating_it(
    live: tuple[httpx.AsyncClient, dict[str, str]],
    session: AsyncSession,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The erasure commits in two transactions (the owner's function, then the service's
    rebuild of the stats): one that fails between them has erased everything but the
    stats, and answers no receipt; made again, it rebuilds them and says it was done."""
    client, admin = live
    customer = await rich_history(client, admin)
    declined = {
        "type": "payment.failed",
        "occurred_at": "2026-04-18T11:00:00Z",
        "payload": {"payment_id": "pi_78", "amount": "10.00", "currency": "EUR",
                    "reason": f"card of {NAME} declined"},
    }  # fmt: skip
    assert (await append(client, admin, customer, declined)).status_code == 201

    async def cut_short(*_: Any) -> int:
        raise ConnectionResetError("the service lost its database between the two")

    with monkeypatch.context() as patched:
        patched.setattr(indicators, "rebuild", cut_short)
        failed = await client.post(
            f"/v1/customers/{customer}/erasure",
            json={"reason": "asked", "requested_at": "2026-11-20T09:00:00Z"},
            headers=admin,
        )
    assert failed.status_code == 503, failed.text
    left = await personal_data_left(session)
    assert left and {hit.split(".")[0] for hit in left} == {"customer_stats"}, left

    again = await client.post(
        f"/v1/customers/{customer}/erasure",
        json={"reason": "asked", "requested_at": "2026-11-20T09:00:00Z"},
        headers=admin,
    )
    assert again.status_code == 200 and again.json()["already_erased"] is True, again.text
    assert await personal_data_left(session) == []
    erased = await session.scalar(
        text("SELECT count(*) FROM events WHERE customer_id = :c AND type = 'customer.erased'"),
        {"c": customer},
    )
    assert erased == 1


async def test_an_erasure_is_announced_to_subscribers_and_to_whoever_watches_the_family(
    live: tuple[httpx.AsyncClient, dict[str, str]], session: AsyncSession, service_url: str
) -> None:
    """The erasure writes ``customer.erased`` to the outbox for a subscription that wants
    it, and tells the access channel about the customer and everyone merged into it (a
    live timeline of theirs closes); a repeat announces nothing more."""
    client, admin = live
    subscribed = await client.post(
        "/v1/webhook-subscriptions",
        json={"url": "http://127.0.0.1:9/erasures", "kinds": ["customer.*"]},
        headers=admin,
    )
    assert subscribed.status_code == 201, subscribed.text
    ana, twin = await new_customer(client, admin), await new_customer(client, admin)
    merged = await client.post(
        f"/v1/customers/{ana}/merge", json={"source_customer_id": twin}, headers=admin
    )
    assert merged.status_code == 200, merged.text
    listener = await asyncpg.connect(plain_url(service_url))
    heard: set[str] = set()
    await listener.add_listener(ACCESS_CHANNEL, lambda *told: heard.add(told[3]))
    try:
        for reason in ("asked", "asked again"):
            erased = await client.post(
                f"/v1/customers/{ana}/erasure",
                json={"reason": reason, "requested_at": "2026-11-20T09:00:00Z"},
                headers=admin,
            )
            assert erased.status_code == 200, erased.text
        for _ in range(50):
            if heard >= {f"customer:{ana}", f"customer:{twin}"}:
                break
            await asyncio.sleep(0.1)
    finally:
        await listener.close()
    assert heard >= {f"customer:{ana}", f"customer:{twin}"}, heard
    record = await session.scalar(
        text("SELECT id FROM events WHERE customer_id = :c AND type = 'customer.erased'"),
        {"c": ana},
    )
    facts = await session.execute(
        text("SELECT customer_id, subject_id FROM outbox WHERE kind = 'customer.erased'")
    )
    assert [tuple(map(str, fact)) for fact in facts] == [(ana, str(record))]


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE events SET summary = 'rewritten'",
        "DELETE FROM events",
        "TRUNCATE events",
    ],
)
async def test_only_the_erasure_function_passes_the_append_only_guard(
    client: httpx.AsyncClient, admin: dict[str, str], session: AsyncSession, statement: str
) -> None:
    await rich_history(client, admin)
    # The service's role has no such privilege, whatever it sets.
    with pytest.raises(DBAPIError, match="permission denied"):
        async with session.begin_nested():
            await session.execute(text("SET LOCAL ch.privileged_maintenance = 'on'"))
            await session.execute(text(statement))


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE events SET summary = 'rewritten'",
        "DELETE FROM events",
        "TRUNCATE events CASCADE",
    ],
)
async def test_the_guard_stops_the_owner_too_unless_it_says_so(
    database_url: str, statement: str
) -> None:
    owner = await asyncpg.connect(plain_url(database_url))
    everything = owner.transaction()
    await everything.start()
    try:
        customer = await owner.fetchval(
            "INSERT INTO customers (id, kind, display_name) "
            "VALUES (gen_random_uuid(), 'person', 'x') RETURNING id"
        )
        await owner.execute(
            "INSERT INTO events (id, customer_id, type, occurred_at, channel, source, "
            "summary, payload) VALUES (gen_random_uuid(), $1, 'note.added', now(), "
            "'system', 'test', 'x', '{}')",
            customer,
        )
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
            async with owner.transaction():
                await owner.execute(statement)
        async with owner.transaction():
            # As the erasure function says it (migration 0030): on Citus the guard runs
            # on the workers, which hear a SET LOCAL only when told to pass it on.
            await owner.execute("SET LOCAL citus.propagate_set_commands = 'local'")
            await owner.execute("SET LOCAL ch.privileged_maintenance = 'on'")
            await owner.execute(statement)  # the owner's own, deliberate maintenance
    finally:
        await everything.rollback()
        await owner.close()


async def test_erasure_answers_clearly_for_missing_and_bad_requests(
    client: httpx.AsyncClient, admin: dict[str, str], make_key: Any
) -> None:
    customer = await rich_history(client, admin)
    missing = await client.post(
        "/v1/customers/01933b8e-8a52-7cc2-9d0e-0c6f2b1e3a10/erasure",
        json={"reason": "x", "requested_at": "2026-11-20T09:00:00Z"},
        headers=admin,
    )
    assert missing.status_code == 404
    bad = await client.post(f"/v1/customers/{customer}/erasure", json={"reason": ""}, headers=admin)
    assert bad.status_code == 422
    assert {e["field"] for e in bad.json()["errors"]} == {"body.reason", "body.requested_at"}
    support = await make_key("support")
    forbidden = await client.post(
        f"/v1/customers/{customer}/erasure",
        json={"reason": "x", "requested_at": "2026-11-20T09:00:00Z"},
        headers=support,
    )
    assert forbidden.status_code == 403


# What an erasure keeps, as the README promises it (what makes the company's figures
# true: types, times, sources, enumerations, ids of orders and payments, amounts and
# currencies, skus, quantities, durations). Every other string the customer ever gave
# the service is personal data and must leave every table.
KEPT_BY_PROMISE = {
    "type", "occurred_at", "requested_at", "source", "source_event_id", "kind", "channel",
    "purpose", "direction", "tier", "preferred_channel", "order_id", "payment_id", "sku",
    "qty", "unit_price", "total", "amount", "refund_amount", "currency", "items",
}  # fmt: skip
# A key's value is not a needle when it is only a shape: too short to mean anything, an
# id, a time or a number.
NOT_PERSONAL = re.compile(
    r"^(.{0,3}|[0-9a-f-]{36}|\\d{4}-\\d\\d-\\d\\dT[\\d:.]+(Z|[+-]\\d\\d:\\d\\d)?|[\\d.]+)$"
)


def strings_of(doc: Any, key: str = "") -> Iterator[str]:
    """Every string of a JSON document not under a kept key, and the keys it was under."""
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from strings_of(v, k)
    elif isinstance(doc, list):
        for item in doc:
            yield from strings_of(item, key)
    elif isinstance(doc, str) and key not in KEPT_BY_PROMISE and not NOT_PERSONAL.match(doc):
        yield doc


async def test_every_value_she_gave_leaves_every_table_and_a_shared_batch_goes_whole(
    live: tuple[httpx.AsyncClient, dict[str, str]],
    session: AsyncSession,
    app_log: AppLog,
    clock: ControlledClock,
) -> None:
    """The needles come from the data: every string of every JSON body that told the
    service about her (profile, identifiers, preferences, consent, her merged twin,
    events through the API and the generic source, a failed delivery) unless the README
    promises to keep it. A field added to her history is searched for without anyone
    listing it. A SendGrid batch that named her and another customer is wiped whole; the
    other customer keeps the event it gave them."""
    client, admin = live
    sent: list[bytes] = []

    async def record(request: httpx.Request) -> None:
        path = request.url.path
        about_her = path.startswith("/v1/customers") or path == "/v1/webhooks/generic"
        if about_her and request.headers.get("content-type") == "application/json":
            sent.append(request.content)

    client.event_hooks["request"].append(record)
    customer = await rich_history(client, admin)
    client.event_hooks["request"].remove(record)
    needles = sorted({n for body in sent for n in strings_of(json.loads(body))} | set(NEEDLES))
    assert len(needles) > len(NEEDLES), needles

    other = await client.post(
        "/v1/customers",
        json={
            "display_name": "Olga",
            "identifiers": [{"kind": "email", "value": "olga.other@example.org"}],
        },
        headers=admin,
    )
    assert other.status_code == 201, other.text
    batch = [
        {
            "email": address,
            "timestamp": int(clock.now().timestamp()),
            "event": "delivered",
            "sg_event_id": f"erase-batch-{n}",
            "sg_message_id": f"erase-batch-message-{n}",
        }
        for n, address in enumerate((EMAIL, "olga.other@example.org"))
    ]
    signed_batch = SENDGRID.deliver(batch, str(int(clock.now().timestamp())))
    delivered = await client.post(
        "/v1/webhooks/sendgrid-events",
        content=signed_batch.body,
        headers={"content-type": "application/json", **dict(signed_batch.headers)},
    )
    assert delivered.status_code == 200, delivered.text
    assert await columns_holding(session, needles), "the scan finds her before the erasure"

    erased = await client.post(
        f"/v1/customers/{customer}/erasure",
        json={"reason": "asked in writing", "requested_at": "2026-11-20T09:00:00Z"},
        headers=admin,
    )
    assert erased.status_code == 200, erased.text

    assert await columns_holding(session, needles) == []
    logged = app_log.text().lower()
    assert [needle for needle in needles if needle.lower() in logged] == []
    deliveries = await client.get(
        "/v1/webhook-deliveries",
        params={"source": "sendgrid-events", "include": "body"},
        headers=admin,
    )
    [shared] = deliveries.json()["items"]
    assert not shared["body"] and shared["headers"] == {}, "wiped whole: it named her"
    assert "olga.other" not in base64.b64decode(shared["body"] or "").decode()
    theirs = await client.get(f"/v1/customers/{other.json()['id']}/timeline", headers=admin)
    assert [e["type"] for e in theirs.json()["items"]] == ["email.delivered"]
    assert theirs.json()["items"][0]["source_event_id"] == "erase-batch-1"
