"""The live stream, over real HTTP: events appended by another connection arrive at once."""

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any
from uuid import UUID

import httpx
import pytest

from app.auth.service import revoke_key
from app.core.config import Settings
from app.core.db import Database
from app.core.security import Role
from app.tasks.service import follow_up_alerts
from app.timeline import service
from app.timeline.schemas import EventIn
from tests.support.api import new_customer
from tests.support.clock import ControlledClock
from tests.support.server import served_in_process
from tests.support.world import committed_key


@pytest.fixture
async def served(
    live: tuple[httpx.AsyncClient, dict[str, str]],
    settings: Settings,
    database: Database,
    clock: ControlledClock,
) -> AsyncIterator[tuple[str, dict[str, str]]]:
    """The app behind a real uvicorn server in this event loop (committing sessions)."""
    _, admin = live
    async with served_in_process(settings, database, clock) as base:
        yield base, admin


async def read_events(response: httpx.Response, count: int) -> list[dict[str, str]]:
    events: list[dict[str, str]] = []
    current: dict[str, str] = {}
    async for line in response.aiter_lines():
        if not line:
            if "data" in current:
                events.append(current)
                if len(events) == count:
                    return events
            current = {}
            continue
        field, _, value = line.partition(":")
        current[field] = value.strip()
    return events


async def append_elsewhere(
    database: Database, clock: ControlledClock, customer_id: str, summary: str
) -> str:
    """Append as another replica would: a separate connection and transaction."""
    data = EventIn(
        type="note.added", occurred_at=clock.now(), summary=summary, payload={"text": summary}
    )
    async with database.sessionmaker() as session, session.begin():
        new = service.prepare_event(data, None)
        event, _ = await service.append(
            session, UUID(customer_id), new, None, None, Settings(), clock, None
        )
    return str(event.id)


async def test_stream_pushes_events_appended_by_another_connection(
    served: tuple[str, dict[str, str]], database: Database, clock: ControlledClock
) -> None:
    base, admin = served
    async with httpx.AsyncClient(base_url=base, headers=admin, timeout=10) as client:
        customer = (await client.post("/v1/customers", json={"display_name": "Live"})).json()["id"]
        async with client.stream("GET", f"/v1/customers/{customer}/timeline/stream") as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            await asyncio.sleep(0.3)  # the LISTEN connection opens with the first subscriber
            first = await append_elsewhere(database, clock, customer, "from another process")
            received = await asyncio.wait_for(read_events(response, 1), timeout=5)
        assert received[0]["id"] == first
        assert json.loads(received[0]["data"])["summary"] == "from another process"

        second = await append_elsewhere(database, clock, customer, "while disconnected")
        async with client.stream(
            "GET", f"/v1/customers/{customer}/timeline/stream", headers={"Last-Event-ID": first}
        ) as resumed:
            replayed = await asyncio.wait_for(read_events(resumed, 1), timeout=5)
        assert replayed[0]["id"] == second, "resuming replays what was missed"


async def test_stream_needs_a_readable_customer(served: tuple[str, dict[str, str]]) -> None:
    base, admin = served
    async with httpx.AsyncClient(base_url=base, timeout=5) as client:
        missing = await client.get(
            "/v1/customers/01a20ae6-6c63-76ee-b495-bd9894832cd9/timeline/stream", headers=admin
        )
        assert missing.status_code == 404
        anonymous = await client.get(
            "/v1/customers/01a20ae6-6c63-76ee-b495-bd9894832cd9/timeline/stream"
        )
        assert anonymous.status_code == 401


async def ends(response: httpx.Response) -> None:
    """Read the stream until the server closes it."""
    async for _ in response.aiter_lines():
        pass


async def open_stream(
    client: httpx.AsyncClient, customer: str, headers: dict[str, str]
) -> tuple[contextlib.AbstractAsyncContextManager[httpx.Response], httpx.Response]:
    stream = client.stream("GET", f"/v1/customers/{customer}/timeline/stream", headers=headers)
    response = await stream.__aenter__()
    assert response.status_code == 200, await response.aread()
    await asyncio.sleep(0.3)  # the LISTEN connections open with the first subscriber
    return stream, response


async def patch(
    client: httpx.AsyncClient, admin: dict[str, str], customer: str, **body: Any
) -> None:
    path = f"/v1/customers/{customer}"
    etag = (await client.get(path, headers=admin)).headers["ETag"]
    response = await client.patch(path, json=body, headers={**admin, "If-Match": etag})
    assert response.status_code == 200, response.text


