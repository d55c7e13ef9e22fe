"""The service's own maintenance: freed deliveries replayed, by one process at a time."""

import asyncio
import json

import httpx

from app.core.config import Settings
from app.core.db import Database
from app.maintenance import Maintenance, make_pass
from tests.ingest.test_sources import golden, refund_of, shopify_post


async def _refund_delivery(client: httpx.AsyncClient, admin: dict[str, str]) -> dict[str, object]:
    found = (await client.get("/v1/webhook-deliveries", headers=admin)).json()["items"]
    return next(d for d in found if d["delivery_id"] == "w-refund")


async def _refund_waiting_for_an_order_recorded_meanwhile(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> str:
    """A Shopify refund kept failed for its unknown order, then the order recorded by a path
    that does not look for waiting deliveries (as when it commits while the refund is still
    in flight). Returns the buyer's id."""
    order = json.loads(golden("shopify_orders_create.json"))
    raw, headers = shopify_post(refund_of(order, 930000002), "refunds/create", "w-refund")
    assert (await client.post("/v1/webhooks/shopify", content=raw, headers=headers)).status_code
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
    return str(stored.json()["customer_id"])


async def test_a_pass_replays_a_refund_whose_order_was_recorded_meanwhile(
    live: tuple[httpx.AsyncClient, dict[str, str]], database: Database, settings: Settings
) -> None:
    client, admin = live
    customer = await _refund_waiting_for_an_order_recorded_meanwhile(client, admin)

    await make_pass(database, settings)

    replayed = await _refund_delivery(client, admin)
    assert (replayed["status"], replayed["awaits"], replayed["attempts"]) == ("processed", None, 2)
    timeline = await client.get(f"/v1/customers/{customer}/timeline", headers=admin)
    assert [e["type"] for e in timeline.json()["items"]] == ["order.refunded", "order.placed"]
    await make_pass(database, settings)  # nothing left to replay
    assert (await _refund_delivery(client, admin))["attempts"] == 2


async def test_the_loop_makes_passes_by_itself_and_stops(
    live: tuple[httpx.AsyncClient, dict[str, str]], database: Database, settings: Settings
) -> None:
    client, admin = live
    await _refund_waiting_for_an_order_recorded_meanwhile(client, admin)
    maintenance = Maintenance(database, settings.model_copy(update={"maintenance_seconds": 1}))
    maintenance.start()
    assert maintenance.running
    try:
        for _ in range(100):  # the first pass comes after one interval
            if (await _refund_delivery(client, admin))["status"] == "processed":
                break
            await asyncio.sleep(0.1)
        assert (await _refund_delivery(client, admin))["status"] == "processed"
    finally:
        await maintenance.stop()
    assert not maintenance.running
    off = Maintenance(database, settings.model_copy(update={"maintenance_seconds": 0}))
    off.start()
    assert not off.running


async def test_one_process_leads_until_it_stops(database: Database, settings: Settings) -> None:
    first, second = Maintenance(database, settings), Maintenance(database, settings)
    try:
        assert await first.lead() is True
        assert await first.lead() is True, "the leader keeps the lead"
        assert await second.lead() is False
        await first.stop()  # a process that stops (or dies) lets the lock go
        assert await second.lead() is True
        assert await first.lead() is False
    finally:
        await first.stop()
        await second.stop()
