"""A streamed answer (a customer's export, a segment as CSV) takes its database
connection before its status line, once its route has given the request's back: many at
once each hold one connection at a time, and one that finds none answers 503, never a
200 with nothing, or a list cut short, after it."""

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.exc import TimeoutError as PoolTimeout

from app.core.db import Database
from app.core.errors import install_error_handlers
from app.core.streaming import BegunStreamingResponse


@pytest.fixture
async def database(service_url: str) -> AsyncIterator[Database]:
    """A pool of two connections, given up on after a short wait."""
    db = Database(service_url, pool_size=2, pool_timeout=2)
    yield db
    await db.dispose()


async def test_many_exports_and_lists_at_once_each_hold_one_connection_at_a_time(
    live: tuple[httpx.AsyncClient, dict[str, str]],
) -> None:
    """With the stream's connection taken while the route still held the request's, a
    pool's worth of exports at once each waited for a second one: all 503."""
    client, admin = live
    body = {"display_name": "Ana", "identifiers": [{"kind": "email", "value": "a@x.org"}]}
    created = await client.post("/v1/customers", json=body, headers=admin)
    assert created.status_code == 201, created.text
    export = f"/v1/customers/{created.json()['id']}/export"
    csv = {**admin, "Accept": "text/csv"}
    answers = await asyncio.gather(
        *(client.get(export, headers=admin) for _ in range(4)),
        *(
            client.post("/v1/segments/query", json={"channel": "email"}, headers=csv)
            for _ in range(4)
        ),
    )
    assert [a.status_code for a in answers] == [200] * 8, [a.text for a in answers]
    assert all("a@x.org" in a.text for a in answers[:4])
    assert all(a.text.startswith("customer_id,") for a in answers[4:])


async def test_a_stream_whose_first_piece_finds_no_connection_is_a_503() -> None:
    app = FastAPI()
    install_error_handlers(app)

    async def pieces() -> AsyncIterator[bytes]:
        raise PoolTimeout("QueuePool limit of size 2 overflow 0 reached")
        yield b"never"

    @app.get("/stream")
    async def stream() -> BegunStreamingResponse:
        return BegunStreamingResponse(pieces(), media_type="text/csv")

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        answer = await client.get("/stream")
    assert answer.status_code == 503
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.headers["retry-after"] == "1"
