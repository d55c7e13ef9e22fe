"""Export (right of access), retention, consent history and consent in segments."""

import base64
import contextlib
import json
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from uuid import UUID

import anyio
import asyncpg
import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import Settings
from app.core.db import Database, plain_url
from app.privacy.schemas import RetentionPolicy
from app.privacy.service import expire_batch, export_stream
from tests.support.api import append, event, new_customer
from tests.support.clock import ControlledClock
from tests.support.webhooks import signed_generic


async def test_the_export_holds_everything_including_merged_histories_and_raw_deliveries(
    live: tuple[httpx.AsyncClient, dict[str, str]],
) -> None:
    client, admin = live
    ana = await new_customer(
        client,
        admin,
        display_name="Ana Ruiz",
        identifiers=[{"kind": "email", "value": "ana@example.com"}],
    )
    twin = await new_customer(
        client, admin, identifiers=[{"kind": "phone", "value": "+34611222333"}]
    )
    for customer, day in ((ana, 1), (twin, 2), (ana, 3)):
        body = {
            "type": "note.added",
            "occurred_at": f"2026-03-0{day}T10:00:00Z",
            "payload": {"text": f"note {day}"},
        }
        assert (await append(client, admin, customer, body)).status_code == 201
    note = json.dumps(
        {
            "customer": {"email": "ana@example.com"},
            "type": "note.added",
            "occurred_at": "2026-03-04T10:00:00Z",
            "payload": {"text": "from the webhook"},
        }
    ).encode()
    hook = await client.post(
        "/v1/webhooks/generic", content=note, headers=signed_generic(note, "m-x1")
    )
    assert hook.is_success
    merged = await client.post(
        f"/v1/customers/{ana}/merge", json={"source_customer_id": twin}, headers=admin
    )
    assert merged.status_code == 200, merged.text
    identifiers = (await client.get(f"/v1/customers/{ana}", headers=admin)).json()["identifiers"]
    phone = next(i for i in identifiers if i["kind"] == "phone")
    await client.delete(
        f"/v1/customers/{ana}/identifiers/{phone['id']}",
        headers={
            **admin,
            "If-Match": (await client.get(f"/v1/customers/{ana}", headers=admin)).headers["etag"],
        },
    )
    await client.post(
        f"/v1/customers/{ana}/consents",
        json={"channel": "email", "purpose": "marketing", "granted": True, "source": "form"},
        headers=admin,
    )
    await client.get(f"/v1/customers/{ana}/ficha", params={"role": "support"}, headers=admin)

    response = await client.get(f"/v1/customers/{ana}/export", headers=admin)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    doc = response.json()
    assert doc["customer_id"] == ana and doc["customer"]["display_name"] == "Ana Ruiz"
    assert [c["id"] for c in doc["merged_customers"]] == [twin]
    assert [i["value"] for i in doc["identifiers"]] == ["ana@example.com"]
    assert [i["value"] for i in doc["past_identifiers"]] == ["+34611222333"]
    assert [c["granted"] for c in doc["consents"]] == [True]
    notes = [e["payload"]["text"] for e in doc["events"] if e["type"] == "note.added"]
    assert notes == ["note 1", "note 2", "note 3", "from the webhook"]
    assert {e["customer_id"] for e in doc["events"]} == {ana, twin}
    [delivery] = doc["webhook_deliveries"]
    assert base64.b64decode(delivery["body_base64"]) == note
    assert any(entry["what"] == "ficha:support" for entry in doc["access_log"])
    assert doc["indicators"] is not None

    missing = await client.get(
        "/v1/customers/01933b8e-8a52-7cc2-9d0e-0c6f2b1e3a10/export", headers=admin
    )
    assert missing.status_code == 404
    of_merged = await client.get(f"/v1/customers/{twin}/export", headers=admin)
    assert of_merged.status_code == 409 and of_merged.json()["survivor_id"] == ana
    assert of_merged.json()["detail"].endswith(f"was merged into {ana}; export that customer.")
    erase_merged = await client.post(
        f"/v1/customers/{twin}/erasure",
        json={"reason": "request", "requested_at": "2026-11-20T09:00:00Z"},
        headers=admin,
    )
    assert erase_merged.status_code == 409 and erase_merged.json()["survivor_id"] == ana
    assert erase_merged.json()["detail"].endswith(f"was merged into {ana}; erase that customer.")


