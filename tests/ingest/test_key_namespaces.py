"""A platform's event keys belong to its webhook source alone: no API writer and no generic
delivery can claim them first, and a reference to a platform's event tells an owned-only
key nothing about customers it cannot see."""

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
from standardwebhooks.webhooks import Webhook

from app.core.security import Role
from app.ingest.adapters import ADAPTERS
from app.timeline.sources import WEBHOOK_SOURCES
from tests.support.api import new_customer
from tests.support.fixtures import MakeKey
from tests.support.reports import revenue
from tests.support.webhooks import WEBHOOK_SECRETS

GOLDEN = Path(__file__).parent / "golden"
CALL_SID = "CA5f0c3e2a1b4d6f8e9a0b1c2d3e4f5a6b"  # the golden Twilio callback's call
CALLED = "+447700900123"  # the party it called
ORDER = json.loads((GOLDEN / "shopify_orders_create.json").read_bytes())
ORDER_KEY = f"order:{ORDER['id']}:placed"
NDJSON = {"content-type": "application/x-ndjson"}


def twilio_post() -> tuple[bytes, dict[str, str]]:
    """The golden status callback, signed the way Twilio signs the URL it called."""
    body = (GOLDEN / "twilio_voice_status_completed.form").read_bytes()
    url = "http://testserver/v1/webhooks/twilio"
    params = sorted(parse_qsl(body.decode(), keep_blank_values=True))
    message = url + "".join(name + value for name, value in params)
    digest = hmac.new(WEBHOOK_SECRETS["twilio"].encode(), message.encode(), hashlib.sha1)
    return body, {
        "content-type": "application/x-www-form-urlencoded",
        "x-twilio-signature": base64.b64encode(digest.digest()).decode(),
    }


def shopify_post(body: dict[str, Any], topic: str, webhook_id: str) -> tuple[bytes, dict[str, str]]:
    raw = json.dumps(body).encode()
    secret = WEBHOOK_SECRETS["shopify"].split(",")[-1].encode()
    signature = base64.b64encode(hmac.new(secret, raw, hashlib.sha256).digest()).decode()
    return raw, {
        "content-type": "application/json",
        "x-shopify-topic": topic,
        "x-shopify-webhook-id": webhook_id,
        "x-shopify-hmac-sha256": signature,
    }


def generic_post(body: Any, msg_id: str) -> tuple[bytes, dict[str, str]]:
    raw = json.dumps(body).encode()
    at = datetime.now(UTC)
    secret = WEBHOOK_SECRETS["generic"].split(",")[0]
    return raw, {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign(msg_id, at, raw.decode()),
    }


REFUND = {
    "id": 930000001,
    "order_id": ORDER["id"],
    "created_at": "2026-04-15T09:00:00+01:00",
    "transactions": [{"kind": "refund", "status": "success", "amount": "10.00", "currency": "GBP"}],
    "refund_line_items": [],
}


def planted_order(customer: dict[str, str]) -> dict[str, Any]:
    """An order.placed under Shopify's own key for the real order, on a chosen customer."""
    return {
        "customer": customer,
        "type": "order.placed",
        "occurred_at": "2026-04-14T09:00:00Z",
        "source": "shopify",
        "source_event_id": ORDER_KEY,
        "payload": {"order_id": str(ORDER["id"]), "total": "1.00", "currency": "GBP"},
    }


async def identify(client: httpx.AsyncClient, admin: dict[str, str], **query: str) -> str:
    response = await client.get("/v1/identify", params=query, headers=admin)
    assert response.status_code == 200, response.text
    return str(response.json()["customer_id"])


async def types_on(client: httpx.AsyncClient, admin: dict[str, str], customer: str) -> list[str]:
    response = await client.get(f"/v1/customers/{customer}/timeline", headers=admin)
    return [e["type"] for e in response.json()["items"]]


def test_every_webhook_source_name_is_reserved() -> None:
    assert set(ADAPTERS) == WEBHOOK_SOURCES


