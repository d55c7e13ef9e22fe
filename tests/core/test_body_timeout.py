"""A request body must keep arriving: a pause of CH_BODY_IDLE_TIMEOUT_SECONDS, or a body
slower on average than CH_BODY_MIN_BYTES_PER_SECOND past that allowance, is a 408. A route that checked the caller's key holds a database connection
while its body arrives, and a few stalled or trickling uploads would otherwise hold every
connection of the process."""

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from starlette.types import Receive, Scope, Send

from app.core.config import Settings
from app.core.middleware import RequestContextMiddleware
from tests.support.bodies import ROUTES, body_request, cut_short
from tests.support.fixtures import AppLog

IDLE = 1.0
RATE = 100  # bytes a second


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"body_idle_timeout_seconds": IDLE, "body_min_bytes_per_second": RATE}
    )


@pytest.mark.parametrize("trickle", [None, IDLE / 2], ids=["stalled", "trickling"])
@pytest.mark.parametrize("route", ROUTES)
async def test_a_body_that_stops_arriving_or_trickles_is_a_408(
    app: FastAPI,
    app_log: AppLog,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    route: str,
    trickle: float | None,
) -> None:
    """On the routes that read their body themselves and on one whose body FastAPI reads
    (which would make a 400 of any failure to read it)."""
    request = await body_request(route, client, admin)
    started = time.monotonic()
    async with asyncio.timeout(IDLE + 5):  # not for ever: a regression fails here
        sent = await cut_short(app, request, client_leaves=False, trickle=trickle)
    assert time.monotonic() - started >= IDLE
    assert sent[0]["status"] == 408
    headers = dict(sent[0]["headers"])
    assert headers[b"content-type"] == b"application/problem+json"
    body = json.loads(b"".join(m.get("body", b"") for m in sent[1:]))
    assert body["type"] == "urn:customer-history:problem:body-timeout"
    assert [line for line in app_log.lines() if line["level"] == "error"] == []


async def test_a_body_that_keeps_arriving_is_read_whatever_it_takes(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    """The limit is on pauses and on the average rate, not on the whole body's time: a
    slow upload that keeps sending is imported."""

    async def slowly() -> AsyncIterator[bytes]:
        for line in range(3):
            await asyncio.sleep(IDLE * 0.3)
            yield b'{"type": "note.added", "customer": {"email": "slow%d@example.com"}, ' % line
            yield b'"occurred_at": "2026-03-01T09:00:00Z", "payload": {"text": "hi"}}\n'

    response = await client.post(
        "/v1/events/bulk",
        content=slowly(),
        headers={**admin, "content-type": "application/x-ndjson"},
    )
    assert response.status_code == 200, response.text
    statuses = [json.loads(line)["status"] for line in response.text.splitlines()]
    assert statuses == ["created"] * 3, response.text


async def test_a_stream_whose_client_stops_sending_ends_as_if_it_left() -> None:
    """A stream that waits for its client to leave, on a request that declared a body and
    never sent it: once answered, the silence is the client gone, not an error."""
    heard: list[str] = []

    async def stream(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"data: 1\n\n", "more_body": True})
        heard.append((await receive())["type"])
        # As sse-starlette does on a disconnect: it returns without ending its answer.

    app = RequestContextMiddleware(
        stream, max_body_bytes=1000, body_idle_timeout=IDLE, body_min_rate=RATE
    )
    scope: dict[str, Any] = {
        "type": "http",
        "method": "GET",
        "path": "/stream",
        "headers": [(b"content-length", b"10")],
    }

    async def receive() -> dict[str, Any]:
        await asyncio.Event().wait()  # the body never comes
        raise AssertionError("unreachable")

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async with asyncio.timeout(IDLE + 5):
        await app(scope, receive, send)
    assert heard == ["http.disconnect"]
    assert sent[0]["status"] == 200
    # The connection is still open: the answer is ended (uvicorn logged an error for an
    # answer left unfinished, and the client saw it cut off).
    assert sent[-1]["type"] == "http.response.body" and not sent[-1].get("more_body", False)


async def test_the_body_s_time_counts_from_when_the_route_asks_for_it() -> None:
    """A route may wait for a database connection before it reads its body: a body that
    then arrives promptly, in parts, is read whole however long the wait was."""
    parts = [b"x" * 100] * 5

    async def route(scope: Scope, receive: Receive, send: Send) -> None:
        await asyncio.sleep(IDLE * 1.5)  # as for a pool's connection
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": str(len(body)).encode()})

    app = RequestContextMiddleware(
        route, max_body_bytes=1000, body_idle_timeout=IDLE, body_min_rate=RATE
    )
    scope: dict[str, Any] = {"type": "http", "method": "POST", "path": "/", "headers": []}

    async def receive() -> dict[str, Any]:
        await asyncio.sleep(0.01)  # each part a moment after the route asks for it
        part = parts.pop(0)
        return {"type": "http.request", "body": part, "more_body": bool(parts)}

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    assert sent[0]["status"] == 200
    assert sent[1]["body"] == b"500"