# The promise: a stream stops within a second of losing its right to be open. A second
# here is measured from the commit that took it away, in another connection (a process).
WITHIN = 1.0


async def test_a_stream_closes_when_its_key_is_revoked(
    served: tuple[str, dict[str, str]], database: Database, clock: ControlledClock
) -> None:
    base, admin = served
    owned = await committed_key(database, Role.SUPPORT, agent_id="agent-a", owned_only=True)
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        customer = await new_customer(client, admin, owner_id="agent-a")
        stream, response = await open_stream(client, customer, owned)
        watching, admins = await open_stream(client, customer, admin)
        try:
            key_id = UUID((await client.get("/v1/me", headers=owned)).json()["key_id"])
            async with database.sessionmaker() as session, session.begin():
                assert await revoke_key(session, key_id)
            await asyncio.wait_for(ends(response), WITHIN)
            # the admin's stream on the same customer goes on
            sent = await append_elsewhere(database, clock, customer, "still here")
            [seen] = await asyncio.wait_for(read_events(admins, 1), 5)
            assert seen["id"] == sent
        finally:
            await stream.__aexit__(None, None, None)
            await watching.__aexit__(None, None, None)


@pytest.mark.parametrize("change", ["owner", "merge", "erasure"])
async def test_a_stream_closes_when_its_customer_leaves_the_keys_sight(
    served: tuple[str, dict[str, str]], database: Database, change: str
) -> None:
    base, admin = served
    owned = await committed_key(database, Role.SUPPORT, agent_id="agent-a", owned_only=True)
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        customer = await new_customer(client, admin, owner_id="agent-a")
        theirs = await new_customer(client, admin, owner_id="agent-b")
        stream, response = await open_stream(client, customer, owned)
        try:
            if change == "owner":
                await patch(client, admin, customer, owner_id="agent-b")
            elif change == "merge":
                merged = await client.post(
                    f"/v1/customers/{theirs}/merge",
                    json={"source_customer_id": customer},
                    headers=admin,
                )
                assert merged.status_code == 200, merged.text
            else:
                erased = await client.post(
                    f"/v1/customers/{customer}/erasure",
                    json={"reason": "asked", "requested_at": "2026-11-01T00:00:00Z"},
                    headers=admin,
                )
                assert erased.status_code == 200, erased.text
            await asyncio.wait_for(ends(response), WITHIN)
        finally:
            await stream.__aexit__(None, None, None)


async def test_a_stream_stays_open_through_changes_that_keep_it_visible(
    served: tuple[str, dict[str, str]], database: Database, clock: ControlledClock
) -> None:
    base, admin = served
    owned = await committed_key(database, Role.SUPPORT, agent_id="agent-a", owned_only=True)
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        customer = await new_customer(client, admin, owner_id="agent-a")
        stream, response = await open_stream(client, customer, owned)
        try:
            await patch(client, admin, customer, tier="vip")
            sent = await append_elsewhere(database, clock, customer, "after the change")
            [seen] = await asyncio.wait_for(read_events(response, 1), 5)
            assert seen["id"] == sent
        finally:
            await stream.__aexit__(None, None, None)


async def test_every_stream_opened_is_in_the_access_log(
    served: tuple[str, dict[str, str]], database: Database
) -> None:
    base, admin = served
    owned = await committed_key(database, Role.SUPPORT, agent_id="agent-a", owned_only=True)
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        customer = await new_customer(client, admin, owner_id="agent-a")
        stream, _ = await open_stream(client, customer, owned)
        await stream.__aexit__(None, None, None)
        log = (await client.get(f"/v1/customers/{customer}/access-log", headers=admin)).json()
        key_id = (await client.get("/v1/me", headers=owned)).json()["key_id"]
        assert [(e["what"], e["key_id"], e["agent_id"]) for e in log["items"]] == [
            ("timeline-stream", key_id, "agent-a")
        ]