async def test_a_long_export_streams_in_pieces_of_about_64_kib_and_reads_as_one_document(
    live: tuple[httpx.AsyncClient, dict[str, str]],
    database: Database,
    settings: Settings,
    clock: ControlledClock,
) -> None:
    """The server holds about one piece at a time, whatever the history's length."""
    client, admin = live
    ana = await new_customer(client, admin)
    lines = [
        json.dumps(
            {
                "customer": {"id": ana},
                "type": "note.added",
                "occurred_at": f"2026-03-04T10:{n // 60:02d}:{n % 60:02d}Z",
                "payload": {"text": f"note {n} " + "x" * 400},
            }
        )
        for n in range(400)
    ]
    imported = await client.post(
        "/v1/events/bulk",
        content="\n".join(lines).encode(),
        headers={**admin, "content-type": "application/x-ndjson"},
    )
    assert imported.status_code == 200, imported.text

    pieces = [piece async for piece in export_stream(database, [UUID(ana)], clock)]

    assert len(pieces) >= 3
    assert all(65536 <= len(piece) < 65536 + 4096 for piece in pieces[:-1])
    doc = json.loads(b"".join(pieces))
    assert doc["customer_id"] == ana and len(doc["events"]) == 400
    assert datetime.fromisoformat(doc["exported_at"]) == clock.now()
    assert doc["exported_at"].endswith("+00:00"), "RFC 3339 with the UTC offset"


async def test_an_export_cut_short_hands_the_next_request_no_transaction(
    live: tuple[httpx.AsyncClient, dict[str, str]],
    settings: Settings,
    service_url: str,
    clock: ControlledClock,
) -> None:
    """A reader gone in the middle of an export (its task cancelled while a statement of
    the export waits, as Starlette cancels a stream whose client went away) leaves no
    transaction on the connection the pool hands out next: inside the export's read-only
    snapshot, every write of the next request on it would fail and every read see the
    past."""
    client, admin = live
    ana = await new_customer(client, admin)
    database = Database(service_url, pool_size=1, max_overflow=0)
    owner = await asyncpg.connect(plain_url(str(settings.database_url)))
    try:
        async with owner.transaction():
            # The export's statement on the consents waits for this lock.
            await owner.execute("LOCK TABLE customer_consents IN ACCESS EXCLUSIVE MODE")
            with anyio.move_on_after(1) as waited:
                async for _ in export_stream(database, [UUID(ana)], clock):
                    pass
            assert waited.cancelled_caught
        async with database.engine.connect() as connection:
            read_only = await connection.exec_driver_sql("SHOW transaction_read_only")
            assert read_only.scalar() == "off"
    finally:
        await owner.close()
        await database.dispose()


@contextlib.asynccontextmanager
async def as_owner(settings: Settings) -> AsyncIterator[AsyncSession]:
    """A committed transaction as the owner of the tables, as `retention run` has: the
    service's role may not delete events (test_database_role.py)."""
    database = Database(str(settings.database_url), pool_size=1, max_overflow=0)
    try:
        async with database.sessionmaker() as session, session.begin():
            yield session
    finally:
        await database.dispose()


async def _expire_all(settings: Settings, policy: RetentionPolicy, clock: ControlledClock) -> None:
    """Retention as the command runs it: as the owner, batches until one comes back short."""
    while True:
        async with as_owner(settings) as owner:
            report = await expire_batch(owner, policy, 100, settings, clock)
        if max([report.deliveries, report.access_log, *report.events.values()]) < 100:
            return


