"""The service's own maintenance: freed deliveries replayed, by one process at a time."""

import asyncio
import json
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import text

from app.core.config import Settings
from app.core.db import Database
from app.maintenance import Maintenance, make_pass
from app.text.service import RulesCache
from tests.support.clock import ControlledClock
from tests.support.webhooks import golden, shopify_post, shopify_refund


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
    raw, headers = shopify_post(shopify_refund(order, 930000002), "refunds/create", "w-refund")
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

    await make_pass(database, settings, clock, RulesCache(None))

    replayed = await _refund_delivery(client, admin)
    assert (replayed["status"], replayed["awaits"], replayed["attempts"]) == ("processed", None, 2)
    timeline = await client.get(f"/v1/customers/{customer}/timeline", headers=admin)
    assert [e["type"] for e in timeline.json()["items"]] == ["order.refunded", "order.placed"]
    await make_pass(database, settings, clock, RulesCache(None))  # nothing left to replay
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
    maintenance = Maintenance(database, every_second, clock, RulesCache(None))
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
    off = Maintenance(
        database,
        settings.model_copy(update={"maintenance_seconds": 0}),
        clock,
        RulesCache(None),
    )
    off.start()
    assert not off.running


async def test_one_process_leads_until_it_stops(
    database: Database, settings: Settings, clock: ControlledClock
) -> None:
    first = Maintenance(database, settings, clock, RulesCache(None))
    second = Maintenance(database, settings, clock, RulesCache(None))
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


# --- conditions that end with time alone: a pass as of the clock's now clears them -------


async def _alerts(client: httpx.AsyncClient, admin: dict[str, str], customer: str) -> list[Any]:
    response = await client.get("/v1/alerts", params={"customer_id": customer}, headers=admin)
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


async def _append(
    client: httpx.AsyncClient, admin: dict[str, str], customer: str, body: dict[str, Any]
) -> None:
    response = await client.post(f"/v1/customers/{customer}/events", json=body, headers=admin)
    assert response.status_code == 201, response.text


async def _customer(client: httpx.AsyncClient, admin: dict[str, str], **body: Any) -> str:
    response = await client.post(
        "/v1/customers", json={"display_name": "Time", **body}, headers=admin
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def test_a_pass_clears_the_abandoned_calls_alert_once_the_window_has_passed(
    live: tuple[httpx.AsyncClient, dict[str, str]],
    database: Database,
    settings: Settings,
    clock: ControlledClock,
) -> None:
    client, admin = live
    customer = await _customer(client, admin, tier="premium")
    for hours_ago in (3, 2, 1, 0):
        at = clock.ago(hours=hours_ago).isoformat()
        await _append(client, admin, customer, {"type": "call.abandoned", "occurred_at": at})
    [alert] = await _alerts(client, admin, customer)
    assert alert["status"] == "open"

    clock.advance(timedelta(minutes=59))  # the first call is 3 h 59 min old
    await make_pass(database, settings, clock, RulesCache(None))
    assert (await _alerts(client, admin, customer))[0]["status"] == "open"

    clock.advance(timedelta(minutes=2))  # 4 h 1 min: three calls are left in the window
    assert (await _alerts(client, admin, customer))[0]["status"] == "open", "until a pass"
    await make_pass(database, settings, clock, RulesCache(None))
    [cleared] = await _alerts(client, admin, customer)
    assert cleared["status"] == "cleared"
    assert cleared["cleared_at"] == clock.now().isoformat().replace("+00:00", "Z")
    routed = await client.get(f"/v1/customers/{customer}/indicators", headers=admin)
    assert routed.json()["flags"] == [] and routed.json()["contact"]["missed_calls_4h"] == 3


async def test_a_pass_ends_the_unsatisfied_streak_when_a_contact_leaves_the_90_days(
    live: tuple[httpx.AsyncClient, dict[str, str]],
    database: Database,
    settings: Settings,
    clock: ControlledClock,
) -> None:
    client, admin = live
    customer = await _customer(client, admin)
    for days_ago in (89, 30, 1):
        at = clock.ago(days=days_ago).isoformat()
        survey = {"type": "survey.answered", "occurred_at": at, "payload": {"csat": 1}}
        await _append(client, admin, customer, survey)
    [alert] = await _alerts(client, admin, customer)
    assert (alert["rule"], alert["status"]) == ("unsatisfied_streak", "open")

    clock.advance(timedelta(days=1) - timedelta(minutes=1))  # the first is 90 days less 1 min
    await make_pass(database, settings, clock, RulesCache(None))
    assert (await _alerts(client, admin, customer))[0]["status"] == "open"

    clock.advance(timedelta(minutes=2))
    await make_pass(database, settings, clock, RulesCache(None))
    assert (await _alerts(client, admin, customer))[0]["status"] == "cleared"
    indicators = (await client.get(f"/v1/customers/{customer}/indicators", headers=admin)).json()
    assert indicators["satisfaction"]["unsatisfied_90d"] == 2
    assert indicators["risk"]["churn"] == "medium" and indicators["flags"] == []


async def test_a_customer_without_a_purchase_for_the_at_risk_days_is_in_the_at_risk_segment(
    live: tuple[httpx.AsyncClient, dict[str, str]],
    database: Database,
    settings: Settings,
    clock: ControlledClock,
) -> None:
    """CH_SEGMENT_AT_RISK_DAYS (180) after the last purchase the customer is `at_risk`, in
    the indicators at once and in segment queries (which read the stored segment) after
    the next pass, with no event of the customer's own."""
    client, admin = live
    customer = await _customer(
        client,
        admin,
        tags=["at-risk-clock"],
        identifiers=[{"kind": "email", "value": "r@x.example"}],
    )
    consent = {"channel": "email", "purpose": "marketing", "granted": True, "source": "form"}
    granted = await client.post(f"/v1/customers/{customer}/consents", json=consent, headers=admin)
    assert granted.status_code == 201, granted.text
    order = {"order_id": "R-1", "total": "600.00", "currency": "EUR"}
    at = clock.ago(days=170).isoformat()
    await _append(
        client, admin, customer, {"type": "order.placed", "occurred_at": at, "payload": order}
    )

    async def segment() -> str:
        found = await client.get(f"/v1/customers/{customer}/indicators", headers=admin)
        return str(found.json()["value"]["segment"])

    async def in_at_risk_segment() -> bool:
        query = {"channel": "email", "tags": ["at-risk-clock"], "value_segment": ["at_risk"]}
        found = await client.post("/v1/segments/query", json=query, headers=admin)
        assert found.status_code == 200, found.text
        return customer in {m["customer_id"] for m in found.json()["items"]}

    assert await segment() == "occasional" and not await in_at_risk_segment()
    clock.advance(timedelta(days=10) - timedelta(minutes=1))  # 180 days less a minute
    await make_pass(database, settings, clock, RulesCache(None))
    assert await segment() == "occasional" and not await in_at_risk_segment()
    clock.advance(timedelta(minutes=2))  # 180 days and a minute
    assert await segment() == "at_risk"
    await make_pass(database, settings, clock, RulesCache(None))
    assert await in_at_risk_segment()
