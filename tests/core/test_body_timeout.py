"""A request body that stops arriving is a 408 after CH_BODY_IDLE_TIMEOUT_SECONDS: a route
that checked the caller's key holds a database connection while its body arrives, and a
few stalled uploads would otherwise hold every connection of the process."""

import asyncio
import json
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from app.core.config import Settings
from tests.support.bodies import ROUTES, body_request, cut_short
from tests.support.fixtures import AppLog

IDLE = 0.3


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"body_idle_timeout_seconds": IDLE})


@pytest.mark.parametrize("route", ROUTES)
async def test_a_body_that_stops_arriving_is_a_408_once_idle(
    app: FastAPI, app_log: AppLog, client: httpx.AsyncClient, admin: dict[str, str], route: str
) -> None:
    request = await body_request(route, client, admin)
    started = time.monotonic()
    async with asyncio.timeout(IDLE + 5):  # not for ever: a regression fails here
        sent = await cut_short(app, request, client_leaves=False)
    waited = time.monotonic() - started
    assert sent[0]["status"] == 408
    assert dict(sent[0]["headers"])[b"content-type"] == b"application/problem+json"
    assert waited >= IDLE
    assert [line for line in app_log.lines() if line["level"] == "error"] == []


async def test_a_body_that_keeps_arriving_is_read_whatever_it_takes(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    """The limit is on silence, not on the whole body: a slow upload that keeps sending
    is imported."""

    async def slowly() -> AsyncIterator[bytes]:
        for line in range(3):
            await asyncio.sleep(IDLE * 0.6)
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