async def test_retention_deletes_exactly_what_expired_as_the_clock_passes_each_period(
    live: tuple[httpx.AsyncClient, dict[str, str]], settings: Settings, clock: ControlledClock
) -> None:
    """Nothing is aged by hand: the records are stored now and the clock moves past each
    period of the policy (raw deliveries 30 days, the access log 365, page views 90). A
    minute short of a period, nothing of that kind goes; a minute past it, all of it."""
    client, admin = live
    start = clock.now()
    ana = await new_customer(client, admin)
    for days in (80, 10):  # page views that reach 90 days 10 and 80 days from now
        body = {
            "type": "web.page_viewed",
            "occurred_at": clock.ago(days=days).isoformat(),
            "payload": {"url": f"https://shop.example.com/{days}"},
        }
        assert (await append(client, admin, ana, body)).status_code == 201
    for n in range(3):  # two processed deliveries and a failed one
        body = json.dumps(
            {"customer": {"email": "r@example.com"}, "type": "bogus", "occurred_at": "x"}
            if n == 2
            else {
                "customer": {"email": "r@example.com"},
                "type": "note.added",
                "occurred_at": "2026-03-04T10:00:00Z",
                "payload": {"text": f"n{n}"},
            }
        ).encode()
        await client.post(
            "/v1/webhooks/generic", content=body, headers=signed_generic(body, f"m-r{n}")
        )
    await client.get(f"/v1/customers/{ana}/ficha", params={"role": "support"}, headers=admin)
    policy = RetentionPolicy(event_days={"web.page_viewed": 90})

    async def kept_at(moment: datetime) -> tuple[list[str], list[str], int]:
        """What is left of this test's records after retention runs at ``moment``."""
        clock.set(moment)
        await _expire_all(settings, policy, clock)
        async with as_owner(settings) as session:
            deliveries = await session.execute(
                text(
                    "SELECT delivery_id FROM webhook_deliveries "
                    "WHERE delivery_id IN ('m-r0', 'm-r1', 'm-r2') ORDER BY 1"
                )
            )
            urls = await session.execute(
                text(
                    "SELECT payload->>'url' FROM events WHERE customer_id = :c "
                    "AND type = 'web.page_viewed' ORDER BY 1"
                ),
                {"c": ana},
            )
            reads = await session.scalar(
                text("SELECT count(*) FROM access_log WHERE customer_id = :c"), {"c": ana}
            )
        return [r[0] for r in deliveries], [r[0] for r in urls], int(reads or 0)

    everything = (
        ["m-r0", "m-r1", "m-r2"],
        ["https://shop.example.com/10", "https://shop.example.com/80"],
        1,
    )
    assert await kept_at(start) == everything
    minute = timedelta(minutes=1)
    assert await kept_at(start + timedelta(days=10) - minute) == everything
    one_view = ["https://shop.example.com/10"]
    assert await kept_at(start + timedelta(days=10) + minute) == (everything[0], one_view, 1)
    assert await kept_at(start + timedelta(days=30) - minute) == (everything[0], one_view, 1)
    assert await kept_at(start + timedelta(days=30) + minute) == ([], one_view, 1)
    assert await kept_at(start + timedelta(days=80) + minute) == ([], [], 1)
    assert await kept_at(start + timedelta(days=365) - minute) == ([], [], 1)
    assert await kept_at(start + timedelta(days=365) + minute) == ([], [], 0)