@pytest.mark.parametrize("path", ["customer", "identified", "bulk"])
async def test_an_owned_only_integration_cannot_drop_a_genuine_twilio_call(
    client: httpx.AsyncClient, admin: dict[str, str], make_key: MakeKey, path: str
) -> None:
    squatter = await make_key(Role.INTEGRATION, agent_id="agent-a", owned_only=True)
    own = await new_customer(
        client, admin, owner_id="agent-a", identifiers=[{"kind": "phone", "value": "+34600000001"}]
    )
    squat = {
        "type": "call.completed",
        "occurred_at": "2026-04-14T10:15:42Z",
        "source": "twilio",
        "source_event_id": CALL_SID,
        "payload": {"from": "+34600000001", "duration_s": 1},
    }
    if path == "customer":
        answer = await client.post(f"/v1/customers/{own}/events", json=squat, headers=squatter)
    elif path == "identified":
        answer = await client.post(
            "/v1/events", json={**squat, "customer": {"phone": "+34600000001"}}, headers=squatter
        )
    else:
        line = json.dumps({**squat, "customer": {"id": own}})
        answer = await client.post("/v1/events/bulk", content=line, headers={**squatter, **NDJSON})
    body, headers = twilio_post()
    # The squat, had it been taken, would make this a duplicate answered "accepted".
    genuine = await client.post("/v1/webhooks/twilio", content=body, headers=headers)

    assert genuine.json()["status"] == "accepted"
    called = await identify(client, admin, phone=CALLED)
    assert await types_on(client, admin, called) == ["call.completed"]
    assert await types_on(client, admin, own) == []
    if path == "bulk":
        [result] = [json.loads(r) for r in answer.text.splitlines()]
        assert result["status"] == "error", result
        assert [e["field"] for e in result["errors"]] == ["line.1.source"]
    else:
        assert answer.status_code == 422, answer.text
        assert [e["field"] for e in answer.json()["errors"]] == ["body.source"]


async def _report(client: httpx.AsyncClient, admin: dict[str, str]) -> dict[str, Any]:
    params = {"from": "2026-04-01T00:00:00Z", "to": "2026-05-01T00:00:00Z"}
    response = await client.get("/v1/reports/summary", params=params, headers=admin)
    assert response.status_code == 200, response.text
    return dict(response.json())


@pytest.mark.parametrize("planter", ["generic", "bulk", "append"])
async def test_a_planted_shopify_order_cannot_take_the_genuine_orders_refund(
    client: httpx.AsyncClient, admin: dict[str, str], make_key: MakeKey, planter: str
) -> None:
    before = await _report(client, admin)  # the period's figures hold other tests' orders too
    chosen = await new_customer(
        client, admin, identifiers=[{"kind": "email", "value": "chosen@example.com"}]
    )
    plant = planted_order({"email": "chosen@example.com"})
    if planter == "generic":
        raw, headers = generic_post(plant, "msg_plant")
        planted = await client.post("/v1/webhooks/generic", content=raw, headers=headers)
    elif planter == "bulk":
        integration = await make_key(Role.INTEGRATION)
        planted = await client.post(
            "/v1/events/bulk", content=json.dumps(plant), headers={**integration, **NDJSON}
        )
    else:
        planted = await client.post("/v1/events", json=plant, headers=admin)

    # A planted key would drop the real order and send its refund to the chosen customer.
    for body, topic, webhook_id in (
        (ORDER, "orders/create", "w-1"),
        (REFUND, "refunds/create", "w-2"),
    ):
        raw, headers = shopify_post(body, topic, webhook_id)
        taken = await client.post("/v1/webhooks/shopify", content=raw, headers=headers)
        assert taken.json()["status"] == "accepted", taken.text

    buyer = await identify(client, admin, email=ORDER["email"])
    assert await types_on(client, admin, buyer) == ["order.refunded", "order.placed"]
    assert await types_on(client, admin, chosen) == []
    indicators = (await client.get(f"/v1/customers/{chosen}/indicators", headers=admin)).json()
    assert indicators["value"]["order_count"] == 0
    report = await _report(client, admin)
    gbp = revenue(report, "GBP") - revenue(before, "GBP")
    assert (gbp, report["orders"] - before["orders"]) == (Decimal("37.00"), 1)
    if planter == "generic":
        assert planted.status_code == 202, planted.text
        assert "source" in planted.json()["reason"] and "shopify" in planted.json()["reason"]
    elif planter == "bulk":
        [line] = [json.loads(r) for r in planted.text.splitlines()]
        assert [e["field"] for e in line.get("errors", [])] == ["line.1.source"], line
    else:
        assert planted.status_code == 422, planted.text
        assert [e["field"] for e in planted.json()["errors"]] == ["body.source"]