async def test_a_key_holds_a_bounded_number_of_open_streams(
    served: tuple[str, dict[str, str]], database: Database, settings: Settings
) -> None:
    """One key's streams are bounded: thousands of them (4,000 from one owned-only support
    key) made every append fan out to as many reads, and a screen-pop wait 3 s behind them.
    Past the bound a stream is 429 with Retry-After; other keys are not affected, and a
    closed stream frees its place."""
    base, admin = served
    settings.max_streams_per_key = 2  # the app reads the same settings object per request
    owned = await committed_key(database, Role.SUPPORT, agent_id="agent-a", owned_only=True)
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        customer = await new_customer(client, admin, owner_id="agent-a")
        first = await open_stream(client, customer, owned)
        second = await open_stream(client, customer, owned)
        try:
            refused = await client.get(f"/v1/customers/{customer}/timeline/stream", headers=owned)
            assert refused.status_code == 429, refused.text
            assert refused.headers["content-type"] == "application/problem+json"
            assert int(refused.headers["Retry-After"]) > 0
            another, _ = await open_stream(client, customer, admin)  # its own bound
            await another.__aexit__(None, None, None)
        finally:
            await second[0].__aexit__(None, None, None)
        await asyncio.sleep(0.2)  # the server notices the client went away
        third, _ = await open_stream(client, customer, owned)
        await third.__aexit__(None, None, None)
        await first[0].__aexit__(None, None, None)


async def test_last_event_id_of_another_customers_event_resumes_nothing(
    served: tuple[str, dict[str, str]], database: Database, clock: ControlledClock
) -> None:
    """A resume point is looked for on the stream's own timeline only: an event id of
    another owner's customer replays nothing, exactly as an id never recorded does, so the
    answer cannot tell an owned-only key that the event exists (or when it was recorded)."""
    base, admin = served
    owned = await committed_key(database, Role.SUPPORT, agent_id="agent-a", owned_only=True)
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        mine = await new_customer(client, admin, owner_id="agent-a")
        theirs = await new_customer(client, admin, owner_id="agent-b")
        hidden = await append_elsewhere(database, clock, theirs, "another owner's")
        await append_elsewhere(database, clock, mine, "mine, recorded after it")

        async def replayed(last_event_id: str) -> list[dict[str, str]]:
            headers = {**owned, "Last-Event-ID": last_event_id}
            path = f"/v1/customers/{mine}/timeline/stream"
            async with client.stream("GET", path, headers=headers) as response:
                assert response.status_code == 200
                with contextlib.suppress(TimeoutError):
                    return await asyncio.wait_for(read_events(response, 1), 1.0)
            return []

        never_recorded = "01a20ae6-6c63-76ee-b495-bd9894832cd9"
        assert await replayed(never_recorded) == []
        assert await replayed(hidden) == []


async def session_token(client: httpx.AsyncClient, key: dict[str, str]) -> str:
    minted = await client.post("/v1/session-tokens", headers=key)
    assert minted.status_code == 201, minted.text
    return str(minted.json()["token"])


async def open_with_token(
    client: httpx.AsyncClient, customer: str, token: str
) -> tuple[contextlib.AbstractAsyncContextManager[httpx.Response], httpx.Response]:
    """A stream opened as a browser's EventSource opens it: the token in the query."""
    stream = client.stream(
        "GET", f"/v1/customers/{customer}/timeline/stream", params={"access_token": token}
    )
    response = await stream.__aenter__()
    assert response.status_code == 200, await response.aread()
    await asyncio.sleep(0.3)  # the LISTEN connections open with the first subscriber
    return stream, response


async def test_a_session_token_in_the_query_opens_a_stream(
    served: tuple[str, dict[str, str]], database: Database, clock: ControlledClock
) -> None:
    base, admin = served
    owned = await committed_key(database, Role.SUPPORT, agent_id="agent-a", owned_only=True)
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        mine = await new_customer(client, admin, owner_id="agent-a")
        theirs = await new_customer(client, admin, owner_id="agent-b")
        token = await session_token(client, owned)
        hidden = await client.get(
            f"/v1/customers/{theirs}/timeline/stream", params={"access_token": token}
        )
        assert hidden.status_code == 404, "the token sees what its key sees"
        stream, response = await open_with_token(client, mine, token)
        try:
            sent = await append_elsewhere(database, clock, mine, "to the browser")
            [seen] = await asyncio.wait_for(read_events(response, 1), 5)
            assert seen["id"] == sent
        finally:
            await stream.__aexit__(None, None, None)