async def test_retention_goes_in_batches_of_at_most_the_limit_of_each_kind(
    live: tuple[httpx.AsyncClient, dict[str, str]], settings: Settings, clock: ControlledClock
) -> None:
    """Each pass removes at most ``limit`` deliveries, access-log rows and events of each
    type (short transactions, so ingestion goes on), and passes repeated finish the job;
    every customer whose history shrank has its indicators rebuilt."""
    client, admin = live
    ana, bob = await new_customer(client, admin), await new_customer(client, admin)
    for customer in (ana, bob):
        for type_ in ("web.page_viewed", "order.placed"):
            body = event(type_, clock.ago(days=200))
            if type_ == "order.placed":
                body["payload"]["order_id"] = f"SO-{customer}"
            else:
                body["payload"] = {"url": "https://shop.example.com/boots"}
            assert (await append(client, admin, customer, body)).status_code == 201
    for n in range(3):
        note = json.dumps(
            {
                "customer": {"email": "r@example.com"},
                "type": "note.added",
                "occurred_at": "2026-03-04T10:00:00Z",
                "payload": {"text": f"n{n}"},
            }
        ).encode()
        await client.post(
            "/v1/webhooks/generic", content=note, headers=signed_generic(note, f"m-b{n}")
        )
        await client.get(f"/v1/customers/{ana}", headers=admin)
    clock.advance(timedelta(days=400))  # past every period
    policy = RetentionPolicy(event_days={"web.page_viewed": 90, "order.placed": 90})

    async with as_owner(settings) as owner:
        first = await expire_batch(owner, policy, 1, settings, clock)

    assert (first.deliveries, first.access_log) == (1, 1)
    assert first.events == {"order.placed": 1, "web.page_viewed": 1}
    passes = [first]
    while passes[-1].deliveries or passes[-1].access_log or passes[-1].events:
        async with as_owner(settings) as owner:
            passes.append(await expire_batch(owner, policy, 1, settings, clock))
    assert all(p.deliveries <= 1 and p.access_log <= 1 for p in passes)
    assert all(n <= 1 for p in passes for n in p.events.values())
    assert sum(p.deliveries for p in passes) >= 3 and len(passes) >= 4
    assert sum(p.events.get("order.placed", 0) for p in passes) == 2
    async with as_owner(settings) as owner:
        reads = await owner.scalar(
            text("SELECT count(*) FROM access_log WHERE customer_id = :c"), {"c": ana}
        )
    assert reads == 0
    for customer in (ana, bob):
        found = await client.get(f"/v1/customers/{customer}/indicators", headers=admin)
        assert found.json()["value"]["order_count"] == 0, "rebuilt after its order expired"


async def test_retention_skips_events_another_transaction_holds(
    live: tuple[httpx.AsyncClient, dict[str, str]], settings: Settings, clock: ControlledClock
) -> None:
    """Ingestion goes on while retention runs: a row in use is left for the next pass,
    never waited for."""
    client, admin = live
    ana = await new_customer(client, admin)
    for days in (200, 201):
        body = event("web.page_viewed", clock.ago(days=days))
        body["payload"] = {"url": f"https://shop.example.com/{days}"}
        assert (await append(client, admin, ana, body)).status_code == 201
    policy = RetentionPolicy(event_days={"web.page_viewed": 90})
    holder = await asyncpg.connect(plain_url(str(settings.database_url)))
    holding = holder.transaction()
    await holding.start()
    try:
        # By her id too: a lock is taken on one shard (Citus locks across none).
        await holder.execute(
            "SELECT id FROM events WHERE customer_id = $1 AND payload->>'url' LIKE '%/200' "
            "FOR UPDATE",
            UUID(ana),
        )
        async with as_owner(settings) as owner:
            await owner.execute(text("SET LOCAL lock_timeout = '3s'"))
            report = await expire_batch(owner, policy, 100, settings, clock)
        assert report.events == {"web.page_viewed": 1}
    finally:
        await holding.rollback()
        await holder.close()
    async with as_owner(settings) as owner:
        assert (await expire_batch(owner, policy, 100, settings, clock)).events == {
            "web.page_viewed": 1
        }


