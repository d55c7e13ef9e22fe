"""Every source end to end over HTTP: documented payloads in, the right events out."""

import base64
import json
import time
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import Settings
from app.ingest.adapters import ADAPTERS
from tests.support.clock import ControlledClock
from tests.support.databases import transaction_start
from tests.support.webhooks import (
    INBOUND_CONTENT_TYPE,
    WEBHOOK_SECRETS,
    Signer,
    generic_note,
    golden,
    hmac_b64,
    inbound_parse_body,
    mailgun_signature,
    shopify_post,
    shopify_refund,
    signed_generic,
    stripe_signature,
    twilio_signature,
)

SIGNER = Signer()


@pytest.fixture
def app(app: FastAPI, settings: Settings) -> FastAPI:
    secrets = {**settings.webhook_secrets, "sendgrid-events": [SIGNER.public]}
    with_sendgrid = settings.model_copy(update={"webhook_secrets": secrets})
    app.state.settings = with_sendgrid
    return app


def mailgun_body(t: int | None = None) -> bytes:
    body = json.loads(golden("mailgun_webhook_delivered.json"))
    timestamp = str(int(time.time()) if t is None else t)
    body["signature"] = {
        "timestamp": timestamp,
        "token": body["signature"]["token"],
        "signature": mailgun_signature(
            WEBHOOK_SECRETS["mailgun"], timestamp, body["signature"]["token"]
        ),
    }
    return json.dumps(body).encode()


Request = tuple[str, bytes, dict[str, str], list[str]]  # url, body, headers, event types


def requests() -> dict[str, Request]:
    """A documented delivery of every source, signed as its platform signs it."""
    twilio = golden("twilio_voice_status_completed.form")
    sendgrid_events = golden("sendgrid_event_webhook.json")
    now = str(int(time.time()))
    signed_events = SIGNER.deliver(sendgrid_events, now)
    shopify = golden("shopify_orders_create.json")
    woo = golden("woocommerce_order_created.json")
    stripe = golden("stripe_checkout_session_completed.json")
    generic = json.dumps(generic_note()).encode()
    return {
        "twilio": (
            "/v1/webhooks/twilio",
            twilio,
            {
                "content-type": "application/x-www-form-urlencoded",
                "x-twilio-signature": twilio_signature(
                    "http://testserver/v1/webhooks/twilio", twilio
                ),
            },
            ["call.completed"],
        ),
        "aircall": (
            "/v1/webhooks/aircall",
            golden("aircall_call_ended.json"),
            {"content-type": "application/json"},
            ["call.completed"],
        ),
        "sendgrid-inbound": (
            "/v1/webhooks/sendgrid-inbound",
            inbound_parse_body(),
            {
                "content-type": INBOUND_CONTENT_TYPE,
                "authorization": "Basic " + base64.b64encode(b"inbound:parse-pass").decode(),
            },
            ["email.received"],
        ),
        "sendgrid-events": (
            "/v1/webhooks/sendgrid-events",
            sendgrid_events,
            {"content-type": "application/json", **dict(signed_events.headers)},
            ["email.delivered", "email.opened"],
        ),
        "mailgun": (
            "/v1/webhooks/mailgun",
            mailgun_body(),
            {"content-type": "application/json"},
            ["email.delivered"],
        ),
        "postmark": (
            "/v1/webhooks/postmark",
            golden("postmark_inbound.json"),
            {
                "content-type": "application/json",
                "authorization": "Basic "
                + base64.b64encode(b"postmark:refdata-test-pass").decode(),
            },
            ["email.received"],
        ),
        "shopify": (
            "/v1/webhooks/shopify",
            shopify,
            {
                "content-type": "application/json",
                "x-shopify-topic": "orders/create",
                "x-shopify-hmac-sha256": hmac_b64("refdata_test_shopify_client_secret", shopify),
                "x-shopify-webhook-id": "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
            },
            ["order.placed"],
        ),
        "woocommerce": (
            "/v1/webhooks/woocommerce",
            woo,
            {
                "content-type": "application/json",
                "x-wc-webhook-topic": "order.created",
                "x-wc-webhook-signature": hmac_b64("refdata_test_woocommerce_secret", woo),
                "x-wc-webhook-delivery-id": "5d41402abc4b2a76b9719d911017c592",
            },
            ["order.paid", "order.placed"],
        ),
        "stripe": (
            "/v1/webhooks/stripe",
            stripe,
            {"content-type": "application/json", "stripe-signature": stripe_signature(stripe)},
            ["payment.received"],
        ),
        "generic": (
            "/v1/webhooks/generic",
            generic,
            signed_generic(generic, "msg-documented"),
            ["note.added"],
        ),
    }


