"""The service's own maintenance: freed deliveries replayed, by one process at a time."""

import asyncio
import json

import httpx
from sqlalchemy import text

from app.core.config import Settings
from app.core.db import Database
from app.maintenance import Maintenance, make_pass
from tests.ingest.test_sources import golden, refund_of, shopify_post
from tests.support.clock import ControlledClock


async def _refund_delivery(client: httpx.AsyncClient, admin: dict[str, str]) -> dict[str, object]:
    found = (await client.get("/v1/webhook-deliveries", headers=admin)).json()["items"]
    return next(d for d in found if d["delivery_id"] == "w-refund")


async def _refund_waiting_for_an_order_recorded_meanwhile(
    client: httpx.AsyncClient, admin: dict[str, str], database: Database
) -> str:
    """A Shopify refund kept failed for its unknown order, then the order recorded while the
    refund was still in flight: the order's delivery could not see the refund waiting (here
    its awaited key is hidden meanwhile). Returns the buyer's id."""
    order = json.loads(golden("shopify_orders_create.json"))
    raw, headers = shopify_post(refund_of(order, 930000002), "refunds/create", "w-refund")
    assert (await client.post("/v1/webhooks/shopify", content=raw, headers=headers)).status_code
    awaited = {"id": "w-refund", "key": f"order:{order['id']}:placed"}
    async with database.engine.begin() as conn:
        await conn.execute(_SET_AWAITED, {**awaited, "key": None})
    raw, headers = shopify_post(order, "orders/create", "w-order")
    stored = await client.post("/v1/webhooks/shopify", content=raw, headers=headers)
    assert stored.json()["status"] == "accepted", stored.text
    async with database.engine.begin() as conn:
        await conn.execute(_SET_AWAITED, awaited)
    assert (await _refund_delivery(client, admin))["status"] == "failed"
    buyer = await client.get("/v1/identify", params={"email": order["email"]}, headers=admin)
    return str(buyer.json()["customer_id"])


_SET_AWAITED = text("UPDATE webhook_deliveries SET awaits_key = :key WHERE delivery_id = :id")


async def test_a_pass_replays_a_refund_whose_order_was_recorded_meanwhile(
    live: tuple[httpx.AsyncClient, dict[str, str]],
    database: Database,
    settings: Settings,
    clock: ControlledClock,
) -> None:
    client, admin = live
    customer = await _refund_waiting_for_an_order_recorded_meanwhile(client, admin, database)

    await make_pass(database, settings, clock)

    replayed = await _refund_delivery(client, admin)
    assert (replayed["status"], replayed["awaits"], replayed["attempts"]) == ("processed", None, 2)
    timeline = await client.get(f"/v1/customers/{customer}/timeline", headers=admin)
    assert [e["type"] for e in timeline.json()["items"]] == ["order.refunded", "order.placed"]
    await make_pass(database, settings, clock)  # nothing left to replay
    assert (await _refund_delivery(client, admin))["attempts"] == 2


async def test_the_loop_makes_passes_by_itself_and_stops(
    live: tuple[httpx.AsyncClient, dict[str, str]],
    database: Database,
    settings: Settings,
    clock: ControlledClock,
) -> None:
    client, admin = live
    await _refund_waiting_for_an_order_recorded_meanwhile(client, admin, database)
    every_second = settings.model_copy(update={"maintenance_seconds": 1})
    maintenance = Maintenance(database, every_second, clock)
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
    off = Maintenance(database, settings.model_copy(update={"maintenance_seconds": 0}), clock)
    off.start()
    assert not off.running


async def test_one_process_leads_until_it_stops(
    database: Database, settings: Settings, clock: ControlledClock
) -> None:
    first, second = Maintenance(database, settings, clock), Maintenance(database, settings, clock)
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
