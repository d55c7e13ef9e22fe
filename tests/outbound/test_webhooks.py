"""Outbound webhooks: facts committed reach a subscriber verified by `standardwebhooks`,
once per webhook-id, in order per customer, retried over three days, whatever the
subscriber does meanwhile."""

import asyncio
import base64
import contextlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from app.core.config import Settings
from app.core.db import Database
from app.outbound.sender import EXCERPT_BYTES, MAX_ATTEMPTS, http_client, retry_delay, send_due
from tests.support.api import event, new_customer
from tests.support.clock import ControlledClock
from tests.support.receiver import Receiver

Live = tuple[httpx.AsyncClient, dict[str, str]]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    yield receiver
    await receiver.stop()


async def subscribe(client: httpx.AsyncClient, admin: dict[str, str], url: str, *kinds: str) -> Any:
    response = await client.post(
        "/v1/webhook-subscriptions", json={"url": url, "kinds": list(kinds)}, headers=admin
    )
    assert response.status_code == 201, response.text
    return response.json()


class Outbound:
    """The sender, one round at a time, on the test's clock."""

    def __init__(self, database: Database, settings: Settings, clock: ControlledClock) -> None:
        self.database, self.settings, self.clock = database, settings, clock

    async def round(self) -> int:
        async with http_client(self.settings) as http:
            return await send_due(self.database, self.settings, self.clock, http)


@pytest.fixture
def outbound(database: Database, settings: Settings, clock: ControlledClock) -> Outbound:
    return Outbound(database, settings, clock)


async def deliveries(client: httpx.AsyncClient, admin: dict[str, str], sub: str) -> list[Any]:
    response = await client.get(f"/v1/webhook-subscriptions/{sub}/deliveries", headers=admin)
    assert response.status_code == 200, response.text
    return list(reversed(response.json()["items"]))  # oldest first