async def test_retention_rebuilds_every_customer_whose_history_shrank(
    live: tuple[httpx.AsyncClient, dict[str, str]], settings: Settings, clock: ControlledClock
) -> None:
    """Two types expire for two customers in one pass: both are rebuilt."""
    client, admin = live
    ana, bob = await new_customer(client, admin), await new_customer(client, admin)
    for customer, type_ in ((ana, "order.placed"), (bob, "order.paid")):
        body = event("order.placed", clock.ago(days=200))
        body["type"] = type_
        assert (await append(client, admin, customer, body)).status_code == 201
    policy = RetentionPolicy(event_days={"order.placed": 90, "order.paid": 90})

    async with as_owner(settings) as owner:
        report = await expire_batch(owner, policy, 100, settings, clock)

    assert report.events == {"order.paid": 1, "order.placed": 1}
    for customer in (ana, bob):
        found = await client.get(f"/v1/customers/{customer}/indicators", headers=admin)
        assert found.json()["value"]["order_count"] == 0, "rebuilt after its order expired"


async def test_retention_of_a_merged_away_history_rebuilds_the_survivors_indicators(
    live: tuple[httpx.AsyncClient, dict[str, str]], settings: Settings, clock: ControlledClock
) -> None:
    client, admin = live
    ana = await new_customer(client, admin)
    twin = await new_customer(client, admin)
    for customer, order_id, days in ((ana, "SO-new", 10), (twin, "SO-old", 200)):
        body = event("order.placed", clock.ago(days=days))
        body["payload"]["order_id"] = order_id
        assert (await append(client, admin, customer, body)).status_code == 201
    merged = await client.post(
        f"/v1/customers/{ana}/merge", json={"source_customer_id": twin}, headers=admin
    )
    assert merged.status_code == 200, merged.text

    async def orders() -> int:
        found = await client.get(f"/v1/customers/{ana}/indicators", headers=admin)
        return int(found.json()["value"]["order_count"])

    assert await orders() == 2

    policy = RetentionPolicy(event_days={"order.placed": 90})
    async with as_owner(settings) as owner:
        report = await expire_batch(owner, policy, 100, settings, clock)

    # The expired order was the absorbed twin's: the survivor's indicators lose it. (The
    # report's totals also count whatever else in the database expired.)
    assert report.events["order.placed"] >= 1 and report.customers_rebuilt >= 1
    assert await orders() == 1


async def test_the_retention_policy_is_set_by_an_admin_and_validated(
    client: httpx.AsyncClient, admin: dict[str, str], make_key: object
) -> None:
    default = await client.get("/v1/retention-policy", headers=admin)
    assert default.json() == {"deliveries_days": 30, "access_log_days": 365, "event_days": {}}
    bad = await client.put(
        "/v1/retention-policy", json={"event_days": {"web.paged": 90}}, headers=admin
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "body.event_days"
    assert "web.paged" in bad.json()["errors"][0]["reason"]
    surrogate = await client.put(
        "/v1/retention-policy",
        content=json.dumps({"event_days": {"web.\ud800": 90}}),
        headers={**admin, "content-type": "application/json"},
    )
    assert surrogate.status_code == 422, surrogate.text
    assert surrogate.json()["errors"][0]["field"] == "body.event_days"
    put = await client.put(
        "/v1/retention-policy",
        json={"deliveries_days": 7, "event_days": {"web.page_viewed": 90}},
        headers=admin,
    )
    assert put.status_code == 200
    assert (await client.get("/v1/retention-policy", headers=admin)).json()["deliveries_days"] == 7


async def test_withdrawn_marketing_consent_leaves_the_segment_at_once(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    ana = await new_customer(
        client, admin, tags=["spring"], identifiers=[{"kind": "email", "value": "s@example.com"}]
    )
    query = {"purpose": "marketing", "channel": "email", "tags": ["spring"]}

    async def members() -> list[str]:
        found = await client.post("/v1/segments/query", json=query, headers=admin)
        assert found.status_code == 200, found.text
        return [m["customer_id"] for m in found.json()["items"]]

    for granted, expected in ((True, [ana]), (False, [])):
        await client.post(
            f"/v1/customers/{ana}/consents",
            json={"channel": "email", "purpose": "marketing", "granted": granted, "source": "x"},
            headers=admin,
        )
        assert await members() == expected
    history = await client.get(f"/v1/customers/{ana}/consents/history", headers=admin)
    assert [c["granted"] for c in history.json()["items"]] in ([False, True], [True, False])
