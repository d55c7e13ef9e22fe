"""What a delivery costs PostgreSQL: the statements it sends in its transaction (BEGIN and
COMMIT aside). On a machine whose cores the database shares, each round trip can cost
the worker its core (docs/performance.md), so their number is a promise of the write
path."""

import json

import httpx
from asyncpg.connection import LoggedQuery
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import Session

from app.core.db import begun_driver
from tests.support.webhooks import generic_note, signed_generic

URL = "/v1/webhooks/generic"


async def _statements(
    client: httpx.AsyncClient, connection: AsyncConnection, email: str, n: int
) -> list[str]:
    driver = await begun_driver(connection)
    sent: list[str] = []

    def logger(record: LoggedQuery) -> None:
        sent.append(record.query)

    driver.add_query_logger(logger)
    try:
        note = generic_note(email, source_event_id=f"note-{n}")
        note["payload"] = {"text": "Asked about delivery times"}
        body = json.dumps(note).encode()
        response = await client.post(URL, content=body, headers=signed_generic(body, f"msg_{n}"))
    finally:
        driver.remove_query_logger(logger)
    assert response.json()["status"] == "accepted", response.text
    return sent


async def test_a_known_customer_s_delivery_is_three_statements(
    client: httpx.AsyncClient, connection: AsyncConnection
) -> None:
    """Recorded with its identifiers' holders found; its events stored with their keys
    and the stats rows locked; the stats saved with its outcome."""
    await _statements(client, connection, "ana@example.com", 1)  # the customer, made
    sent = await _statements(client, connection, "ana@example.com", 2)
    assert len(sent) == 3, sent
    assert "INSERT INTO webhook_deliveries" in sent[0] and "customer_identifiers" in sent[0]
    assert "INSERT INTO events" in sent[1] and "INSERT INTO customer_stats" in sent[1]
    assert "UPDATE customer_stats" in sent[2] and "UPDATE webhook_deliveries" in sent[2]


async def test_a_new_customer_s_delivery_adds_one_statement(
    client: httpx.AsyncClient, connection: AsyncConnection
) -> None:
    await _statements(client, connection, "ana@example.com", 1)  # every statement prepared
    sent = await _statements(client, connection, "bea@example.com", 2)
    assert len(sent) == 4 and "INSERT INTO customers" in sent[1], sent


async def test_a_delivery_runs_on_the_driver_without_an_orm_session(
    client: httpx.AsyncClient, connection: AsyncConnection
) -> None:
    """The ORM session's own work (its objects, greenlet switches, state changes) was a
    tenth of a delivery's CPU: only the steps that need the ORM open one."""
    began: list[Session] = []

    def seen(session: Session, *_: object) -> None:
        began.append(session)

    await _statements(client, connection, "ana@example.com", 1)
    event.listen(Session, "after_begin", seen)
    try:
        await _statements(client, connection, "ana@example.com", 2)
    finally:
        event.remove(Session, "after_begin", seen)
    assert began == []
