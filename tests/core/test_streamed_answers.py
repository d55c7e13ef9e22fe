"""A streamed answer (a customer's export, a segment as CSV) takes its database
connection before its status line: a process whose connections are all in use answers
503, never a 200 with nothing, or a list cut short, after it."""

from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import text

from app.core.db import Database

TIMEOUT = 0.3


@pytest.fixture
async def database(service_url: str) -> AsyncIterator[Database]:
    """A pool of two connections, given up on after a short wait."""
    db = Database(service_url, pool_size=2, pool_timeout=TIMEOUT)
    yield db
    await db.dispose()


@pytest.mark.parametrize("answer", ["export", "segment as CSV"])
async def test_a_stream_that_finds_every_connection_in_use_is_a_503(
    live: tuple[httpx.AsyncClient, dict[str, str]], database: Database, answer: str
) -> None:
    client, admin = live
    created = await client.post(
        "/v1/customers",
        json={"display_name": "Ana", "identifiers": [{"kind": "email", "value": "a@x.org"}]},
        headers=admin,
    )
    assert created.status_code == 201, created.text
    customer = created.json()["id"]

    async def ask() -> httpx.Response:
        if answer == "export":
            return await client.get(f"/v1/customers/{customer}/export", headers=admin)
        csv = {**admin, "Accept": "text/csv"}
        return await client.post("/v1/segments/query", json={"channel": "email"}, headers=csv)

    whole = await ask()  # with a connection to spare, the whole answer
    assert whole.status_code == 200, whole.text
    assert (
        ("a@x.org" in whole.text) if answer == "export" else whole.text.startswith("customer_id,")
    )
    async with database.engine.connect() as held:
        await held.execute(text("SELECT 1"))  # one of the two: the route's own takes the other
        busy = await ask()
    assert busy.status_code == 503, busy.text
    assert busy.headers["retry-after"] == "1"
