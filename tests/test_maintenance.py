"""The service's own maintenance pass: freed deliveries replayed, one process at a time."""

import json

import httpx
from sqlalchemy import text

from app.core.config import Settings
from app.core.db import Database
from app.maintenance import LOCK_KEY, run_once
from tests.ingest.test_sources import golden, shopify_post


async def _refund_delivery(client: httpx.AsyncClient, admin: dict[str, str]) -> dict[str, object]:
    found = (await client.get("/v1/webhook-deliveries", headers=admin)).json()["items"]
    return next(d for d in found if d["delivery_id"] == "w-refund")


async def test_a_refund_whose_order_arrived_meanwhile_is_replayed_by_the_next_pass(
    live: tuple[httpx.AsyncClient, dict[str, str]], database: Database, settings: Settings
) -> None:
    client, admin = live
    order = json.loads(golden("shopify_orders_create.json"))
    refund = {
        "id": 930000002,
        "order_id": order["id"],
        "created_at": "2026-04-15T09:00:00+01:00",
        "transactions": [
            {"kind": "refund", "status": "success", "amount": "5.00", "currency": "EUR"}
        ],
        "refund_line_items": [],
    }
    raw, headers = shopify_post(refund, "refunds/create", "w-refund")
    assert (await client.post("/v1/webhooks/shopify", content=raw, headers=headers)).status_code
    # The order is recorded by a path that does not look for waiting deliveries, as when it
    # commits while the refund is still in flight.
    stored = await client.post(
        "/v1/events",
        json={
            "customer": {"email": order["email"]},
            "type": "order.placed",
            "occurred_at": "2026-04-14T10:00:00Z",
            "source": "shopify",
            "source_event_id": f"order:{order['id']}:placed",
            "payload": {"order_id": str(order["id"]), "total": "20.00", "currency": "EUR"},
        },
        headers=admin,
    )
    assert stored.status_code == 201, stored.text
    assert (await _refund_delivery(client, admin))["status"] == "failed"

    assert await run_once(database, settings)

    replayed = await _refund_delivery(client, admin)
    assert (replayed["status"], replayed["awaits"], replayed["attempts"]) == ("processed", None, 2)
    customer = stored.json()["customer_id"]
    timeline = await client.get(f"/v1/customers/{customer}/timeline", headers=admin)
    assert [e["type"] for e in timeline.json()["items"]] == ["order.refunded", "order.placed"]


async def test_a_pass_is_skipped_while_another_process_makes_one(
    database: Database, settings: Settings
) -> None:
    async with database.engine.connect() as other:
        await other.execute(text("SELECT pg_advisory_lock(:k)"), {"k": LOCK_KEY})
        assert await run_once(database, settings) is False
        await other.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": LOCK_KEY})
    assert await run_once(database, settings) is True