async def test_a_stream_opened_with_a_token_closes_when_its_key_is_revoked(
    served: tuple[str, dict[str, str]], database: Database
) -> None:
    base, admin = served
    key = await committed_key(database, Role.SUPPORT)
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        customer = await new_customer(client, admin)
        token = await session_token(client, key)
        stream, response = await open_with_token(client, customer, token)
        try:
            key_id = UUID((await client.get("/v1/me", headers=key)).json()["key_id"])
            async with database.sessionmaker() as session, session.begin():
                assert await revoke_key(session, key_id)
            await asyncio.wait_for(ends(response), WITHIN)
        finally:
            await stream.__aexit__(None, None, None)
        again = await client.get(
            f"/v1/customers/{customer}/timeline/stream", params={"access_token": token}
        )
        assert again.status_code == 401


async def test_a_stream_closes_when_its_token_expires(
    served: tuple[str, dict[str, str]], settings: Settings
) -> None:
    """A token opens nothing past its life: a stream it opened ends when it expires (the
    page mints another and opens the stream again)."""
    base, admin = served
    settings.session_token_seconds = 1  # below the setting's bound, to wait one second
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        customer = await new_customer(client, admin)
        token = await session_token(client, admin)
        stream, response = await open_with_token(client, customer, token)
        try:
            await asyncio.wait_for(ends(response), 1 + WITHIN)
        finally:
            await stream.__aexit__(None, None, None)


async def test_an_expired_token_sends_no_more_events(
    served: tuple[str, dict[str, str]], database: Database, clock: ControlledClock
) -> None:
    """However the stream learns that time has passed, it checks the token's life before
    sending anything more."""
    base, admin = served
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        customer = await new_customer(client, admin)
        token = await session_token(client, admin)
        stream, response = await open_with_token(client, customer, token)
        try:
            clock.advance(timedelta(seconds=900))
            await append_elsewhere(database, clock, customer, "after the token's life")
            assert await asyncio.wait_for(read_events(response, 1), WITHIN) == []
        finally:
            await stream.__aexit__(None, None, None)


async def test_an_organisations_stream_carries_its_contact_persons_events(
    served: tuple[str, dict[str, str]], database: Database, clock: ControlledClock
) -> None:
    """As its timeline does (the same `contacts` filter, on by default)."""
    base, admin = served
    async with httpx.AsyncClient(base_url=base, headers=admin, timeout=10) as client:
        org = await new_customer(client, admin, kind="organization", display_name="Acme")
        contact = await new_customer(client, admin, display_name="Marta", organization_id=org)
        async with client.stream("GET", f"/v1/customers/{org}/timeline/stream") as response:
            assert response.status_code == 200
            await asyncio.sleep(0.3)
            by_contact = await append_elsewhere(database, clock, contact, "the contact's")
            received = await asyncio.wait_for(read_events(response, 1), timeout=5)
        assert received[0]["id"] == by_contact
        assert json.loads(received[0]["data"])["customer_id"] == contact
        alone = f"/v1/customers/{org}/timeline/stream?contacts=false"
        async with client.stream("GET", alone) as response:
            assert response.status_code == 200
            await asyncio.sleep(0.3)
            await append_elsewhere(database, clock, contact, "not the organisation's")
            own = await append_elsewhere(database, clock, org, "the organisation's")
            received = await asyncio.wait_for(read_events(response, 1), timeout=5)
        assert received[0]["id"] == own


@pytest.mark.parametrize("move", ["out", "in", "new"])
async def test_an_organisations_stream_follows_a_contact_joining_or_leaving(
    served: tuple[str, dict[str, str]], move: str
) -> None:
    """A contact person moved to another organisation (or into this one, or created in
    it) changes what the organisation's stream carries: the stream closes, and the client
    reconnects to the history as it is now (no longer the mover's events, or now those of
    the one who joined)."""
    base, admin = served
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        org = await new_customer(client, admin, kind="organization", display_name="Acme")
        other = await new_customer(client, admin, kind="organization", display_name="Globex")
        contact = await new_customer(
            client, admin, display_name="Marta", organization_id=org if move == "out" else other
        )
        stream, response = await open_stream(client, org, admin)
        try:
            if move == "new":
                await new_customer(client, admin, display_name="Iker", organization_id=org)
            else:
                await patch(client, admin, contact, organization_id=other if move == "out" else org)
            await asyncio.wait_for(ends(response), WITHIN)
        finally:
            await stream.__aexit__(None, None, None)


