"""The indicators read the settings the app was built with, as every route does: a
service built with another base currency and rates values its customers in them."""

import httpx
import pytest

from app.core.config import Settings
from tests.support.clock import ControlledClock


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"base_currency": "USD", "currency_rates": "EUR=1.10"})


async def test_the_value_is_in_the_apps_base_currency_at_its_rates(
    client: httpx.AsyncClient, admin: dict[str, str], clock: ControlledClock
) -> None:
    created = await client.post("/v1/customers", json={"display_name": "Ana"}, headers=admin)
    customer = created.json()["id"]
    order = {
        "type": "order.placed",
        "occurred_at": clock.ago(days=1).isoformat(),
        "payload": {"order_id": "SO-1", "total": "950.00", "currency": "EUR"},
    }
    appended = await client.post(f"/v1/customers/{customer}/events", json=order, headers=admin)
    assert appended.status_code == 201, appended.text
    in_usd = {"amount": "1045.00", "currency": "USD"}

    indicators = await client.get(f"/v1/customers/{customer}/indicators", headers=admin)
    assert indicators.json()["value"]["lifetime_value_base"] == in_usd
    ficha = await client.get(
        f"/v1/customers/{customer}/ficha", params={"role": "sales"}, headers=admin
    )
    # A champion from 1,000 of the base currency: 950 EUR are 1,045 USD (in EUR, a new one).
    assert ficha.json()["sections"]["indicators"]["value"]["level"] == "high"
