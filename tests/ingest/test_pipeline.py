"""The ingestion pipeline end to end, through the generic Standard Webhooks source."""

import asyncio
import gc
import json
import warnings
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import Database, Executor, driver_connection
from app.ingest.adapters.base import Delivery
from app.ingest.adapters.generic import GenericAdapter
from app.timeline import bulk
from app.timeline.schemas import IdentifiedEventIn
from tests.support.databases import transaction_start
from tests.support.webhooks import WEBHOOK_SECRETS, generic_note, signed_generic

SECRET, ROTATED = WEBHOOK_SECRETS["generic"].split(",")
URL = "/v1/webhooks/generic"


# The rows this test stored, by their received_at / recorded_at (other tests may leave
# committed rows behind): transaction_start says why.
async def deliveries(session: AsyncSession) -> list[dict[str, Any]]:
    rows = await session.execute(
        text("SELECT * FROM webhook_deliveries WHERE received_at = :began ORDER BY id"),
        {"began": await transaction_start(session)},
    )
    return [dict(r) for r in rows.mappings()]


async def events_of(session: AsyncSession, source: str) -> int:
    query = text("SELECT count(*) FROM events WHERE source = :s AND recorded_at = :began")
    began = await transaction_start(session)
    return int(await session.scalar(query, {"s": source, "began": began}) or 0)


async def test_signed_delivery_becomes_events(
    client: httpx.AsyncClient, admin: dict[str, str], session: AsyncSession
) -> None:
    body = json.dumps(
        [generic_note(), generic_note("bea@example.com", source="erp", source_event_id="n-2")]
    ).encode()
    response = await client.post(URL, content=body, headers=signed_generic(body))
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "accepted", "delivery_id": "msg_1", "events": 2}
    [stored] = await deliveries(session)
    assert (
        stored["status"] == "processed"
        and stored["event_count"] == 2
        and bytes(stored["body"]) == body
    )
    assert (
        "webhook-signature" not in stored["headers"] and stored["headers"]["webhook-id"] == "msg_1"
    )
    assert await events_of(session, "generic") == 1 and await events_of(session, "erp") == 1
    ana = (
        await client.get("/v1/identify", params={"email": "ana@example.com"}, headers=admin)
    ).json()
    assert ana["unverified"] is True
    linked = await session.scalar(
        text("SELECT count(*) FROM events WHERE delivery_id = :d"), {"d": stored["id"]}
    )
    assert linked == 2