@pytest.mark.parametrize("move", ["merged away", "merged in", "unmerged"])
async def test_an_organisations_stream_follows_a_merge_that_moves_a_contacts_history(
    served: tuple[str, dict[str, str]], move: str
) -> None:
    """A contact person merged into a customer outside the organisation takes its history
    away; a customer merged into a contact brings its own in; undoing the first brings it
    back: each time the stream closes, and the client reconnects to the history as it is
    now."""
    base, admin = served
    async with httpx.AsyncClient(base_url=base, headers=admin, timeout=10) as client:
        org = await new_customer(client, admin, kind="organization", display_name="Acme")
        contact = await new_customer(client, admin, display_name="Marta", organization_id=org)
        outsider = await new_customer(client, admin, display_name="Marta G.")
        survivor, absorbed = (contact, outsider) if move == "merged in" else (outsider, contact)
        body = {"source_customer_id": absorbed}
        if move == "unmerged":
            merged = await client.post(f"/v1/customers/{survivor}/merge", json=body)
            assert merged.status_code == 200, merged.text
        stream, response = await open_stream(client, org, admin)
        try:
            action = "unmerge" if move == "unmerged" else "merge"
            done = await client.post(f"/v1/customers/{survivor}/{action}", json=body)
            assert done.status_code == 200, done.text
            await asyncio.wait_for(ends(response), WITHIN)
        finally:
            await stream.__aexit__(None, None, None)


async def test_an_organisations_stream_follows_a_contact_coming_into_its_keys_sight(
    served: tuple[str, dict[str, str]], database: Database
) -> None:
    """An owned-only key's stream on its organisation carries the contact persons it sees:
    one handed to its agent changes that, and the stream closes for the client to
    reconnect to what it now carries."""
    base, admin = served
    owned = await committed_key(database, Role.SUPPORT, agent_id="agent-a", owned_only=True)
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        org = await new_customer(
            client, admin, kind="organization", display_name="Acme", owner_id="agent-a"
        )
        contact = await new_customer(
            client, admin, display_name="Marta", organization_id=org, owner_id="agent-b"
        )
        stream, response = await open_stream(client, org, owned)
        try:
            await patch(client, admin, contact, owner_id="agent-a")
            await asyncio.wait_for(ends(response), WITHIN)
        finally:
            await stream.__aexit__(None, None, None)


async def test_the_follow_ups_of_an_organisations_alerts_stay_off_a_partial_keys_stream(
    served: tuple[str, dict[str, str]], database: Database, clock: ControlledClock
) -> None:
    """The alert a hidden contact person's dispute raises on the organisation is kept from
    a key that does not see that contact person: so is its follow-up's event (it copies
    the alert's title), live and replayed."""
    base, admin = served
    owned = await committed_key(database, Role.SUPPORT, agent_id="agent-a", owned_only=True)
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        action = {"kind": "create_follow_up", "due_minutes": 60}
        put = await client.put("/v1/rules/open_dispute", json={"actions": [action]}, headers=admin)
        assert put.status_code == 200, put.text
        org = await new_customer(
            client, admin, kind="organization", display_name="Acme", owner_id="agent-a"
        )
        contact = await new_customer(
            client, admin, display_name="Marta", organization_id=org, owner_id="agent-b"
        )
        first = await append_elsewhere(database, clock, org, "before")
        stream, response = await open_stream(client, org, owned)
        try:
            dispute = EventIn(
                type="payment.disputed",
                occurred_at=clock.now(),
                payload={"payment_id": "pi_hidden", "amount": "9.00", "currency": "EUR"},
            )
            async with database.sessionmaker() as session, session.begin():
                new = service.prepare_event(dispute, None)
                await service.append(
                    session, UUID(contact), new, None, None, Settings(), clock, None
                )
            async with database.sessionmaker() as session, session.begin():
                assert await follow_up_alerts(session, Settings(), clock) >= 1
            after = await append_elsewhere(database, clock, org, "after")
            received = await asyncio.wait_for(read_events(response, 1), timeout=5)
        finally:
            await stream.__aexit__(None, None, None)
        assert received[0]["id"] == after, received
        resumed = client.stream(
            "GET",
            f"/v1/customers/{org}/timeline/stream",
            headers={**owned, "Last-Event-ID": first},
        )
        async with resumed as replay:
            replayed = await asyncio.wait_for(read_events(replay, 1), timeout=5)
        assert replayed[0]["id"] == after, replayed
        whole = await client.get(f"/v1/customers/{org}/timeline?types=task.*", headers=admin)
        assert "pi_hidden" in whole.text, "the follow-up is on the organisation's timeline"
