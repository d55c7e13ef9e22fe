"""The live alert stream over real HTTP: a raised alert reaches its owner's key within a
second, never another owner's owned-only key; a stream resumes with Last-Event-ID."""

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

import httpx
import pytest

from app.auth.service import revoke_key
from app.core.config import Settings
from app.core.db import Database
from app.core.security import Role
from tests.support.clock import ControlledClock
from tests.support.server import served_in_process
from tests.support.world import committed_key

Live = tuple[httpx.AsyncClient, dict[str, str]]


@pytest.fixture
async def base(
    live: Live, settings: Settings, database: Database, clock: ControlledClock
) -> AsyncIterator[str]:
    async with served_in_process(settings, database, clock) as url:
        yield url


async def next_change(lines: Any) -> dict[str, str]:
    """The next SSE message (comments and pings skipped)."""
    current: dict[str, str] = {}
    async for line in lines:
        if not line:
            if "data" in current:
                return current
            current = {}
            continue
        name, _, value = line.partition(":")
        if name:
            current[name] = value.strip()
    raise AssertionError("the stream ended")


async def abandon_four_calls(
    client: httpx.AsyncClient, admin: dict[str, str], owner: str, clock: ControlledClock
) -> str:
    """A premium customer of ``owner`` abandons four calls this morning: an alert."""
    created = await client.post(
        "/v1/customers",
        json={"display_name": f"Premium of {owner}", "tier": "premium", "owner_id": owner},
        headers=admin,
    )
    customer = str(created.json()["id"])
    for minutes in (30, 20, 10, 0):
        body = {"type": "call.abandoned", "occurred_at": clock.ago(minutes=minutes).isoformat()}
        appended = await client.post(f"/v1/customers/{customer}/events", json=body, headers=admin)
        assert appended.status_code == 201
    return customer


async def test_a_raised_alert_reaches_its_owner_within_a_second_and_no_other_owner(
    base: str, live: Live, database: Database, clock: ControlledClock
) -> None:
    client, admin = live
    mine = await committed_key(database, Role.SUPPORT, agent_id="agent-7", owned_only=True)
    theirs = await committed_key(database, Role.SUPPORT, agent_id="agent-8", owned_only=True)
    async with httpx.AsyncClient(base_url=base, timeout=10) as http:
        async with (
            http.stream("GET", "/v1/alerts/stream", headers=mine) as own,
            http.stream("GET", "/v1/alerts/stream", headers=theirs) as other,
        ):
            assert own.status_code == other.status_code == 200
            assert own.headers["content-type"].startswith("text/event-stream")
            await asyncio.sleep(0.3)  # the LISTEN connection opens with the first stream
            own_lines, other_lines = own.aiter_lines(), other.aiter_lines()
            other_next = asyncio.ensure_future(next_change(other_lines))

            customer = await abandon_four_calls(client, admin, "agent-7", clock)
            committed = time.perf_counter()
            change = await asyncio.wait_for(next_change(own_lines), timeout=5)
            assert time.perf_counter() - committed < 1.0
            assert change["event"] == "alert.raised"
            alert = json.loads(change["data"])["alert"]
            assert (alert["customer_id"], alert["owner_id"]) == (customer, "agent-7")

            # The other owner's stream hears nothing of it, only later its own alert.
            await abandon_four_calls(client, admin, "agent-8", clock)
            theirs_first = await asyncio.wait_for(other_next, timeout=5)
            assert json.loads(theirs_first["data"])["alert"]["owner_id"] == "agent-8"

            ack = await client.post(f"/v1/alerts/{alert['id']}/ack", headers=admin)
            assert ack.status_code == 200
            acknowledged = await asyncio.wait_for(next_change(own_lines), timeout=5)
            assert acknowledged["event"] == "alert.acknowledged"

        # Resumed after the raise: the acknowledgement again, never the other owner's alert.
        async with http.stream(
            "GET", "/v1/alerts/stream", headers={**mine, "Last-Event-ID": change["id"]}
        ) as resumed:
            again = await asyncio.wait_for(next_change(resumed.aiter_lines()), timeout=5)
        assert (again["event"], again["id"]) == ("alert.acknowledged", acknowledged["id"])