async def test_generic_keys_never_collide_with_the_apis(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    note = {
        "type": "note.added",
        "occurred_at": "2026-04-14T09:00:00Z",
        "source": "erp",
        "source_event_id": "N-1",
        "payload": {"text": "from the generic source"},
    }
    raw, headers = generic_post({**note, "customer": {"email": "g@example.com"}}, "msg_g1")
    assert (await client.post("/v1/webhooks/generic", content=raw, headers=headers)).json()[
        "status"
    ] == "accepted"
    other = {**note, "customer": {"email": "a@example.com"}, "payload": {"text": "from the API"}}

    answer = await client.post("/v1/events", json=other, headers=admin)

    assert answer.status_code == 201, answer.text
    assert (await client.post("/v1/events", json=other, headers=admin)).status_code == 200
    raw, headers = generic_post({**note, "customer": {"email": "g@example.com"}}, "msg_g2")
    again = await client.post("/v1/webhooks/generic", content=raw, headers=headers)
    assert again.json()["status"] == "accepted"
    generic_customer = await identify(client, admin, email="g@example.com")
    assert await types_on(client, admin, generic_customer) == ["note.added"], "a duplicate"


async def test_a_generic_delivery_awaits_its_own_namespaces_event(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    refund = {
        "customer": {"event": {"source": "erp", "source_event_id": "SO-404"}},
        "type": "order.refunded",
        "occurred_at": "2026-04-15T09:00:00Z",
        "source": "erp",
        "source_event_id": "RF-1",
        "payload": {"order_id": "SO-404", "refund_amount": "5.00", "currency": "EUR"},
    }
    raw, headers = generic_post(refund, "msg_r")
    early = await client.post("/v1/webhooks/generic", content=raw, headers=headers)
    assert early.status_code == 202, early.text
    # An API event under the same name and key is another namespace: it frees nothing.
    api_order = {
        "customer": {"email": "api@example.com"},
        "type": "order.placed",
        "occurred_at": "2026-04-14T09:00:00Z",
        "source": "erp",
        "source_event_id": "SO-404",
        "payload": {"order_id": "SO-404", "total": "20.00", "currency": "EUR"},
    }
    assert (await client.post("/v1/events", json=api_order, headers=admin)).status_code == 201
    listed = await client.get("/v1/webhook-deliveries", params={"status": "failed"}, headers=admin)
    assert listed.status_code == 200, listed.text
    assert [d["awaits"] for d in listed.json()["items"]] == [
        {"source": "erp", "source_event_id": "SO-404"}
    ]
    order = {**api_order, "customer": {"email": "buyer@example.com"}}
    raw, headers = generic_post(order, "msg_o")

    taken = await client.post("/v1/webhooks/generic", content=raw, headers=headers)

    assert taken.json()["status"] == "accepted"
    buyer = await identify(client, admin, email="buyer@example.com")
    assert await types_on(client, admin, buyer) == ["order.refunded", "order.placed"]


async def test_a_reference_to_a_platform_event_tells_an_owned_only_key_nothing(
    client: httpx.AsyncClient, admin: dict[str, str], make_key: MakeKey
) -> None:
    raw, headers = shopify_post(ORDER, "orders/create", "w-1")
    assert (await client.post("/v1/webhooks/shopify", content=raw, headers=headers)).is_success
    buyer = await identify(client, admin, email=ORDER["email"])
    owned = await make_key(Role.INTEGRATION, agent_id="agent-a", owned_only=True)

    def refund(order_key: str) -> dict[str, Any]:
        return {
            "customer": {"event": {"source": "shopify", "source_event_id": order_key}},
            "type": "note.added",
            "occurred_at": "2026-04-15T09:00:00Z",
            "payload": {"text": "refund asked"},
        }

    known = await client.post("/v1/events", json=refund(ORDER_KEY), headers=owned)
    unknown = await client.post("/v1/events", json=refund("order:1:placed"), headers=owned)

    assert buyer not in known.text
    assert known.status_code == unknown.status_code == 422
    assert known.json() == json.loads(unknown.text.replace("order:1:placed", ORDER_KEY))
    lines = "\n".join(json.dumps(refund(k)) for k in (ORDER_KEY, "order:1:placed"))
    bulk = await client.post("/v1/events/bulk", content=lines, headers={**owned, **NDJSON})
    first, second = (json.loads(r) for r in bulk.text.splitlines())
    assert buyer not in bulk.text
    assert first == json.loads(
        json.dumps(second).replace("order:1:placed", ORDER_KEY).replace("line.2", "line.1")
    ) | {"line": 1}
