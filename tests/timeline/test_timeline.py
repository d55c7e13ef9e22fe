"""The timeline: append-only, idempotent, paged stably, filtered, corrected, imported in bulk."""

import asyncio
import base64
import json
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.security import Role
from app.indicators import queries as stats_queries
from app.timeline import queries
from app.timeline.catalog import CATALOG
from app.timeline.models import Event
from app.timeline.repository import TimelineRepository
from tests.support.api import T0, append, event, new_customer, timeline
from tests.support.fixtures import MakeKey


async def test_append_returns_the_stored_event(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    customer = await new_customer(client, admin)
    response = await append(
        client, admin, customer, event("order.placed", source="erp", source_event_id="SO-1")
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["customer_id"] == customer
    assert body["channel"] == "store" and body["source"] == "erp"
    assert body["occurred_at"] == "2026-03-01T09:00:00Z"
    assert (
        body["payload"]["total"] == "149.90"
        and body["payload"]["items"][0]["unit_price"] == "129.90"
    )
    assert body["summary"] == "Order placed SO-1 149.90 EUR"
    assert datetime.fromisoformat(body["recorded_at"]) > T0
    assert (await timeline(client, admin, customer))["items"][0]["id"] == body["id"]


async def test_a_zero_amount_is_kept_with_at_most_four_decimals(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    """A zero counts no decimals to pydantic, so "0E-20000000" passed as an amount of 337
    bytes sent and was written as twenty million zeros, on every read after."""
    customer = await new_customer(client, admin)
    payload = {"order_id": "Z", "total": "0E-20000000", "currency": "EUR",
               "items": [{"name": "Mug", "unit_price": "17.500000"}]}  # fmt: skip
    response = await append(client, admin, customer, event("order.placed", payload=payload))
    assert response.status_code == 201, response.text
    assert response.json()["payload"]["total"] == "0.0000"
    assert response.json()["payload"]["items"][0]["unit_price"] == "17.500000"  # as written
    [stored] = (await timeline(client, admin, customer))["items"]
    assert stored["payload"]["total"] == "0.0000"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (event("call.teleported"), "body.type"),
        (event("customer.merged"), "body.type"),
        ({**event(), "occurred_at": "2026-03-01T09:00:00"}, "body.occurred_at"),
        (event("order.placed", payload={"order_id": "X", "total": "10.00"}), "body.payload"),
        (
            event("order.placed", payload={"order_id": "X", "total": "1.00", "currency": "EURO"}),
            "body.payload.currency",
        ),
        (event("survey.answered", payload={"csat": 9}), "body.payload.csat"),
        (event("note.added", payload={"txt": "typo"}), "body.payload.txt"),
        ({**event(), "summary": "x" * 281}, "body.summary"),
    ],
)
async def test_invalid_events_are_422_naming_the_field(
    client: httpx.AsyncClient, admin: dict[str, str], body: dict[str, Any], field: str
) -> None:
    customer = await new_customer(client, admin)
    response = await append(client, admin, customer, body)
    assert response.status_code == 422, response.text
    assert field in [e["field"] for e in response.json()["errors"]]


async def test_custom_types_take_a_free_payload(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    customer = await new_customer(client, admin)
    response = await append(
        client, admin, customer, event("custom.loyalty_points", payload={"points": 120})
    )
    assert response.status_code == 201
    assert response.json()["payload"] == {"points": 120}


async def test_database_refuses_update_delete_and_truncate(
    client: httpx.AsyncClient, admin: dict[str, str], session: AsyncSession
) -> None:
    customer = await new_customer(client, admin)
    stored = (await append(client, admin, customer, event())).json()
    for statement in (
        "UPDATE events SET summary = 'rewritten' WHERE id = :id",
        "DELETE FROM events WHERE id = :id",
        "TRUNCATE events CASCADE",
    ):
        # The service's role lacks the privilege; the owner meets the trigger.
        with pytest.raises(DBAPIError, match=r"permission denied|append-only"):
            async with session.begin_nested():
                await session.execute(text(statement), {"id": stored["id"]})
    summary = await session.scalar(
        text("SELECT summary FROM events WHERE id = :id"), {"id": stored["id"]}
    )
    assert summary == stored["summary"]


async def test_idempotent_retries(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    customer = await new_customer(client, admin)
    headers = {**admin, "Idempotency-Key": "retry-1"}
    first = await client.post(f"/v1/customers/{customer}/events", json=event(), headers=headers)
    again = await client.post(f"/v1/customers/{customer}/events", json=event(), headers=headers)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    other = await client.post(
        f"/v1/customers/{customer}/events", json=event(at=T0 + timedelta(hours=1)), headers=headers
    )
    assert other.status_code == 409 and other.json()["event_id"] == first.json()["id"]

    by_source = event("call.completed", source="pbx", source_event_id="CA123")
    assert (await append(client, admin, customer, by_source)).status_code == 201
    assert (await append(client, admin, customer, by_source)).status_code == 200
    changed = {**by_source, "payload": {"from": "+34612345678", "duration_s": 1}}
    assert (await append(client, admin, customer, changed)).status_code == 409
    assert len((await timeline(client, admin, customer))["items"]) == 2


async def test_twenty_concurrent_identical_appends_store_one(
    live: tuple[httpx.AsyncClient, dict[str, str]],
) -> None:
    client, admin = live
    customer = await new_customer(client, admin)
    body = event("call.completed", source="pbx", source_event_id="CA-storm")
    responses = await asyncio.gather(*(append(client, admin, customer, body) for _ in range(20)))
    assert sorted(r.status_code for r in responses) == [200] * 19 + [201]
    assert len({r.json()["id"] for r in responses}) == 1
    assert len((await timeline(client, admin, customer))["items"]) == 1


@pytest.mark.parametrize("unseen_reads", [3, 100])
async def test_a_retry_whose_key_is_seen_before_its_event_waits_for_it(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    unseen_reads: int,
) -> None:
    """On Citus a key's commit can be seen before its event's (another shard): the retry
    reads the event again until it is there (the original, 200), else answers 503 to retry,
    never a 500."""
    customer = await new_customer(client, admin)
    body = event("call.completed", source="pbx", source_event_id="CA-in-flight")
    first = await append(client, admin, customer, body)
    read = TimelineRepository.get
    reads = 0

    async def seen_late(self: TimelineRepository, event_id: UUID) -> Event | None:
        nonlocal reads
        reads += 1
        return None if reads <= unseen_reads else await read(self, event_id)

    monkeypatch.setattr(TimelineRepository, "get", seen_late)
    retry = await append(client, admin, customer, body)
    if unseen_reads == 3:
        assert (retry.status_code, retry.json()["id"]) == (200, first.json()["id"]), retry.text
    else:
        assert retry.status_code == 503 and retry.headers["retry-after"] == "1", retry.text
        assert retry.headers["content-type"] == "application/problem+json"


async def test_a_retry_whose_key_expired_meanwhile_is_told_to_retry(
    client: httpx.AsyncClient, admin: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Retention removes an event with its key: between a retry's failed claim and its read
    of the key, that was an assertion's 500."""
    customer = await new_customer(client, admin)
    body = event("call.completed", source="pbx", source_event_id="CA-expired")
    assert (await append(client, admin, customer, body)).status_code == 201

    async def expired(*_: object) -> None:
        return None

    monkeypatch.setattr(queries, "find_key", expired)
    retry = await append(client, admin, customer, body)
    assert retry.status_code == 503 and retry.headers["retry-after"] == "1", retry.text


async def test_newest_first_by_occurred_at_and_late_events_land_in_place(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    customer = await new_customer(client, admin)
    for hours in (0, 2, 4):
        await append(
            client, admin, customer, event(at=T0 + timedelta(hours=hours), summary=f"h{hours}")
        )
    await append(client, admin, customer, event(at=T0 + timedelta(hours=1), summary="late"))
    summaries = [e["summary"] for e in (await timeline(client, admin, customer))["items"]]
    assert summaries == ["h4", "h2", "late", "h0"]


async def test_paging_is_stable_while_events_arrive(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    customer = await new_customer(client, admin)
    for minute in range(30):
        await append(
            client, admin, customer, event(at=T0 + timedelta(minutes=minute), summary=f"m{minute}")
        )
    first = await timeline(client, admin, customer, limit=10)
    assert [e["summary"] for e in first["items"]] == [f"m{m}" for m in range(29, 19, -1)]
    # Between page fetches: a newer event, one older than the page boundary, one at its time.
    await append(client, admin, customer, event(at=T0 + timedelta(minutes=45), summary="newest"))
    await append(
        client, admin, customer, event(at=T0 + timedelta(minutes=5, seconds=30), summary="older")
    )
    await append(client, admin, customer, event(at=T0 + timedelta(minutes=20), summary="same-time"))
    seen = [e["summary"] for e in first["items"]]
    cursor = first["next_cursor"]
    while cursor:
        page = await timeline(client, admin, customer, limit=10, cursor=cursor)
        seen += [e["summary"] for e in page["items"]]
        cursor = page["next_cursor"]
    assert len(seen) == len(set(seen)), "no event repeated"
    assert {f"m{m}" for m in range(30)} <= set(seen), "no event skipped"
    assert "older" in seen and seen.index("older") == seen.index("m5") - 1
    assert "newest" not in seen, "newer than page one: found by reading from the top again"


async def test_filters_by_type_family_channel_and_time(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    customer = await new_customer(client, admin)
    for minute, type_ in enumerate(
        ["call.completed", "call.missed", "email.received", "order.placed", "note.added"]
    ):
        await append(client, admin, customer, event(type_, at=T0 + timedelta(minutes=minute)))
    calls = await timeline(client, admin, customer, type="call.*")
    assert [e["type"] for e in calls["items"]] == ["call.missed", "call.completed"]
    mixed = await timeline(client, admin, customer, type=["call.missed", "order.*"])
    assert [e["type"] for e in mixed["items"]] == ["order.placed", "call.missed"]
    email = await timeline(client, admin, customer, channel="email")
    assert [e["type"] for e in email["items"]] == ["email.received"]
    window = await timeline(
        client,
        admin,
        customer,
        since=(T0 + timedelta(minutes=1)).isoformat(),
        until=(T0 + timedelta(minutes=3)).isoformat(),
    )
    assert [e["type"] for e in window["items"]] == ["email.received", "call.missed"]
    for minute, type_ in enumerate(["custom.gift_card.used", "custom.giftXcard.used"]):
        await append(
            client, admin, customer, event(type_, at=T0 + timedelta(hours=1, minutes=minute))
        )
    gift_cards = await timeline(client, admin, customer, type="custom.gift_card.*")
    assert [e["type"] for e in gift_cards["items"]] == ["custom.gift_card.used"], "_ is no wildcard"
    bad = await client.get(
        f"/v1/customers/{customer}/timeline", params={"type": "calls.*"}, headers=admin
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "query.type.0"


async def test_timestamps_not_rfc3339_or_outside_utc_are_422_naming_the_field(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    # Found by schemathesis: an offset that moves an instant past year 1 or 9999 in UTC
    # overflowed in the driver, a 500; so did comparing a naive with an aware time; and a
    # number was read as seconds since 1970 where the spec documents a date-time string.
    customer = await new_customer(client, admin)
    for occurred_at in ("0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"):
        response = await append(client, admin, customer, event() | {"occurred_at": occurred_at})
        assert response.status_code == 422, response.text
        assert [e["field"] for e in response.json()["errors"]] == ["body.occurred_at"]
    for occurred_at in (0, 1772355600):  # a number is not a date-time, seconds or not
        response = await append(client, admin, customer, event() | {"occurred_at": occurred_at})
        assert response.status_code == 422, response.text
        assert [e["field"] for e in response.json()["errors"]] == ["body.occurred_at"]
    for params, field in (
        ({"since": "0001-01-01T00:00:00+14:00"}, "query.since"),
        ({"until": "2026-03-01T09:00:00"}, "query.until"),
        ({"until": "0.5"}, "query.until"),
    ):
        response = await client.get(
            f"/v1/customers/{customer}/timeline", params=params, headers=admin
        )
        assert response.status_code == 422, response.text
        assert [e["field"] for e in response.json()["errors"]] == [field]
    # The first and last instants Python has are stored by the driver as PostgreSQL's
    # infinities and read back without an offset: the event's page showed a null, its
    # customer's erasure was a 500. One microsecond inside them is an instant like any.
    for extreme in ("0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999999Z"):
        response = await append(client, admin, customer, event() | {"occurred_at": extreme})
        assert response.status_code == 422, response.text
        assert [e["field"] for e in response.json()["errors"]] == ["body.occurred_at"]
    for inside in ("0001-01-01T00:00:00.000001Z", "9999-12-31T23:59:59.999998Z"):
        response = await append(client, admin, customer, event() | {"occurred_at": inside})
        assert response.status_code == 201 and response.json()["occurred_at"] == inside
    page = await timeline(client, admin, customer, limit=1)
    assert page["items"][0]["occurred_at"] == "9999-12-31T23:59:59.999998Z"
    rest = await timeline(client, admin, customer, cursor=page["next_cursor"])
    assert rest["items"][-1]["occurred_at"] == "0001-01-01T00:00:00.000001Z"
    # As a filter's bound an infinity means what it says.
    until = await timeline(client, admin, customer, until="9999-12-31T23:59:59.999999Z")
    assert len(until["items"]) == 2


async def test_corrections_are_attached_to_the_original(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    customer = await new_customer(client, admin)
    original = (await append(client, admin, customer, event("call.completed"))).json()
    correction = event(
        "event.corrected",
        at=T0 + timedelta(hours=1),
        payload={
            "corrects_event_id": original["id"],
            "reason": "wrong agent",
            "payload": {"agent": "agent-2"},
        },
    )
    assert (await append(client, admin, customer, correction)).status_code == 201
    items = (await timeline(client, admin, customer))["items"]
    assert [e["id"] for e in items] == [original["id"]], "the correction is attached, not listed"
    assert items[0]["payload"]["agent"] == "agent-1", "the original is never rewritten"
    assert items[0]["corrections"][0]["reason"] == "wrong agent"
    assert items[0]["corrections"][0]["payload"] == {"agent": "agent-2"}

    other = await new_customer(client, admin, display_name="Bea")
    foreign = {**correction, "payload": {**correction["payload"]}}
    response = await append(client, admin, other, foreign)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "body.payload.corrects_event_id"


async def test_a_correction_corrects_fields_as_the_original_type_declares_them(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    """What a correction gives for a field is what the original's type takes there: a total
    that is not a decimal, a field the type does not have, is a 422 naming it (it was a 500
    when the indicators read the total), and nothing is stored."""
    customer = await new_customer(client, admin)
    original = (await append(client, admin, customer, event("order.placed"))).json()
    for fields, named in (
        ({"total": "1,200.00"}, "body.payload.payload.total"),
        ({"total": {"amount": "1"}}, "body.payload.payload.total"),
        ({"currency": "euros"}, "body.payload.payload.currency"),
        ({"totl": "12.00"}, "body.payload.payload.totl"),
    ):
        correction = event(
            "event.corrected",
            at=T0 + timedelta(hours=1),
            payload={"corrects_event_id": original["id"], "reason": "typo", "payload": fields},
        )
        response = await append(client, admin, customer, correction)
        assert response.status_code == 422, response.text
        assert [e["field"] for e in response.json()["errors"]] == [named]
    items = (await timeline(client, admin, customer))["items"]
    assert items[0]["corrections"] == []
    fixed = event(
        "event.corrected",
        at=T0 + timedelta(hours=1),
        payload={"corrects_event_id": original["id"], "reason": "typo", "payload": {"total": "12"}},
    )
    assert (await append(client, admin, customer, fixed)).status_code == 201


async def test_append_by_identifier_creates_unverified_customers(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    known = await new_customer(
        client, admin, identifiers=[{"kind": "email", "value": "ana@example.com"}]
    )
    to_known = await client.post(
        "/v1/events", json={"customer": {"email": "ANA@example.com"}, **event()}, headers=admin
    )
    assert to_known.status_code == 201 and to_known.json()["customer_id"] == known

    unknown = {"customer": {"phone": "699 12 34 56"}, **event("call.missed")}
    created = await client.post("/v1/events", json=unknown, headers=admin)
    assert created.status_code == 201
    stranger = created.json()["customer_id"]
    profile = (await client.get(f"/v1/customers/{stranger}", headers=admin)).json()
    assert profile["unverified"] is True and profile["display_name"] == "+34699123456"
    assert [i["value"] for i in profile["identifiers"]] == ["+34699123456"]
    again = await client.post(
        "/v1/events",
        json={**unknown, "occurred_at": (T0 + timedelta(hours=1)).isoformat()},
        headers=admin,
    )
    assert again.json()["customer_id"] == stranger, (
        "the second call finds the customer the first created"
    )

    bad = await client.post(
        "/v1/events", json={"customer": {"phone": "12"}, **event()}, headers=admin
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "body.customer.phone"
    nobody = await client.post("/v1/events", json={"customer": {}, **event()}, headers=admin)
    assert nobody.status_code == 422


async def test_only_writers_append_and_everyone_reads(
    client: httpx.AsyncClient, admin: dict[str, str], make_key: MakeKey
) -> None:
    customer = await new_customer(client, admin)
    support = await make_key(Role.SUPPORT)
    assert (await append(client, support, customer, event())).status_code == 403
    assert (
        await client.get(f"/v1/customers/{customer}/timeline", headers=support)
    ).status_code == 200
    owned = await make_key(Role.SUPPORT, agent_id="agent-x", owned_only=True)
    assert (
        await client.get(f"/v1/customers/{customer}/timeline", headers=owned)
    ).status_code == 404


async def test_event_types_serve_the_catalog_with_schemas(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    items = (await client.get("/v1/event-types", headers=admin)).json()["items"]
    by_type = {i["type"]: i for i in items}
    assert set(by_type) == {*CATALOG, "custom.*"}
    assert {"call.completed", "order.refunded", "survey.answered", "event.corrected"} <= set(
        by_type
    )
    order = by_type["order.placed"]["payload_schema"]
    assert "order_id" in order["required"] and "items" in order["properties"]
    assert by_type["call.completed"]["default_channel"] == "phone"
    assert "from" in by_type["call.completed"]["payload_schema"]["properties"]


async def test_preference_and_consent_changes_are_on_the_timeline(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    customer = await new_customer(client, admin)
    await client.put(
        f"/v1/customers/{customer}/preferences", json={"do_not_call": True}, headers=admin
    )
    for granted in (True, False):
        await client.post(
            f"/v1/customers/{customer}/consents",
            json={"channel": "email", "purpose": "marketing", "granted": granted, "source": "form"},
            headers=admin,
        )
    types = [e["type"] for e in (await timeline(client, admin, customer))["items"]]
    assert sorted(types) == ["consent.granted", "consent.withdrawn", "preference.updated"]


async def test_bulk_import_stores_good_lines_and_reports_bad_ones(
    client: httpx.AsyncClient, admin: dict[str, str], session: AsyncSession
) -> None:
    lines: list[str] = []
    bad_lines: set[int] = set()
    for n in range(1010):
        if n % 101 == 50:
            bad = [
                "{not json",
                json.dumps(
                    {
                        "customer": {"email": "x@example.com"},
                        "type": "note.added",
                        "payload": {"text": "t"},
                    }
                ),
                json.dumps({"customer": {"email": "x@example.com"}, **event("call.teleported")}),
                json.dumps({"customer": {"phone": "12"}, **event()}),
                json.dumps(
                    {
                        "customer": {"email": "x@example.com"},
                        **event("order.placed", payload={"order_id": "1", "items": [{"qty": -1}]}),
                    }
                ),
            ][len(bad_lines) % 5]
            lines.append(bad)
            bad_lines.add(len(lines))
            continue
        line = {
            "customer": {"email": f"bulk{n % 40}@example.com"},
            **event("order.placed" if n % 3 else "call.completed", at=T0 + timedelta(minutes=n)),
            "source": "legacy-crm",
            "source_event_id": f"ev-{n}",
        }
        lines.append(json.dumps(line))
    body = ("\n".join(lines) + "\n").encode()
    response = await client.post(
        "/v1/events/bulk", content=body, headers={**admin, "content-type": "application/x-ndjson"}
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/x-ndjson")
    results = [json.loads(r) for r in response.text.splitlines()]
    assert [r["line"] for r in results] == list(range(1, 1011))
    errors = {r["line"] for r in results if r["status"] == "error"}
    assert errors == bad_lines and len(errors) == 10
    assert all(
        r["errors"][0]["field"].startswith(f"line.{r['line']}")
        for r in results
        if r["status"] == "error"
    )
    assert sum(r["status"] == "created" for r in results) == 1000
    stored = await session.scalar(text("SELECT count(*) FROM events WHERE source = 'legacy-crm'"))
    assert stored == 1000
    customers = await session.scalar(
        text("SELECT count(DISTINCT customer_id) FROM events WHERE source = 'legacy-crm'")
    )
    assert customers == 40, "one unverified customer per unknown email, however many lines name it"

    replay = await client.post(
        "/v1/events/bulk", content=body, headers={**admin, "content-type": "application/x-ndjson"}
    )
    statuses = [json.loads(r)["status"] for r in replay.text.splitlines()]
    assert statuses.count("duplicate") == 1000 and statuses.count("created") == 0
    assert (
        await session.scalar(text("SELECT count(*) FROM events WHERE source = 'legacy-crm'"))
        == 1000
    )


async def import_orders(
    client: httpx.AsyncClient, admin: dict[str, str], emails: list[str], total: str = "10.00"
) -> None:
    """One bulk import of an order a day for each e-mail given (one line each)."""
    lines = [
        json.dumps(
            {
                "customer": {"email": email},
                **event(
                    "order.placed",
                    at=T0 + timedelta(days=n),
                    payload={"order_id": f"SO-{n}", "total": total, "currency": "EUR"},
                ),
                "source": "legacy-crm",
                "source_event_id": f"order-{n}-of-{email}",
            }
        )
        for n, email in enumerate(emails)
    ]
    response = await client.post(
        "/v1/events/bulk",
        content=("\n".join(lines) + "\n").encode(),
        headers={**admin, "content-type": "application/x-ndjson"},
    )
    assert response.status_code == 200, response.text


async def test_a_batch_saves_every_customers_stats_however_many_statements_it_takes(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    session: AsyncSession,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Stats are saved a part at a time to spare the worker's memory: no customer's is
    left out, whichever part it falls in."""
    monkeypatch.setattr(stats_queries, "SAVE_ROWS", 2)
    await import_orders(client, admin, [f"saved-in-parts-{n}@example.com" for n in range(5)])
    orders = await session.scalars(
        text(
            "SELECT order_count FROM customer_stats WHERE customer_id IN "
            "(SELECT customer_id FROM customer_identifiers "
            "WHERE kind = 'email' AND value LIKE 'saved-in-parts-%')"
        )
    )
    assert list(orders) == [1] * 5


async def test_a_lifetime_value_past_sixteen_digits_is_kept_exactly(
    client: httpx.AsyncClient, admin: dict[str, str], session: AsyncSession
) -> None:
    """An order holds 14 digits before the point; the 101st of the largest passed the
    stats column's numeric(18,2), and every save of the customer's stats was a 500."""
    top = "99999999999999.9999"
    await import_orders(client, admin, ["largest-buyer@example.com"] * 101, total=top)
    value = await session.scalar(
        text(
            "SELECT lifetime_value_base FROM customer_stats WHERE customer_id IN "
            "(SELECT customer_id FROM customer_identifiers "
            "WHERE kind = 'email' AND value = 'largest-buyer@example.com')"
        )
    )
    assert value == (101 * Decimal(top)).quantize(Decimal("0.01"))


async def test_a_batch_writes_its_stats_rows_uncompressed(
    client: httpx.AsyncClient, admin: dict[str, str], session: AsyncSession
) -> None:
    """Every batch writes a new version of each of its customers' stats rows: one of a
    few kilobytes is kept as written, so no save compresses it again (pglz took a fifth of
    PostgreSQL's CPU in a batch, docs/performance.md)."""
    await import_orders(client, admin, ["stored-as-written@example.com"] * 12)
    row = (
        await session.execute(
            text(
                "SELECT octet_length(s.state::text) + octet_length(s.indicators::text) AS size, "
                "pg_column_compression(s.state) AS state, "
                "pg_column_compression(s.indicators) AS indicators FROM customer_stats s "
                "WHERE s.customer_id IN (SELECT customer_id FROM customer_identifiers "
                "WHERE kind = 'email' AND value = 'stored-as-written@example.com')"
            )
        )
    ).one()
    assert row.size > 2_100, "a row PostgreSQL would compress by default (past 2 KB)"
    assert (row.state, row.indicators) == (None, None)


async def test_bulk_refuses_other_media_types_and_too_many_lines(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    json_body = await client.post("/v1/events/bulk", json=[event()], headers=admin)
    assert json_body.status_code == 415
    too_many = b"{}\n" * 10_001
    response = await client.post(
        "/v1/events/bulk",
        content=too_many,
        headers={**admin, "content-type": "application/x-ndjson"},
    )
    assert response.status_code == 413


async def test_a_nul_in_one_bulk_line_is_that_line_s_error_and_the_others_are_stored(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    """PostgreSQL text holds no NUL: one line carrying one (in its payload, its summary, the
    customer's name) made the whole import a 422 naming no line."""
    customer = {"email": "nul-bulk@example.com"}
    lines = [
        {"customer": customer, **event(payload={"text": "a\x00b"})},
        {"customer": customer, **event(), "source": "crm", "source_event_id": "nul-ok-1"},
        {"customer": customer, **event(), "summary": "x\x00"},
        {"customer": {**customer, "display_name": "Ana\x00"}, **event()},
    ]
    body = "".join(json.dumps(line) + "\n" for line in lines).encode()
    response = await client.post(
        "/v1/events/bulk", content=body, headers={**admin, "content-type": "application/x-ndjson"}
    )
    assert response.status_code == 200, response.text
    results = [json.loads(r) for r in response.text.splitlines()]
    assert [r["status"] for r in results] == ["error", "created", "error", "error"]
    assert [r["errors"][0]["field"] for r in results if r["status"] == "error"] == [
        "line.1.payload.text",
        "line.3.summary",
        "line.4.customer.display_name",
    ]


async def test_a_nul_in_an_event_is_a_422_naming_its_field(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    customer = await new_customer(client, admin)
    by_id = await client.post(
        f"/v1/customers/{customer}/events",
        json=event(payload={"text": "a\x00b"}),
        headers=admin,
    )
    assert by_id.status_code == 422, by_id.text
    assert by_id.json()["errors"][0]["field"] == "body.payload.text"
    identified = await client.post(
        "/v1/events",
        json={"customer": {"email": "nul-one@example.com"}, **event(actor="ag\x00ent")},
        headers=admin,
    )
    assert identified.status_code == 422, identified.text
    assert identified.json()["errors"][0]["field"] == "body.actor"


@pytest.mark.parametrize(
    "position",
    [
        {"t": "0001-01-01T00:00:00+01:00", "id": "00000000-0000-0000-0000-000000000000"},
        {"t": "9999-12-31T23:59:59-01:00", "id": "00000000-0000-0000-0000-000000000000"},
    ],
)
async def test_a_forged_timeline_cursor_outside_postgresql_s_range_is_a_400(
    client: httpx.AsyncClient, admin: dict[str, str], position: dict[str, str]
) -> None:
    customer = await new_customer(client, admin)
    cursor = base64.urlsafe_b64encode(json.dumps(position).encode()).decode().rstrip("=")
    response = await client.get(
        f"/v1/customers/{customer}/timeline", params={"cursor": cursor}, headers=admin
    )
    assert response.status_code == 400, response.text
    assert response.json()["type"].endswith("invalid-cursor")


@pytest.mark.parametrize("rank", ["9" * 310, "NaN", "Infinity"])
async def test_a_forged_search_cursor_with_an_unrepresentable_rank_is_a_400(
    client: httpx.AsyncClient, admin: dict[str, str], rank: str
) -> None:
    raw = f'{{"rank": {rank}, "id": "00000000-0000-0000-0000-000000000000"}}'.encode()
    cursor = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    response = await client.get(
        "/v1/customers", params={"q": "ana", "cursor": cursor}, headers=admin
    )
    assert response.status_code == 400, response.text


@pytest.mark.parametrize("depth", [65, 300, 900])
async def test_a_json_body_nested_too_deep_is_a_422_on_every_route(
    client: httpx.AsyncClient, admin: dict[str, str], depth: int
) -> None:
    deep = '{"a": ' * depth + "1" + "}" * depth
    event = (
        '{"customer": {"email": "deep@example.com"}, "type": "custom.deep",'
        f' "occurred_at": "2026-04-14T10:05:14Z", "payload": {deep}}}'
    )
    customer = f'{{"display_name": "Deep", "attributes": {deep}}}'
    for path, body in [("/v1/events", event), ("/v1/customers", customer)]:
        response = await client.post(
            path, content=body, headers={**admin, "content-type": "application/json"}
        )
        assert response.status_code == 422, (path, response.text)
        assert response.json()["errors"][0]["field"] == "body"
        assert "nests deeper than 64 levels" in response.json()["detail"]