async def test_a_stream_filtered_by_owner_sends_only_theirs(
    base: str, live: Live, database: Database, clock: ControlledClock
) -> None:
    client, admin = live
    async with httpx.AsyncClient(base_url=base, timeout=10) as http:
        async with http.stream(
            "GET", "/v1/alerts/stream", params={"owner_id": ["agent-2", "agent-3"]}, headers=admin
        ) as team:
            await asyncio.sleep(0.3)
            await abandon_four_calls(client, admin, "agent-1", clock)
            await abandon_four_calls(client, admin, "agent-3", clock)
            change = await asyncio.wait_for(next_change(team.aiter_lines()), timeout=5)
        assert json.loads(change["data"])["alert"]["owner_id"] == "agent-3"


async def ends(response: httpx.Response) -> None:
    """Read the stream until the server closes it."""
    async for _ in response.aiter_lines():
        pass


async def test_a_stream_ends_within_a_second_of_its_key_being_revoked_however_quiet(
    base: str, database: Database
) -> None:
    """No alert changes anywhere meanwhile: the revocation itself ends the stream (it
    stayed open, pinged, until the next change of any alert)."""
    key = await committed_key(database, Role.SUPPORT, agent_id="agent-7", owned_only=True)
    async with httpx.AsyncClient(base_url=base, timeout=10) as http:
        key_id = UUID((await http.get("/v1/me", headers=key)).json()["key_id"])
        async with http.stream("GET", "/v1/alerts/stream", headers=key) as response:
            assert response.status_code == 200
            await asyncio.sleep(0.3)  # the LISTEN connections open with the first stream
            async with database.sessionmaker() as session, session.begin():
                assert await revoke_key(session, key_id)
            await asyncio.wait_for(ends(response), 1.0)


async def test_a_stream_ends_when_the_session_token_it_was_opened_with_expires(
    base: str, database: Database, settings: Settings
) -> None:
    settings.session_token_seconds = 1  # the app reads the same settings object per request
    admin = await committed_key(database, Role.ADMIN)
    async with httpx.AsyncClient(base_url=base, timeout=10) as http:
        minted = await http.post("/v1/session-tokens", headers=admin)
        assert minted.status_code == 201, minted.text
        token = minted.json()["token"]
        async with http.stream(
            "GET", "/v1/alerts/stream", params={"access_token": token}
        ) as response:
            assert response.status_code == 200
            await asyncio.wait_for(ends(response), 2.0)


async def test_a_key_holds_a_bounded_number_of_open_alert_streams(
    base: str, database: Database, settings: Settings
) -> None:
    """As on the timeline: past CH_MAX_STREAMS_PER_KEY a stream is 429 (every alert change
    was read once per open stream, however many one key opened)."""
    settings.max_streams_per_key = 2
    key = await committed_key(database, Role.SUPPORT, agent_id="agent-7", owned_only=True)
    async with (
        httpx.AsyncClient(base_url=base, timeout=10) as http,
        http.stream("GET", "/v1/alerts/stream", headers=key) as first,
        http.stream("GET", "/v1/alerts/stream", headers=key) as second,
    ):
        assert first.status_code == second.status_code == 200
        await asyncio.sleep(0.2)
        refused = await http.get("/v1/alerts/stream", headers=key)
        assert refused.status_code == 429, refused.text
        assert refused.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize("resume", ["9223372036854808576", "-1", "latest"])
async def test_a_last_event_id_no_change_can_have_is_refused_naming_it(
    client: httpx.AsyncClient, admin: dict[str, str], resume: str
) -> None:
    """A seq past a bigint, below zero or no number is a 422 naming the header, before the
    stream opens (not a stream broken mid-answer)."""
    answer = await client.get("/v1/alerts/stream", headers={**admin, "Last-Event-ID": resume})
    assert answer.status_code == 422
    assert answer.headers["content-type"] == "application/problem+json"
    assert "Last-Event-ID" in json.dumps(answer.json())