async def test_a_subscription_is_created_with_a_secret_shown_once_then_changed_and_removed(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    created = await client.post(
        "/v1/webhook-subscriptions",
        json={"url": "https://crm.example.com/hooks", "kinds": ["call.*", "alert.raised"]},
        headers=admin,
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["secret"].startswith("whsec_") and len(body["secrets"]) == 1
    location = created.headers["Location"]
    shown = (await client.get(location, headers=admin)).json()
    assert "secret" not in shown and shown["kinds"] == ["call.*", "alert.raised"]

    patched = await client.patch(location, json={"enabled": False}, headers=admin)
    assert (patched.json()["enabled"], patched.json()["disabled_reason"]) == (False, "admin")
    listed = (await client.get("/v1/webhook-subscriptions", headers=admin)).json()["items"]
    assert [s["id"] for s in listed] == [body["id"]]

    assert (await client.delete(location, headers=admin)).status_code == 204
    gone = await client.get(location, headers=admin)
    assert gone.status_code == 404
    assert gone.json()["type"].endswith("subscription-not-found")


async def test_an_unknown_kind_is_refused_naming_it(
    client: httpx.AsyncClient, admin: dict[str, str], make_key: Any
) -> None:
    response = await client.post(
        "/v1/webhook-subscriptions",
        json={"url": "https://x.example.com", "kinds": ["call.*", "calls.*"]},
        headers=admin,
    )
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["body.kinds.1"]
    reader = await make_key("support")
    refused = await client.get("/v1/webhook-subscriptions", headers=reader)
    assert refused.status_code == 403


async def test_an_event_committed_while_the_subscriber_is_down_arrives_once_it_is_back(
    live: Live, outbound: Outbound, receiver: Receiver, clock: ControlledClock
) -> None:
    client, admin = live
    sub = await subscribe(client, admin, receiver.url, "call.*")
    receiver.secrets = [sub["secret"]]
    customer = await new_customer(client, admin)
    appended = await client.post(
        f"/v1/customers/{customer}/events", json=event("call.missed"), headers=admin
    )
    assert appended.status_code == 201
    note = await client.post(f"/v1/customers/{customer}/events", json=event(), headers=admin)
    assert note.status_code == 201  # not a call: never sent

    assert await outbound.round() == 1  # the subscriber is down: connection refused
    [pending] = await deliveries(client, admin, sub["id"])
    assert (pending["status"], pending["attempts"]) == ("pending", 1)

    await receiver.start()
    assert await outbound.round() == 0, "not before its retry is due"
    clock.advance(retry_delay(1) or timedelta())
    assert await outbound.round() == 1
    assert await outbound.round() == 0

    [received] = receiver.unique.values()
    assert receiver.unverified == [] and len(receiver.requests) == 1
    assert received.webhook_id == pending["id"]
    assert received.body["type"] == "call.missed"
    assert received.body["data"]["id"] == appended.json()["id"]
    [delivered] = await deliveries(client, admin, sub["id"])
    assert (delivered["status"], delivered["attempts"]) == ("delivered", 2)
    log = await client.get(
        f"/v1/webhook-subscriptions/{sub['id']}/deliveries/{delivered['id']}", headers=admin
    )
    first, second = log.json()["attempt_log"]
    assert first["status_code"] is None and "Connect" in first["error"]
    assert second["status_code"] == 200 and second["duration_ms"] >= 0


async def test_retries_back_off_over_three_days_then_the_delivery_fails_and_is_replayed(
    live: Live, outbound: Outbound, receiver: Receiver, clock: ControlledClock
) -> None:
    client, admin = live
    sub = await subscribe(client, admin, receiver.url, "note.added")
    receiver.secrets, receiver.status = [sub["secret"]], 503
    await receiver.start()
    customer = await new_customer(client, admin)
    await client.post(f"/v1/customers/{customer}/events", json=event(), headers=admin)

    start = clock.now()
    waits = []
    for attempt in range(1, MAX_ATTEMPTS + 1):
        assert await outbound.round() == 1, attempt
        [delivery] = await deliveries(client, admin, sub["id"])
        if delivery["next_attempt_at"] is None:
            break
        assert await outbound.round() == 0, "nothing before the wait"
        wait = retry_delay(attempt) or timedelta()
        waits.append(wait)
        clock.advance(wait)
    assert (delivery["status"], delivery["attempts"]) == ("failed", MAX_ATTEMPTS)
    assert clock.now() - start >= timedelta(days=3)
    assert waits == sorted(waits) and waits[1] == 4 * waits[0], "exponential"
    assert len(receiver.requests) == MAX_ATTEMPTS
    assert len(receiver.unique) == 1, "one webhook-id for every attempt"
    log = await client.get(
        f"/v1/webhook-subscriptions/{sub['id']}/deliveries/{delivery['id']}", headers=admin
    )
    assert {a["status_code"] for a in log.json()["attempt_log"]} == {503}
    assert log.json()["attempt_log"][0]["response_excerpt"] == f'{{"seen": "{delivery["id"]}"}}'

    receiver.status = 200
    replayed = await client.post(
        f"/v1/webhook-subscriptions/{sub['id']}/deliveries/{delivery['id']}/replay",
        headers=admin,
    )
    assert replayed.status_code == 202 and replayed.json()["status"] == "pending"
    assert await outbound.round() == 1
    [delivery] = await deliveries(client, admin, sub["id"])
    assert delivery["status"] == "delivered"
    assert receiver.requests[-1].webhook_id == delivery["id"]


async def test_a_customers_next_delivery_waits_for_the_one_before(
    live: Live, outbound: Outbound, receiver: Receiver, clock: ControlledClock
) -> None:
    client, admin = live
    sub = await subscribe(client, admin, receiver.url, "note.added")
    receiver.secrets, receiver.status = [sub["secret"]], 500
    await receiver.start()
    first, second = await new_customer(client, admin), await new_customer(client, admin)
    for customer, summary in ((first, "a1"), (first, "a2"), (second, "b1")):
        body = {**event(), "summary": summary}
        assert (
            await client.post(f"/v1/customers/{customer}/events", json=body, headers=admin)
        ).status_code == 201

    assert await outbound.round() == 2, "a1 and b1; a2 waits for a1"
    receiver.status = 200
    clock.advance(retry_delay(1) or timedelta())
    assert await outbound.round() == 2  # a1 and b1 again
    assert await outbound.round() == 1  # then a2
    summaries = [r.body["data"]["summary"] for r in receiver.unique.values()]
    assert summaries.index("a1") < summaries.index("a2")
    assert [r.body["data"]["summary"] for r in receiver.requests[-1:]] == ["a2"]


async def test_a_subscription_failing_for_too_long_is_disabled_until_an_admin_enables_it(
    live: Live,
    database: Database,
    settings: Settings,
    receiver: Receiver,
    clock: ControlledClock,
) -> None:
    client, admin = live
    outbound = Outbound(
        database, settings.model_copy(update={"outbound_disable_after_hours": 1}), clock
    )
    sub = await subscribe(client, admin, receiver.url, "note.added")
    receiver.secrets, receiver.status = [sub["secret"]], 500
    await receiver.start()
    customer = await new_customer(client, admin)
    await client.post(f"/v1/customers/{customer}/events", json=event(), headers=admin)
    location = f"/v1/webhook-subscriptions/{sub['id']}"

    attempt, first_failure = 0, clock.now()
    while (await client.get(location, headers=admin)).json()["enabled"]:
        attempt += 1
        assert await outbound.round() == 1
        clock.advance(retry_delay(attempt) or timedelta())
    shown = (await client.get(location, headers=admin)).json()
    assert shown["disabled_reason"] == "failing"
    assert datetime.fromisoformat(shown["failing_since"]) == first_failure
    # Attempts at 0 s, 10 s, 50 s, 3 min 30 s, 14 min 10 s, 56 min 50 s, then 3 h 47 min:
    # the first one after an hour of failing is the seventh.
    assert attempt == 7
    clock.advance(timedelta(days=1))
    assert await outbound.round() == 0, "a disabled subscription is sent nothing"

    receiver.status = 200
    enabled = await client.patch(location, json={"enabled": True}, headers=admin)
    assert enabled.json()["enabled"] is True and enabled.json()["failing_since"] is None
    assert await outbound.round() == 1
    [delivery] = await deliveries(client, admin, sub["id"])
    assert delivery["status"] == "delivered"


async def test_a_rotated_secret_signs_beside_the_old_one_for_the_overlap(
    live: Live, outbound: Outbound, receiver: Receiver, clock: ControlledClock
) -> None:
    client, admin = live
    sub = await subscribe(client, admin, receiver.url, "note.added")
    rotated = await client.post(
        f"/v1/webhook-subscriptions/{sub['id']}/secrets",
        json={"overlap_seconds": 3600},
        headers=admin,
    )
    assert rotated.status_code == 201, rotated.text
    assert len(rotated.json()["secrets"]) == 2
    await receiver.start()
    customer = await new_customer(client, admin)
    for _ in range(2):
        await client.post(f"/v1/customers/{customer}/events", json=event(), headers=admin)

    receiver.secrets = [sub["secret"]]  # a receiver not yet told of the new secret
    assert await outbound.round() == 1
    receiver.secrets = [rotated.json()["secret"]]  # one told already
    assert await outbound.round() == 1
    assert len(receiver.unique) == 2 and receiver.unverified == []

    clock.advance(timedelta(hours=1, seconds=1))
    await client.post(f"/v1/customers/{customer}/events", json=event(), headers=admin)
    receiver.secrets = [sub["secret"]]
    assert await outbound.round() == 1
    assert len(receiver.unverified) == 1, "the old secret signs no more after the overlap"
    shown = (await client.get(f"/v1/webhook-subscriptions/{sub['id']}", headers=admin)).json()
    assert [s["id"] for s in shown["secrets"]] == [rotated.json()["id"]]


async def test_a_raised_alert_and_changed_flags_are_announced(
    live: Live, outbound: Outbound, receiver: Receiver, clock: ControlledClock
) -> None:
    client, admin = live
    sub = await subscribe(client, admin, receiver.url, "alert.*", "flag.changed")
    receiver.secrets = [sub["secret"]]
    await receiver.start()
    customer = await new_customer(client, admin, tier="premium", owner_id="agent-7")
    for minutes in (30, 20, 10, 0):
        body = {"type": "call.abandoned", "occurred_at": clock.ago(minutes=minutes).isoformat()}
        await client.post(f"/v1/customers/{customer}/events", json=body, headers=admin)
    while await outbound.round():
        pass
    kinds = [r.body["type"] for r in receiver.unique.values()]
    assert sorted(kinds) == ["alert.raised", "flag.changed"]
    raised = next(
        r.body["data"] for r in receiver.unique.values() if r.body["type"] == "alert.raised"
    )
    assert (raised["customer_id"], raised["owner_id"]) == (customer, "agent-7")
    alert = raised["id"]
    assert (await client.post(f"/v1/alerts/{alert}/ack", headers=admin)).status_code == 200
    assert await outbound.round() == 1
    assert receiver.requests[-1].body["type"] == "alert.acknowledged"


async def test_a_rolled_back_fact_is_never_announced_and_nothing_is_kept_without_subscribers(
    database: Database, live: Live
) -> None:
    client, admin = live
    customer = await new_customer(client, admin)
    await client.post(f"/v1/customers/{customer}/events", json=event(), headers=admin)
    async with database.engine.connect() as conn:
        outbox = (await conn.exec_driver_sql("SELECT count(*) FROM outbox")).scalar()
    assert outbox == 0, "nobody asked"

    sub = await subscribe(client, admin, "http://127.0.0.1:9/none", "note.added")
    refused = await client.post(
        f"/v1/customers/{customer}/events",
        json={**event(), "payload": {"text": 5}},
        headers=admin,
    )
    assert refused.status_code == 422
    await client.post(f"/v1/customers/{customer}/events", json=event(), headers=admin)
    async with database.engine.connect() as conn:
        rows = (await conn.exec_driver_sql("SELECT kind FROM outbox")).all()
    assert [r[0] for r in rows] == ["note.added"]
    assert sub["enabled"]


async def test_a_test_send_reaches_the_receiver_at_once_and_answers_how_it_went(
    client: httpx.AsyncClient, admin: dict[str, str], receiver: Receiver
) -> None:
    sub = await subscribe(client, admin, receiver.url, "call.*")
    receiver.secrets = [sub["secret"]]
    await receiver.start()
    sent = await client.post(f"/v1/webhook-subscriptions/{sub['id']}/test", headers=admin)
    assert sent.status_code == 200, sent.text
    assert sent.json()["status"] == "delivered" and sent.json()["kind"] == "webhook.test"
    [received] = receiver.requests
    assert received.webhook_id == sent.json()["id"] and received.body["type"] == "webhook.test"

    await receiver.stop()
    failed = await client.post(f"/v1/webhook-subscriptions/{sub['id']}/test", headers=admin)
    assert failed.json()["status"] == "failed"
    assert failed.json()["attempt_log"][0]["error"]


async def test_a_slow_receiver_is_cut_off_at_the_timeout(
    live: Live, database: Database, settings: Settings, receiver: Receiver, clock: ControlledClock
) -> None:
    client, admin = live
    quick = settings.model_copy(update={"outbound_timeout_seconds": 0.3})
    sub = await subscribe(client, admin, receiver.url, "note.added")
    receiver.secrets, receiver.delay = [sub["secret"]], 2.0
    await receiver.start()
    customer = await new_customer(client, admin)
    await client.post(f"/v1/customers/{customer}/events", json=event(), headers=admin)
    assert await Outbound(database, quick, clock).round() == 1
    [delivery] = await deliveries(client, admin, sub["id"])
    log = await client.get(
        f"/v1/webhook-subscriptions/{sub['id']}/deliveries/{delivery['id']}", headers=admin
    )
    [attempt] = log.json()["attempt_log"]
    assert attempt["error"] == "timeout" and 250 <= attempt["duration_ms"] < 1500


Answer = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@contextlib.asynccontextmanager
async def hostile(answer: Answer) -> AsyncIterator[str]:
    """A receiver on 127.0.0.1 that reads a request's head and answers as ``answer`` does;
    its URL."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(Exception):
            await reader.readuntil(b"\r\n\r\n")
            await answer(reader, writer)
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/hooks"
    finally:
        server.close()


async def test_a_receiver_trickling_its_answer_is_cut_off_at_the_timeout_too(
    client: httpx.AsyncClient, admin: dict[str, str], settings: Settings
) -> None:
    """The timeout bounds the whole attempt, not each read: a byte a second is never
    an answer that keeps the sender (and the test-send's transaction) waiting."""

    async def trickle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 5000\r\n\r\n")
        while not reader.at_eof():  # until the sender hangs up
            writer.write(b"x")
            await writer.drain()
            await asyncio.sleep(0.2)

    assert settings.outbound_timeout_seconds <= 10
    async with hostile(trickle) as url:
        sub = await subscribe(client, admin, url, "call.*")
        started = time.perf_counter()
        sent = await client.post(f"/v1/webhook-subscriptions/{sub['id']}/test", headers=admin)
        took = time.perf_counter() - started
    assert sent.status_code == 200, sent.text
    [attempt] = sent.json()["attempt_log"]
    assert (sent.json()["status"], attempt["error"]) == ("failed", "timeout")
    assert took < settings.outbound_timeout_seconds + 2


async def test_a_receiver_answering_nul_bytes_has_its_answer_kept_and_the_retry_scheduled(
    live: Live, outbound: Outbound, clock: ControlledClock
) -> None:
    """A NUL in a receiver's answer (PostgreSQL text cannot hold one) neither fails the
    test-send nor leaves the delivery unrecorded, to be sent again every poll."""
    calls = 0

    async def nul(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal calls
        calls += 1
        answer = b"bad\x00gateway" + b"\x00" * EXCERPT_BYTES
        writer.write(b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: %d\r\n\r\n" % len(answer))
        writer.write(answer)
        await writer.drain()

    client, admin = live
    async with hostile(nul) as url:
        sub = await subscribe(client, admin, url, "note.added")
        tested = await client.post(f"/v1/webhook-subscriptions/{sub['id']}/test", headers=admin)
        assert tested.status_code == 200, tested.text
        [attempt] = tested.json()["attempt_log"]
        assert attempt["status_code"] == 502 and attempt["response_excerpt"].startswith("bad")

        customer = await new_customer(client, admin)
        await client.post(f"/v1/customers/{customer}/events", json=event(), headers=admin)
        assert await outbound.round() == 1
        assert await outbound.round() == 0, "its retry is not due yet"
        assert calls == 2
    [delivery] = [
        d for d in await deliveries(client, admin, sub["id"]) if d["kind"] != "webhook.test"
    ]
    assert (delivery["status"], delivery["attempts"]) == ("pending", 1)


async def test_a_name_resolving_to_an_internal_address_is_not_sent_to(
    live: Live, outbound: Outbound, receiver: Receiver, clock: ControlledClock
) -> None:
    """Where private networks are not allowed, a subscription's name is resolved at each
    attempt and the one address checked is the one connected to (no DNS rebinding)."""
    client, admin = live
    await receiver.start()
    sub = await subscribe(client, admin, f"http://localhost:{receiver.port}/hooks", "note.added")
    receiver.secrets = [sub["secret"]]
    customer = await new_customer(client, admin)
    await client.post(f"/v1/customers/{customer}/events", json=event(), headers=admin)
    refusing = outbound.settings.model_copy(update={"outbound_private_networks": False})
    assert await Outbound(outbound.database, refusing, clock).round() == 1
    assert receiver.requests == []
    [delivery] = await deliveries(client, admin, sub["id"])
    log = await client.get(
        f"/v1/webhook-subscriptions/{sub['id']}/deliveries/{delivery['id']}", headers=admin
    )
    [attempt] = log.json()["attempt_log"]
    assert attempt["status_code"] is None and "not a public address" in attempt["error"]

    assert await outbound.round() == 0
    clock.advance(retry_delay(1) or timedelta())
    assert await outbound.round() == 1, "allowed, the same name is sent to"
    assert [r.webhook_id for r in receiver.requests] == [delivery["id"]]


async def test_a_url_longer_than_the_service_keeps_is_refused_naming_it(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    url = "https://crm.example.com/" + "a" * 2000
    created = await client.post(
        "/v1/webhook-subscriptions", json={"url": url, "kinds": ["call.*"]}, headers=admin
    )
    assert created.status_code == 422, created.text
    assert [e["field"] for e in created.json()["errors"]] == ["body.url"]


async def test_a_delivery_cursor_out_of_range_is_an_invalid_cursor(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    sub = await subscribe(client, admin, "https://crm.example.com/hooks", "call.*")
    for before in (10**22, -(10**22), True):
        cursor = base64.urlsafe_b64encode(json.dumps({"before": before}).encode()).decode()
        listed = await client.get(
            f"/v1/webhook-subscriptions/{sub['id']}/deliveries",
            params={"cursor": cursor.rstrip("=")},
            headers=admin,
        )
        assert listed.status_code == 400, listed.text
        assert listed.json()["type"].endswith("invalid-cursor")


@pytest.mark.parametrize("field", ["url", "kinds", "enabled"])
async def test_a_null_in_a_patch_is_refused_naming_it_not_ignored(
    client: httpx.AsyncClient, admin: dict[str, str], field: str
) -> None:
    created = await subscribe(client, admin, "https://crm.example.com/hooks", "call.*")
    patched = await client.patch(
        f"/v1/webhook-subscriptions/{created['id']}", json={field: None}, headers=admin
    )
    assert patched.status_code == 422, patched.text
    assert [e["field"] for e in patched.json()["errors"]] == [f"body.{field}"]
    kept = await client.get(f"/v1/webhook-subscriptions/{created['id']}", headers=admin)
    assert kept.json()["url"] == "https://crm.example.com/hooks"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "https://crm.example.com/h", "kinds": ["call.*"], "enabled": 0}, "body.enabled"),
        (
            {"url": "https://crm.example.com/h", "kinds": ["call.*"], "enabled": "yes"},
            "body.enabled",
        ),
    ],
)
async def test_a_flag_that_is_not_a_boolean_is_refused_naming_it(
    client: httpx.AsyncClient, admin: dict[str, str], body: dict[str, Any], field: str
) -> None:
    created = await client.post("/v1/webhook-subscriptions", json=body, headers=admin)
    assert created.status_code == 422, created.text
    assert [e["field"] for e in created.json()["errors"]] == [field]


async def test_an_overlap_that_is_not_a_number_is_refused_naming_it(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    created = await subscribe(client, admin, "https://crm.example.com/hooks", "call.*")
    rotated = await client.post(
        f"/v1/webhook-subscriptions/{created['id']}/secrets",
        json={"overlap_seconds": False},
        headers=admin,
    )
    assert rotated.status_code == 422, rotated.text
    assert [e["field"] for e in rotated.json()["errors"]] == ["body.overlap_seconds"]


async def test_a_url_that_grows_past_the_limit_when_normalised_is_refused_naming_it(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    """2,000 characters without a path are 2,001 once the path `/` is added."""
    host = ".".join(["b" * 63] * 40)
    url = f"https://{host}"[:1999] + "a"
    assert len(url) == 2000
    created = await client.post(
        "/v1/webhook-subscriptions", json={"url": url, "kinds": ["call.*"]}, headers=admin
    )
    assert created.status_code == 422, created.text
    assert [e["field"] for e in created.json()["errors"]] == ["body.url"]