@pytest.mark.parametrize("source", sorted(ADAPTERS))
async def test_documented_payload_becomes_its_events(
    client: httpx.AsyncClient, admin: dict[str, str], session: AsyncSession, source: str
) -> None:
    """Every source, a new one included: ``requests()`` must hold its documented payload."""
    url, body, headers, types = requests()[source]
    response = await client.post(url, content=body, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "accepted"
    stored = await session.execute(
        text(
            "SELECT type, customer_id, delivery_id FROM events "
            "WHERE source = :s AND recorded_at = :began ORDER BY type"  # this test's alone
        ),
        {"s": source, "began": await transaction_start(session)},
    )
    rows = stored.all()
    assert sorted(r.type for r in rows) == sorted(types)
    assert all(r.delivery_id is not None for r in rows)
    again = await client.post(url, content=body, headers=headers)
    assert again.json()["status"] == "duplicate"
    [row] = (
        await session.execute(
            text(
                "SELECT headers, body FROM webhook_deliveries "
                "WHERE source = :s AND received_at = :began"
            ),
            {"s": source, "began": await transaction_start(session)},
        )
    ).all()
    secret_values = [
        v
        for k, v in headers.items()
        if k
        in {
            "authorization",
            "x-twilio-signature",
            "x-shopify-hmac-sha256",
            "stripe-signature",
            "x-wc-webhook-signature",
            "webhook-signature",
        }
    ]
    assert not any(v in json.dumps(row.headers) for v in secret_values)
    assert b"45XXYYZZa08" not in bytes(row.body), "Aircall's token is redacted from the stored body"


async def test_a_bad_signature_is_refused_for_every_source(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    for source, (url, body, headers, _) in requests().items():
        if source == "aircall":  # the token in the body is the whole proof
            body = body.replace(b"45XXYYZZa08", b"guessed")
        elif "authorization" in headers:  # basic auth proves the sender, not the body
            headers = {**headers, "authorization": "Basic " + base64.b64encode(b"x:guess").decode()}
        else:
            body = body.replace(b"e", b"E", 1)
        response = await client.post(url, content=body, headers=headers)
        assert response.status_code == 401, source
    # None stored by this test: its rows would carry the time its transaction began.
    query = text("SELECT count(*) FROM webhook_deliveries WHERE received_at = :began")
    assert await session.scalar(query, {"began": await transaction_start(session)}) == 0


def signed_at(source: str, moment: datetime) -> tuple[bytes, dict[str, str]]:
    """A delivery of a source whose scheme signs a timestamp, signed at ``moment``."""
    t = int(moment.timestamp())
    if source == "generic":
        body = json.dumps(
            {
                "customer": {"email": "late@example.com"},
                "type": "note.added",
                "occurred_at": "2026-04-14T10:05:14Z",
                "payload": {"text": "signed"},
            }
        ).encode()
        return body, signed_generic(body, "msg-window", at=moment)
    if source == "stripe":
        body = golden("stripe_checkout_session_completed.json")
        return body, {
            "content-type": "application/json",
            "stripe-signature": stripe_signature(body, t),
        }
    if source == "mailgun":
        return mailgun_body(t), {"content-type": "application/json"}
    body = golden("sendgrid_event_webhook.json")
    return body, {"content-type": "application/json", **SIGNER.deliver(body, str(t)).headers}


@pytest.mark.parametrize("source", ["generic", "stripe", "mailgun", "sendgrid-events"])
async def test_a_signed_timestamp_is_judged_on_the_services_clock(
    client: httpx.AsyncClient, session: AsyncSession, clock: ControlledClock, source: str
) -> None:
    """The tolerance (five minutes either way) moves with the service's clock: the same
    signed delivery is refused when the clock is 5 min 1 s past or before its timestamp
    (a replay, or a clock far behind), and taken at 4 min 59 s."""
    signed = clock.now()
    body, headers = signed_at(source, signed)
    url = f"/v1/webhooks/{source}"

    async def stored() -> int:
        query = text("SELECT count(*) FROM webhook_deliveries WHERE source = :s")
        return int(await session.scalar(query, {"s": source}) or 0)

    before = await stored()
    for offset in (timedelta(minutes=5, seconds=1), -timedelta(minutes=5, seconds=1)):
        clock.set(signed + offset)
        refused = await client.post(url, content=body, headers=headers)
        assert refused.status_code == 401, (offset, refused.text)
    assert await stored() == before, "a refused delivery stores nothing"
    clock.set(signed + timedelta(minutes=4, seconds=59))
    taken = await client.post(url, content=body, headers=headers)
    assert taken.status_code == 200, taken.text
    assert await stored() == before + 1


async def test_out_of_order_orders_and_a_refund_land_on_the_buyer(
    live: tuple[httpx.AsyncClient, dict[str, str]],
) -> None:
    client, admin = live  # committing sessions: the replay runs in a real savepoint
    order = json.loads(golden("shopify_orders_create.json"))
    paid = {**order, "financial_status": "paid", "updated_at": "2026-04-14T12:00:00+01:00"}
    refund = {
        "id": 930000001,
        "order_id": order["id"],
        "created_at": "2026-04-15T09:00:00+01:00",
        "processed_at": "2026-04-15T09:00:00+01:00",
        "transactions": [
            {
                "kind": "refund",
                "status": "success",
                "amount": "10.00",
                "currency": order["currency"],
            }
        ],
        "refund_line_items": [],
    }
    early_refund = await client.post(
        "/v1/webhooks/shopify",
        content=(r := shopify_post(refund, "refunds/create", "w-3"))[0],
        headers=r[1],
    )
    assert early_refund.status_code == 202, "the order is unknown yet: kept for a replay"
    failed = (
        await client.get("/v1/webhook-deliveries", params={"status": "failed"}, headers=admin)
    ).json()["items"]
    assert [d["awaits"] for d in failed] == [
        {"source": "shopify", "source_event_id": f"order:{order['id']}:placed"}
    ]
    for body, topic, webhook_id in ((paid, "orders/paid", "w-1"), (order, "orders/create", "w-2")):
        raw, headers = shopify_post(body, topic, webhook_id)
        assert (
            await client.post("/v1/webhooks/shopify", content=raw, headers=headers)
        ).status_code == 200
    # The first delivery that stored the order replayed the waiting refund by itself.
    deliveries = (await client.get("/v1/webhook-deliveries", headers=admin)).json()["items"]
    refund_delivery = next(d for d in deliveries if d["delivery_id"] == "w-3")
    assert refund_delivery | {"processed_at": None} == {
        **refund_delivery,
        "status": "processed",
        "error": None,
        "event_count": 1,
        "attempts": 2,
        "awaits": None,
        "processed_at": None,
    }
    email = order["email"]
    customer = (await client.get("/v1/identify", params={"email": email}, headers=admin)).json()[
        "customer_id"
    ]
    items = (await client.get(f"/v1/customers/{customer}/timeline", headers=admin)).json()["items"]
    assert [e["type"] for e in items] == ["order.refunded", "order.paid", "order.placed"]
    assert items[0]["payload"]["refund_amount"] == "10.00"


async def _delivery(client: httpx.AsyncClient, admin: dict[str, str], id_: str) -> Any:
    found = (await client.get("/v1/webhook-deliveries", headers=admin)).json()["items"]
    return next(d for d in found if d["delivery_id"] == id_)


async def test_a_waiting_refund_that_fails_again_does_not_cost_the_order(
    live: tuple[httpx.AsyncClient, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, admin = live
    order = json.loads(golden("shopify_orders_create.json"))
    raw, headers = shopify_post(shopify_refund(order, 930000003), "refunds/create", "w-r")
    assert (await client.post("/v1/webhooks/shopify", content=raw, headers=headers)).status_code
    # From now on the refund's normalisation breaks (a bug in a newer adapter, say).
    adapter = ADAPTERS["shopify"]
    normalize = adapter.normalize

    def broken(delivery: Any) -> Any:
        if delivery.headers.get("x-shopify-topic") == "refunds/create":
            raise RuntimeError("adapter bug")
        return normalize(delivery)

    monkeypatch.setattr(adapter, "normalize", broken)
    raw, headers = shopify_post(order, "orders/create", "w-o")

    taken = await client.post("/v1/webhooks/shopify", content=raw, headers=headers)

    assert taken.status_code == 200 and taken.json()["status"] == "accepted"
    refund = await _delivery(client, admin, "w-r")
    assert (refund["status"], refund["awaits"]) == ("failed", None), "no longer awaiting"
    assert "RuntimeError" in refund["error"]
    monkeypatch.undo()
    replayed = await client.post(f"/v1/webhook-deliveries/{refund['id']}/replay", headers=admin)
    assert replayed.json()["status"] == "processed" and replayed.json()["events"] == 1


async def test_a_refund_for_an_erased_buyer_awaits_nothing(
    live: tuple[httpx.AsyncClient, dict[str, str]],
) -> None:
    client, admin = live
    order = json.loads(golden("shopify_orders_create.json"))
    raw, headers = shopify_post(order, "orders/create", "w-o")
    assert (await client.post("/v1/webhooks/shopify", content=raw, headers=headers)).is_success
    buyer = (
        await client.get("/v1/identify", params={"email": order["email"]}, headers=admin)
    ).json()["customer_id"]
    erased = await client.post(
        f"/v1/customers/{buyer}/erasure",
        json={"reason": "GDPR art. 17 request", "requested_at": "2026-11-20T09:00:00Z"},
        headers=admin,
    )
    assert erased.status_code == 200, erased.text
    raw, headers = shopify_post(shopify_refund(order, 930000004), "refunds/create", "w-r")

    refused = await client.post("/v1/webhooks/shopify", content=raw, headers=headers)

    assert refused.json()["status"] == "failed" and "erased" in refused.json()["reason"]
    assert (await _delivery(client, admin, "w-r"))["awaits"] is None
