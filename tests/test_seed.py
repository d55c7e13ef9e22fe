"""The benchmark seeder writes data the service itself would accept and can serve."""

import httpx
from sqlalchemy import text

from app.core.config import Settings
from app.core.db import Database
from app.seed import seed
from app.timeline.schemas import EventIn
from app.timeline.service import prepare_event


async def test_seeded_customers_are_real_customers_with_real_histories(
    live: tuple[httpx.AsyncClient, dict[str, str]], settings: Settings, database: Database
) -> None:
    client, admin = live
    assert settings.database_url
    report = await seed(settings.database_url, 40, 6, batch=15)
    assert (report.customers, report.organizations, report.events) == (40, 4, 240)
    async with database.engine.connect() as conn:
        events = (
            await conn.execute(
                text("SELECT type, occurred_at, channel, source, payload FROM events")
            )
        ).all()
        contacts = await conn.scalar(
            text("SELECT count(*) FROM customers WHERE organization_id IS NOT NULL")
        )
        orders = await conn.scalar(
            text(
                # An organisation's stats count its contact persons' orders too: each
                # order once, in the customers that belong to no organisation.
                "SELECT sum(order_count) FROM customer_stats WHERE customer_id IN "
                "(SELECT id FROM customers WHERE organization_id IS NULL)"
            )
        )
        phone = await conn.scalar(
            text("SELECT value FROM customer_identifiers WHERE kind = 'phone' LIMIT 1")
        )
    assert len(events) == 240 and contacts == 8
    for type_, occurred_at, channel, source, payload in events:
        prepared = prepare_event(  # the catalog accepts every seeded event as it is
            EventIn(type=type_, occurred_at=occurred_at, source=source, payload=payload), None
        )
        assert prepared.channel == channel
    assert orders == sum(1 for e in events if e[0] == "order.placed")
    pop = await client.get(f"/v1/fichas/by-phone/{phone}", params={"role": "sales"}, headers=admin)
    assert pop.status_code == 200, pop.text
    assert pop.json()["sections"]["purchases"]["items"] is not None
