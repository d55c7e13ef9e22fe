"""The live stream, over real HTTP: events appended by another connection arrive at once."""

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from uuid import UUID

import httpx
import pytest
import uvicorn

from app.core.config import Settings
from app.core.db import Database
from app.main import create_app
from app.timeline import service
from app.timeline.schemas import EventIn
from app.timeline.stream import TimelineFeed


@pytest.fixture
async def served(
    live: tuple[httpx.AsyncClient, dict[str, str]], settings: Settings, database: Database
) -> AsyncIterator[tuple[str, dict[str, str]]]:
    """The app behind a real uvicorn server in this event loop (committing sessions)."""
    _, admin = live
    app = create_app(settings)
    app.state.db = database
    app.state.feed = TimelineFeed(str(settings.database_url))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_config=None)
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    yield f"http://127.0.0.1:{port}", admin
    server.should_exit = True
    await asyncio.wait_for(task, 10)
    await app.state.feed.close()


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


async def append_elsewhere(database: Database, customer_id: str, summary: str) -> str:
    """Append as another replica would: a separate connection and transaction."""
    data = EventIn(
        type="note.added", occurred_at=datetime.now(UTC), summary=summary, payload={"text": summary}
    )
    async with database.sessionmaker() as session, session.begin():
        event, _ = await service.append(
            session, UUID(customer_id), service.prepare_event(data, None), None, None
        )
    return str(event.id)


async def test_stream_pushes_events_appended_by_another_connection(
    served: tuple[str, dict[str, str]], database: Database
) -> None:
    base, admin = served
    async with httpx.AsyncClient(base_url=base, headers=admin, timeout=10) as client:
        customer = (await client.post("/v1/customers", json={"display_name": "Live"})).json()["id"]
        async with client.stream("GET", f"/v1/customers/{customer}/timeline/stream") as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            await asyncio.sleep(0.3)  # the LISTEN connection opens with the first subscriber
            first = await append_elsewhere(database, customer, "from another process")
            received = await asyncio.wait_for(read_events(response, 1), timeout=5)
        assert received[0]["id"] == first
        assert json.loads(received[0]["data"])["summary"] == "from another process"

        second = await append_elsewhere(database, customer, "while disconnected")
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
