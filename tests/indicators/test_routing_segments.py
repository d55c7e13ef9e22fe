"""Routing callers, incidents end to end, consent-aware segments, sales series and reports."""

import csv
import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from tests.support.api import append, new_customer
from tests.support.clock import ControlledClock
from tests.support.reports import revenue


def ago(clock: ControlledClock, days: float) -> str:
    """The clock's now less ``days``, as a request's timestamp."""
    return clock.ago(days=days).isoformat()


async def route(client: httpx.AsyncClient, headers: dict[str, str], phone: str) -> dict[str, Any]:
    response = await client.get(f"/v1/routing/by-phone/{phone}", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


async def test_routing_by_phone(
    client: httpx.AsyncClient, admin: dict[str, str], clock: ControlledClock
) -> None:
    vip = await new_customer(
        client,
        admin,
        display_name="Lucía",
        tier="vip",
        preferred_language="es",
        identifiers=[{"kind": "phone", "value": "+34 612 345 678"}],
    )
    await append(
        client,
        admin,
        vip,
        {
            "type": "payment.disputed",
            "occurred_at": ago(clock, 1),
            "payload": {"payment_id": "p1", "amount": "9.00", "currency": "EUR"},
        },
    )
    for spelling in ("+34612345678", "612%20345%20678", "0034612345678", "%2B34-612-345-678"):
        answer = await route(client, admin, spelling)
        assert answer["customer_id"] == vip and answer["known"] is True
        assert (answer["priority"], answer["queue"]) == (90, "vip")
        assert answer["language"] == "es" and "flag open_dispute" in answer["reasons"]
    unknown = await route(client, admin, "699 00 00 01")
    assert unknown == {
        "known": False,
        "phone": "+34699000001",
        "customer_id": None,
        "display_name": None,
        "language": None,
        "tier": None,
        "priority": 10,
        "queue": "default",
        "reasons": ["unknown caller"],
        "affected_orders": [],
    }
    bad = await client.get("/v1/routing/by-phone/12", headers=admin)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "path.phone"

    policy = (await client.get("/v1/routing/policy", headers=admin)).json()
    policy["language_queues"] = {"pt": "support-pt"}
    policy["tiers"]["standard"] = {"queue": "general", "priority": 30}
    assert (await client.put("/v1/routing/policy", json=policy, headers=admin)).status_code == 200
    await new_customer(
        client,
        admin,
        display_name="João",
        preferred_language="pt-BR",
        identifiers=[{"kind": "phone", "value": "+55 11 91234-5678"}],
    )
    joao = await route(client, admin, "%2B5511912345678")
    assert (joao["queue"], joao["priority"]) == ("support-pt", 30)
    broken = await client.put(
        "/v1/routing/policy", json={**policy, "tiers": {"vip": {"queue": 3}}}, headers=admin
    )
    assert broken.status_code == 422


async def test_a_flag_sends_the_caller_to_its_queue(
    client: httpx.AsyncClient, admin: dict[str, str], clock: ControlledClock
) -> None:
    """Issue 21: flag_queues was a 422, so an at-risk caller could not reach the VIP service."""
    policy = (await client.get("/v1/routing/policy", headers=admin)).json()
    policy["flag_queues"] = {
        "at_risk": {"queue": "vip", "priority": 80},
        "open_dispute": {"queue": "collections", "priority": 40},
    }
    put = await client.put("/v1/routing/policy", json=policy, headers=admin)
    assert put.status_code == 200, put.text
    assert put.json()["flag_queues"]["at_risk"] == {"queue": "vip", "priority": 80}
    customer = await new_customer(
        client, admin, identifiers=[{"kind": "phone", "value": "+34 611 000 111"}]
    )
    assert (await route(client, admin, "611000111"))["queue"] == "default"
    for n in range(3):
        survey = {
            "type": "survey.answered",
            "occurred_at": ago(clock, 3 - n),
            "payload": {"csat": 1},
        }
        await append(client, admin, customer, survey)
    dispute = {"payment_id": "p1", "amount": "9.00", "currency": "EUR"}
    await append(
        client,
        admin,
        customer,
        {"type": "payment.disputed", "occurred_at": ago(clock, 1), "payload": dispute},
    )
    answer = await route(client, admin, "611000111")
    assert (answer["queue"], answer["priority"]) == ("vip", 80)  # the higher of the two wins
    assert "flag at_risk to queue vip" in answer["reasons"]
    for wrong in (
        {"queue": "", "priority": 5},
        {"queue": "vip", "priority": 101},
        {"queue": "vip"},
    ):
        bad = await client.put(
            "/v1/routing/policy", json={**policy, "flag_queues": {"at_risk": wrong}}, headers=admin
        )
        assert bad.status_code == 422
        assert bad.json()["errors"][0]["field"].startswith("body.flag_queues.at_risk")


async def test_incident_declared_routed_and_closed(
    client: httpx.AsyncClient, admin: dict[str, str], clock: ControlledClock
) -> None:
    late = await new_customer(
        client,
        admin,
        display_name="Late parcel",
        identifiers=[{"kind": "phone", "value": "611111111"}],
    )
    delivered = await new_customer(
        client, admin, display_name="Got it", identifiers=[{"kind": "phone", "value": "622222222"}]
    )
    other_carrier = await new_customer(
        client, admin, display_name="Other", identifiers=[{"kind": "phone", "value": "633333333"}]
    )
    for customer, carrier in ((late, "SEUR"), (delivered, "SEUR"), (other_carrier, "MRW")):
        order = {
            "order_id": f"o-{customer[-4:]}",
            "total": "20.00",
            "currency": "EUR",
            "carrier": carrier,
        }
        await append(
            client,
            admin,
            customer,
            {"type": "order.shipped", "occurred_at": ago(clock, 2), "payload": order},
        )
    await append(
        client,
        admin,
        delivered,
        {
            "type": "order.delivered",
            "occurred_at": ago(clock, 1),
            "payload": {"order_id": f"o-{delivered[-4:]}"},
        },
    )
    declared = await client.post(
        "/v1/incidents",
        json={
            "title": "SEUR strike",
            "matcher": {
                "carrier": "seur",
                "shipped_from": ago(clock, 3),
                "shipped_to": ago(clock, 0),
            },
        },
        headers=admin,
    )
    assert declared.status_code == 201, declared.text
    incident = declared.json()
    assert incident["affected"] == 1 and incident["queue"] == f"incident:{incident['id']}"
    routed = await route(client, admin, "611111111")
    assert routed["queue"] == incident["queue"] and routed["priority"] == 60
    assert (await route(client, admin, "622222222"))["queue"] == "default"
    alerts = (await client.get("/v1/alerts", params={"customer_id": late}, headers=admin)).json()[
        "items"
    ]
    assert [a["code"] for a in alerts] == [f"incident:{incident['id']}"]

    closed = await client.post(f"/v1/incidents/{incident['id']}/close", headers=admin)
    assert closed.json()["status"] == "closed"
    assert (await route(client, admin, "611111111"))["queue"] == "default"
    alerts = (await client.get("/v1/alerts", params={"customer_id": late}, headers=admin)).json()[
        "items"
    ]
    assert alerts[0]["cleared_at"] is not None
    listed = (await client.get("/v1/incidents", headers=admin)).json()["items"]
    assert [i["status"] for i in listed if i["id"] == incident["id"]] == ["closed"]
    reversed_window = await client.post(
        "/v1/incidents",
        json={
            "title": "x",
            "matcher": {"shipped_from": ago(clock, 0), "shipped_to": ago(clock, 3)},
        },
        headers=admin,
    )
    assert reversed_window.status_code == 422


async def consent(
    client: httpx.AsyncClient, admin: dict[str, str], customer: str, channel: str, granted: bool
) -> None:
    response = await client.post(
        f"/v1/customers/{customer}/consents",
        headers=admin,
        json={"channel": channel, "purpose": "marketing", "granted": granted, "source": "form"},
    )
    assert response.status_code == 201


@pytest.fixture
async def audience(
    client: httpx.AsyncClient, admin: dict[str, str], clock: ControlledClock
) -> dict[str, str]:
    people = {}
    for name, email, phone in (
        ("yes", "yes@example.com", "611000001"),
        ("withdrawn", "w@example.com", "611000002"),
        ("never", "n@example.com", "611000003"),
        ("dnc", "dnc@example.com", "611000004"),
        ("nophone", "np@example.com", None),
    ):
        identifiers = [{"kind": "email", "value": email}] + (
            [{"kind": "phone", "value": phone}] if phone else []
        )
        people[name] = await new_customer(
            client, admin, display_name=name, tier="vip", tags=["spring"], identifiers=identifiers
        )
        await append(
            client,
            admin,
            people[name],
            {
                "type": "order.placed",
                "occurred_at": ago(clock, 200),
                "payload": {
                    "order_id": name,
                    "total": "15.00",
                    "currency": "EUR",
                    "items": [{"sku": "BOOT-42", "qty": 1}],
                },
            },
        )
    for name in ("yes", "withdrawn", "dnc", "nophone"):
        for channel in ("email", "phone"):
            await consent(client, admin, people[name], channel, True)
    await consent(client, admin, people["withdrawn"], "email", False)
    await consent(client, admin, people["withdrawn"], "phone", False)
    await client.put(
        f"/v1/customers/{people['dnc']}/preferences", json={"do_not_call": True}, headers=admin
    )
    return people


async def test_segments_respect_consent_and_do_not_call(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    audience: dict[str, str],
    clock: ControlledClock,
) -> None:
    query = {
        "purpose": "marketing",
        "tags": ["spring"],
        "bought_sku": "BOOT-42",
        "last_purchase_before": ago(clock, 100),
    }
    email = (
        await client.post("/v1/segments/query", json={**query, "channel": "email"}, headers=admin)
    ).json()
    assert {m["display_name"] for m in email["items"]} == {"yes", "dnc", "nophone"}
    assert email["matched"] == 5 and email["excluded"] == {
        "no_consent": 2,
        "do_not_call": 0,
        "no_contact": 0,
    }
    assert {m["contact"] for m in email["items"]} == {
        "yes@example.com",
        "dnc@example.com",
        "np@example.com",
    }
    phone = (
        await client.post("/v1/segments/query", json={**query, "channel": "phone"}, headers=admin)
    ).json()
    assert [m["display_name"] for m in phone["items"]] == ["yes"]
    assert phone["excluded"] == {"no_consent": 2, "do_not_call": 1, "no_contact": 1}
    recent = (
        await client.post(
            "/v1/segments/query",
            json={
                **query,
                "channel": "email",
                "last_purchase_before": None,
                "last_purchase_after": ago(clock, 10),
            },
            headers=admin,
        )
    ).json()
    assert recent["matched"] == 0


async def test_withdrawn_consent_leaves_the_segment_at_once(
    client: httpx.AsyncClient, admin: dict[str, str], audience: dict[str, str]
) -> None:
    await consent(client, admin, audience["yes"], "email", False)
    email = (
        await client.post(
            "/v1/segments/query", json={"channel": "email", "tags": ["spring"]}, headers=admin
        )
    ).json()
    assert "yes" not in {m["display_name"] for m in email["items"]}


async def test_segment_pages(
    client: httpx.AsyncClient, admin: dict[str, str], audience: dict[str, str], make_key: Any
) -> None:
    first = (
        await client.post(
            "/v1/segments/query",
            json={"channel": "email", "tags": ["spring"], "limit": 2},
            headers=admin,
        )
    ).json()
    rest = (
        await client.post(
            "/v1/segments/query",
            json={
                "channel": "email",
                "tags": ["spring"],
                "limit": 2,
                "cursor": first["next_cursor"],
            },
            headers=admin,
        )
    ).json()
    assert len(first["items"]) == 2 and len(rest["items"]) == 1 and rest["next_cursor"] is None
    support = await make_key("support")
    assert (
        await client.post("/v1/segments/query", json={"channel": "email"}, headers=support)
    ).status_code == 403


async def test_pages_by_phone_skip_members_without_one_and_stay_whole(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    """Members reachable by consent but holding no phone are read and left out: a page
    still fills, and the pages together are every member with a phone, once each."""
    reachable = set()
    for n in range(9):
        phones = [{"kind": "phone", "value": f"+34 622 000 00{n}"}] if n % 3 == 0 else []
        customer = await new_customer(
            client, admin, display_name=f"m{n}", tags=["autumn"], identifiers=phones
        )
        await consent(client, admin, customer, "phone", True)
        if phones:
            reachable.add(customer)
    seen: list[str] = []
    cursor = None
    for _ in range(5):
        body = {"channel": "phone", "tags": ["autumn"], "limit": 1, "cursor": cursor}
        page = (await client.post("/v1/segments/query", json=body, headers=admin)).json()
        seen += [m["customer_id"] for m in page["items"]]
        assert len(page["items"]) == 1 and page["items"][0]["contact"].startswith("+34622")
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(reachable)
    assert page["excluded"]["no_contact"] == 6


async def test_segment_streams_as_csv(live: tuple[httpx.AsyncClient, dict[str, str]]) -> None:
    client, admin = live
    for n in range(3):
        customer = await new_customer(
            client,
            admin,
            display_name=f"csv-{n}",
            tags=["csv"],
            identifiers=[{"kind": "email", "value": f"csv{n}@example.com"}],
        )
        await consent(client, admin, customer, "email", n != 1)
    response = await client.post(
        "/v1/segments/query",
        json={"channel": "email", "tags": ["csv"]},
        headers={**admin, "Accept": "text/csv"},
    )
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert sorted(r["display_name"] for r in rows) == ["csv-0", "csv-2"]
    assert {r["contact"] for r in rows} == {"csv0@example.com", "csv2@example.com"}


async def test_sales_series_and_summary_report(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    # 2031 is this test's alone; over all time, other tests' orders count too.
    everything = {"from": "1148-01-17T05:33:28Z", "to": "3221-07-18T21:06:05Z"}
    before = (await client.get("/v1/reports/summary", params=everything, headers=admin)).json()
    customer = await new_customer(client, admin)
    base = datetime(2031, 1, 15, tzinfo=UTC)
    for n, (total, sku) in enumerate([("100.00", "A"), ("50.00", "B"), ("25.00", "A")]):
        await append(
            client,
            admin,
            customer,
            {
                "type": "order.placed",
                "occurred_at": (base + timedelta(days=40 * n)).isoformat(),
                "payload": {
                    "order_id": f"s{n}",
                    "total": total,
                    "currency": "EUR",
                    "items": [{"sku": sku, "qty": 2}],
                },
            },
        )
    await append(
        client,
        admin,
        customer,
        {
            "type": "order.refunded",
            "occurred_at": (base + timedelta(days=41)).isoformat(),
            "payload": {"order_id": "s1", "refund_amount": "10.00", "currency": "EUR"},
        },
    )
    await append(
        client,
        admin,
        customer,
        {
            "type": "ticket.opened",
            "occurred_at": (base + timedelta(days=2)).isoformat(),
            "payload": {"ticket_id": "t", "category": "delivery"},
        },
    )
    monthly = (await client.get(f"/v1/customers/{customer}/sales-series", headers=admin)).json()[
        "items"
    ]
    assert monthly == [
        {"period": "2031-01", "orders": 1, "total": {"amount": "100.00", "currency": "EUR"}},
        {"period": "2031-02", "orders": 1, "total": {"amount": "40.00", "currency": "EUR"}},
        {"period": "2031-04", "orders": 1, "total": {"amount": "25.00", "currency": "EUR"}},
    ]
    quarterly = (
        await client.get(
            f"/v1/customers/{customer}/sales-series", params={"interval": "quarter"}, headers=admin
        )
    ).json()
    assert [(p["period"], p["total"]["amount"]) for p in quarterly["items"]] == [
        ("2031-Q1", "140.00"),
        ("2031-Q2", "25.00"),
    ]
    report = (
        await client.get(
            "/v1/reports/summary",
            params={"from": "2031-01-01T00:00:00Z", "to": "2031-12-31T00:00:00Z"},
            headers=admin,
        )
    ).json()
    assert report["revenue"] == [{"amount": "165.00", "currency": "EUR"}] and report["orders"] == 3
    assert (
        report["average_order_value"] == [{"amount": "58.33", "currency": "EUR"}]
        and report["repeat_purchase_rate"] == 1.0
    )
    assert report["top_products"] == [{"sku": "A", "units": 4}, {"sku": "B", "units": 2}]
    assert report["top_ticket_categories"] == [{"category": "delivery", "tickets": 1}]
    bad = await client.get(
        "/v1/reports/summary",
        params={"from": "2031-12-31T00:00:00Z", "to": "2031-01-01T00:00:00Z"},
        headers=admin,
    )
    assert bad.status_code == 422
    # Found by schemathesis: the period before a long one reached back past year 1 (500).
    after = await client.get("/v1/reports/summary", params=everything, headers=admin)
    assert after.status_code == 200, after.text
    eur = [revenue(r, "EUR") for r in (before, after.json())]
    assert eur[1] - eur[0] == Decimal("165.00")
    naive = await client.get(
        "/v1/reports/summary",
        params={"from": "2031-01-01T00:00:00", "to": "2031-12-31T00:00:00Z"},
        headers=admin,
    )
    assert naive.status_code == 422 and naive.json()["errors"][0]["field"] == "query.from"


@pytest.mark.parametrize(
    "period_from",
    [
        "0001-01-01T16:24:03.001988-01:53",  # the period before starts at the first instant
        # Found by schemathesis: an offset of a bygone era, the period before (as long, or
        # back to year 1) computed in it.
        "0723-03-25T16:24:03.001988-01:53",
        "0235-09-01T19:52:04-17:36",
    ],
)
async def test_summary_report_of_a_period_near_year_one_in_a_historical_offset(
    client: httpx.AsyncClient, admin: dict[str, str], period_from: str
) -> None:
    response = await client.get(
        "/v1/reports/summary",
        params={"from": period_from, "to": "2026-11-30T01:30:52Z"},
        headers=admin,
    )
    assert response.status_code == 200, response.text
    assert response.json()["period_from"] == (
        datetime.fromisoformat(period_from).astimezone(UTC).isoformat().replace("+00:00", "Z")
    )