async def test_repeated_delivery_is_a_duplicate_and_changes_nothing(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    body = json.dumps(generic_note()).encode()
    first = await client.post(URL, content=body, headers=signed_generic(body))
    again = await client.post(URL, content=body, headers=signed_generic(body))
    assert first.json()["status"] == "accepted"
    assert again.status_code == 200 and again.json() == {
        "status": "duplicate",
        "delivery_id": "msg_1",
        "events": 0,
    }
    assert len(await deliveries(session)) == 1 and await events_of(session, "generic") == 1


@pytest.mark.parametrize(
    "tamper",
    ["wrong_secret", "tampered_body", "missing_signature", "stale", "future"],
)
async def test_bad_signatures_are_401_and_store_nothing(
    client: httpx.AsyncClient, session: AsyncSession, tamper: str
) -> None:
    body = json.dumps(generic_note()).encode()
    headers = signed_generic(body)
    if tamper == "wrong_secret":
        headers = signed_generic(body, secret="whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=")
    elif tamper == "tampered_body":
        body = body.replace(b"ana@", b"eve@")
    elif tamper == "missing_signature":
        del headers["webhook-signature"]
    elif tamper == "stale":
        headers = signed_generic(body, at=datetime.now(UTC) - timedelta(minutes=10))
    else:
        headers = signed_generic(body, at=datetime.now(UTC) + timedelta(minutes=10))
    response = await client.post(URL, content=body, headers=headers)
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert SECRET not in response.text
    assert await deliveries(session) == []


async def test_a_rotated_secret_is_accepted(client: httpx.AsyncClient) -> None:
    body = json.dumps(generic_note()).encode()
    response = await client.post(URL, content=body, headers=signed_generic(body, secret=ROTATED))
    assert response.status_code == 200


async def test_unknown_and_unconfigured_sources_are_404(client: httpx.AsyncClient) -> None:
    for source in ("myspace", "sendgrid-events"):
        response = await client.post(
            f"/v1/webhooks/{source}", content=b"{}", headers={"content-type": "application/json"}
        )
        assert (
            response.status_code == 404
            and response.headers["content-type"] == "application/problem+json"
        )


async def test_unparseable_delivery_is_kept_failed_then_replayed_once(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    session: AsyncSession,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Standard Webhooks' own recommended envelope, with a payload this source does not read.
    body = b'{"type":"order.paid","timestamp":"2026-04-14T10:05:14.210Z","data":{"order_id":"1001","customer_email":"jane.doe@example.com","total":"47.00","currency":"GBP"}}'
    response = await client.post(
        URL, content=body, headers=signed_generic(body, "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W")
    )
    assert response.status_code == 202
    receipt = response.json()
    assert receipt["status"] == "failed" and receipt["reason"] == "event 0: type: Field required"
    failed = (
        await client.get("/v1/webhook-deliveries", params={"status": "failed"}, headers=admin)
    ).json()["items"]
    assert [d["delivery_id"] for d in failed] == ["msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"]
    assert failed[0]["body"] is None and failed[0]["error"] == receipt["reason"]
    with_body = (
        await client.get("/v1/webhook-deliveries", params={"include": "body"}, headers=admin)
    ).json()
    assert with_body["items"][0]["body"] == body.decode()

    def understands_orders(self: GenericAdapter, delivery: Delivery) -> list[IdentifiedEventIn]:
        data = delivery.json()["data"]
        return [
            IdentifiedEventIn.model_validate(
                {
                    "customer": {"email": data["customer_email"]},
                    "type": "order.paid",
                    "occurred_at": delivery.json()["timestamp"],
                    "source_event_id": f"order:{data['order_id']}:paid",
                    "payload": {
                        "order_id": data["order_id"],
                        "total": data["total"],
                        "currency": data["currency"],
                    },
                }
            )
        ]

    monkeypatch.setattr(GenericAdapter, "normalize", understands_orders)
    replayed = await client.post(f"/v1/webhook-deliveries/{failed[0]['id']}/replay", headers=admin)
    assert replayed.status_code == 200, replayed.text
    assert replayed.json() | {"id": None} == {
        "id": None,
        "status": "processed",
        "events": 1,
        "duplicates": 0,
        "error": None,
    }
    again = await client.post(f"/v1/webhook-deliveries/{failed[0]['id']}/replay", headers=admin)
    assert again.json()["events"] == 0 and again.json()["duplicates"] == 1
    assert await events_of(session, "generic") == 1
    [row] = await deliveries(session)
    assert row["status"] == "processed" and row["attempts"] == 3
    customer = (
        await client.get("/v1/identify", params={"email": "jane.doe@example.com"}, headers=admin)
    ).json()
    order = (
        await client.get(f"/v1/customers/{customer['customer_id']}/timeline", headers=admin)
    ).json()["items"][0]
    assert order["payload"]["total"] == "47.00" and order["payload"]["currency"] == "GBP"


async def test_delivery_operations_are_admin_only(client: httpx.AsyncClient, make_key: Any) -> None:
    integration = await make_key("integration")
    assert (await client.get("/v1/webhook-deliveries", headers=integration)).status_code == 403
    missing = await client.post(
        "/v1/webhook-deliveries/01a20ae6-6c63-76ee-b495-bd9894832cd9/replay",
        headers=await make_key("admin"),
    )
    assert missing.status_code == 404


async def test_ten_concurrent_copies_make_one_event(
    live: tuple[httpx.AsyncClient, dict[str, str]],
) -> None:
    client, admin = live
    body = json.dumps(generic_note(source="erp", source_event_id="storm-1")).encode()
    headers = signed_generic(body, "msg_storm")
    responses = await asyncio.gather(
        *(client.post(URL, content=body, headers=headers) for _ in range(10))
    )
    statuses = sorted(r.json()["status"] for r in responses)
    assert all(r.status_code == 200 for r in responses)
    assert statuses == ["accepted"] + ["duplicate"] * 9
    customer = (
        await client.get("/v1/identify", params={"email": "ana@example.com"}, headers=admin)
    ).json()
    items = (
        await client.get(f"/v1/customers/{customer['customer_id']}/timeline", headers=admin)
    ).json()["items"]
    assert len(items) == 1


async def test_metrics_count_outcomes(client: httpx.AsyncClient) -> None:
    body = json.dumps(generic_note()).encode()
    await client.post(URL, content=body, headers=signed_generic(body, "msg_m1"))
    await client.post(
        URL,
        content=body,
        headers={**signed_generic(body, "msg_m2"), "webhook-signature": "v1,AAAA"},
    )
    metrics = (await client.get("/metrics")).text
    assert 'webhook_deliveries_total{outcome="accepted",source="generic"}' in metrics
    assert 'webhook_deliveries_total{outcome="rejected_signature",source="generic"}' in metrics


async def test_deliveries_whose_statements_fail_return_their_connections_usable(
    live: tuple[httpx.AsyncClient, dict[str, str]],
    database: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A statement failing mid-delivery undoes the whole delivery, and its connection goes
    back to the pool rolled back: many more such deliveries than the pool holds, then valid
    ones on the same connections are stored."""
    client, _ = live
    pool: Any = database.engine.pool
    before = pool.checkedout()
    store_events = bulk.store_events

    async def failing_for_broken(on: Executor, pending: Any, *args: Any, **kwargs: Any) -> Any:
        if any(p.new.source_event_id.startswith("broken") for p in pending):
            await (await driver_connection(on)).execute("SELECT 1 / 0")
        return await store_events(on, pending, *args, **kwargs)

    monkeypatch.setattr(bulk, "store_events", failing_for_broken)

    async def deliver(msg_id: str) -> httpx.Response:
        body = json.dumps(generic_note(email=f"{msg_id}@example.com")).encode()
        return await client.post(URL, content=body, headers=signed_generic(body, msg_id))

    failed = []
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        for batch in range(10):
            failed += await asyncio.gather(*(deliver(f"broken{batch}-{i}") for i in range(30)))
        gc.collect()
    assert {r.status_code for r in failed} == {500}
    # Returned, not dropped for the garbage collector to terminate.
    assert not [w for w in seen if "non-checked-in connection" in str(w.message)]
    assert pool.checkedout() == before
    stored = await asyncio.gather(*(deliver(f"valid{i}") for i in range(20)))
    assert [r.json()["status"] for r in stored] == ["accepted"] * 20
    async with database.sessionmaker() as session:
        kept = await session.scalar(text("SELECT count(*) FROM webhook_deliveries"))
    assert kept == 20
    assert pool.checkedout() == before
