"""Every time the service reports as its own "now" comes from its clock, not the machine's."""

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.support.clock import ControlledClock

# Years away from the machine's clock, so that a reading of it cannot pass for this.
THEN = datetime(2031, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)


def instant(value: str) -> datetime:
    return datetime.fromisoformat(value)


async def call(client: httpx.AsyncClient, method: str, url: str, **options: Any) -> Any:
    response = await client.request(method, url, **options)
    assert response.is_success, response.text
    return response.json()


async def test_what_the_service_dates_itself_is_the_clocks_now(
    client: httpx.AsyncClient, admin: dict[str, str], clock: ControlledClock
) -> None:
    clock.set(THEN)
    customer = (
        await call(
            client,
            "POST",
            "/v1/customers",
            json={"display_name": "Clocked", "tier": "vip"},
            headers=admin,
        )
    )["id"]
    consent = {"channel": "email", "purpose": "marketing", "granted": True, "source": "form"}
    await call(client, "POST", f"/v1/customers/{customer}/consents", json=consent, headers=admin)
    [system_event] = (
        await call(client, "GET", f"/v1/customers/{customer}/timeline", headers=admin)
    )["items"]
    assert instant(system_event["occurred_at"]) == THEN, "consent.granted happened now"

    shipped = {"order_id": "C-1", "carrier": "CLOCKWORK", "total": "10.00", "currency": "EUR"}
    order = {"type": "order.shipped", "occurred_at": (THEN - timedelta(hours=1)).isoformat()}
    await call(
        client,
        "POST",
        f"/v1/customers/{customer}/events",
        json={**order, "payload": shipped},
        headers=admin,
    )
    matcher = {
        "carrier": "clockwork",
        "shipped_from": (THEN - timedelta(days=1)).isoformat(),
        "shipped_to": THEN.isoformat(),
    }
    clock.advance(timedelta(minutes=1))
    incident = await call(
        client, "POST", "/v1/incidents", json={"title": "t", "matcher": matcher}, headers=admin
    )
    assert instant(incident["declared_at"]) == clock.now()
    [alert] = (
        await call(client, "GET", "/v1/alerts", params={"customer_id": customer}, headers=admin)
    )["items"]
    assert instant(alert["raised_at"]) == clock.now()

    clock.advance(timedelta(minutes=1))
    acked = await call(client, "POST", f"/v1/alerts/{alert['id']}/ack", headers=admin)
    assert instant(acked["acknowledged_at"]) == clock.now()

    clock.advance(timedelta(minutes=1))
    closed = await call(client, "POST", f"/v1/incidents/{incident['id']}/close", headers=admin)
    assert instant(closed["closed_at"]) == clock.now()
    [cleared] = (
        await call(client, "GET", "/v1/alerts", params={"customer_id": customer}, headers=admin)
    )["items"]
    assert instant(cleared["cleared_at"]) == clock.now()

    clock.advance(timedelta(minutes=1))
    indicators = await call(client, "GET", f"/v1/customers/{customer}/indicators", headers=admin)
    assert instant(indicators["as_of"]) == clock.now()
    exported = await call(client, "GET", f"/v1/customers/{customer}/export", headers=admin)
    assert instant(exported["exported_at"]) == clock.now()
