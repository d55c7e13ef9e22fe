"""Keys stored before event keys had namespaces still catch retries after the upgrade."""

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import pytest
from alembic import command
from standardwebhooks.webhooks import Webhook

from app.auth.service import create_key
from app.core.config import Settings
from app.core.db import Database, plain_url
from app.core.migrations import alembic_config
from app.core.security import Role
from app.fichas.cache import TemplateCache
from app.main import create_app
from app.text.service import RulesCache
from app.timeline.schemas import EventIn
from app.timeline.service import prepare_event
from app.timeline.stream import TimelineFeed
from tests.support.webhooks import WEBHOOK_SECRETS

BEFORE = "0011"  # the last revision whose scopes were the events' bare source names
ORDER = {
    "type": "order.placed",
    "occurred_at": "2026-03-01T09:00:00Z",
    "source": "erp",
    "source_event_id": "SO-1",
    "payload": {"order_id": "SO-1", "total": "10.00", "currency": "EUR"},
}
NOTE = {"type": "note.added", "occurred_at": "2026-03-01T10:00:00Z", "payload": {"text": "t"}}
CRM_NOTE = {**NOTE, "source": "crm", "source_event_id": "C-1"}


def fingerprint(body: dict[str, Any], customer: uuid.UUID | None) -> str:
    """The request hash the code before namespaces stored (it has not changed)."""
    return prepare_event(EventIn.model_validate(body), None).fingerprint(customer)


class Legacy:
    """Rows as the code before namespaces wrote them."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def customer(self, owner: str | None) -> uuid.UUID:
        customer = uuid.uuid4()
        await self.conn.execute(
            "INSERT INTO customers (id, kind, display_name, owner_id) VALUES ($1, 'person', 'X', $2)",
            customer,
            owner,
        )
        return customer

    async def event(
        self,
        customer: uuid.UUID,
        body: dict[str, Any],
        scope: str,
        key: str,
        request_hash: str,
        delivery: uuid.UUID | None = None,
    ) -> uuid.UUID:
        event = uuid.uuid4()
        await self.conn.execute(
            "INSERT INTO events (id, customer_id, type, occurred_at, channel, source, "
            "source_event_id, summary, payload, delivery_id) "
            "VALUES ($1, $2, $3, $4, 'system', $5, $6, 's', $7::jsonb, $8)",
            event,
            customer,
            body["type"],
            datetime.fromisoformat(body["occurred_at"]),
            body.get("source", "api"),
            body.get("source_event_id"),
            json.dumps(body["payload"]),
            delivery,
        )
        await self.conn.execute(
            "INSERT INTO event_keys (scope, key, event_id, request_hash) VALUES ($1, $2, $3, $4)",
            scope,
            key,
            event,
            request_hash,
        )
        return event


@pytest.fixture
async def legacy_url(scratch_url: str) -> AsyncIterator[str]:
    await asyncio.to_thread(command.upgrade, alembic_config(scratch_url), BEFORE)
    yield scratch_url


async def test_a_retry_after_the_upgrade_is_still_a_duplicate(legacy_url: str) -> None:
    database = Database(legacy_url, pool_size=2, max_overflow=2)
    async with database.sessionmaker() as s, s.begin():
        _, owned_secret = await create_key(
            s, role=Role.INTEGRATION, name="a", agent_id="agent-a", owned_only=True
        )
        plain_key, plain_secret = await create_key(s, role=Role.INTEGRATION, name="i")
    owned = {"Authorization": f"Bearer {owned_secret}"}
    plain = {"Authorization": f"Bearer {plain_secret}"}
    conn = await asyncpg.connect(plain_url(legacy_url))
    try:
        legacy = Legacy(conn)
        mine = await legacy.customer("agent-a")
        anyone = await legacy.customer(None)
        order = await legacy.event(mine, ORDER, "erp", "SO-1", fingerprint(ORDER, None))
        header = f"idempotency-key:{plain_key.id}"
        note = await legacy.event(anyone, NOTE, header, "retry-1", fingerprint(NOTE, anyone))
        generic = await legacy.event(
            anyone, CRM_NOTE, "crm", "C-1", fingerprint(CRM_NOTE, None), uuid.uuid4()
        )
        squat = {**NOTE, "source": header, "source_event_id": "retry-9"}
        await legacy.event(anyone, squat, header, "retry-9", fingerprint(squat, None))
        await conn.execute(
            "INSERT INTO webhook_deliveries (id, source, delivery_id, url, headers, body, "
            "status, awaits_scope, awaits_key) VALUES ($1, 'generic', 'msg_w', 'u', '{}', "
            "'\\x7b7d', 'failed', 'crm', 'C-2')",
            uuid.uuid4(),
        )
    finally:
        await conn.close()

    await asyncio.to_thread(command.upgrade, alembic_config(legacy_url), "head")

    secrets = {"generic": WEBHOOK_SECRETS["generic"]}
    settings = Settings(database_url=legacy_url, webhook_secrets=secrets)
    app = create_app(settings)
    app.state.db = database
    app.state.feed = TimelineFeed(legacy_url)
    app.state.templates = TemplateCache(None)
    app.state.text_rules = RulesCache(None)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            by_owner = await client.post(f"/v1/customers/{mine}/events", json=ORDER, headers=owned)
            by_anyone = await client.post(f"/v1/customers/{mine}/events", json=ORDER, headers=plain)
            by_header = await client.post(
                f"/v1/customers/{anyone}/events",
                json=NOTE,
                headers={**plain, "Idempotency-Key": "retry-1"},
            )
            raw = json.dumps({**CRM_NOTE, "customer": {"id": str(anyone)}})
            at = datetime.now(UTC)
            secret = WEBHOOK_SECRETS["generic"].split(",")[0]
            by_generic = await client.post(
                "/v1/webhooks/generic",
                content=raw,
                headers={
                    "content-type": "application/json",
                    "webhook-id": "msg_again",
                    "webhook-timestamp": str(int(at.timestamp())),
                    "webhook-signature": Webhook(secret).sign("msg_again", at, raw),
                },
            )
            not_squatted = await client.post(
                f"/v1/customers/{anyone}/events",
                json=NOTE,
                headers={**plain, "Idempotency-Key": "retry-9"},
            )
            awaiting = await client.get(
                "/v1/webhook-deliveries",
                params={"status": "failed"},
                headers={"Authorization": f"Bearer {await _admin(database)}"},
            )
    finally:
        await app.state.feed.close()

    assert (by_owner.status_code, by_owner.json()["id"]) == (200, str(order))
    assert (by_anyone.status_code, by_anyone.json()["id"]) == (200, str(order))
    assert (by_header.status_code, by_header.json()["id"]) == (200, str(note))
    assert by_generic.json() == {"status": "accepted", "delivery_id": "msg_again", "events": 1}
    assert not_squatted.status_code == 201, not_squatted.text
    assert [d["awaits"] for d in awaiting.json()["items"]] == [
        {"source": "crm", "source_event_id": "C-2"}
    ]
    conn = await asyncpg.connect(plain_url(legacy_url))
    try:
        crm_events = await conn.fetchval("SELECT count(*) FROM events WHERE source = 'crm'")
        assert crm_events == 1, "the generic delivery's retry was a duplicate"
        assert await conn.fetchval("SELECT scope FROM event_keys WHERE event_id = $1", generic) == (
            "generic/crm"
        )
    finally:
        await conn.close()
    await database.dispose()

    await asyncio.to_thread(command.downgrade, alembic_config(legacy_url), BEFORE)

    conn = await asyncpg.connect(plain_url(legacy_url))
    try:
        scopes = await conn.fetch("SELECT scope, key FROM event_keys ORDER BY scope, key")
        awaits = await conn.fetchval(
            "SELECT awaits_scope FROM webhook_deliveries WHERE delivery_id = 'msg_w'"
        )
    finally:
        await conn.close()
    assert {(r["scope"], r["key"]) for r in scopes} == {
        ("erp", "SO-1"),
        ("crm", "C-1"),
        (header, "retry-1"),
        (header, "retry-9"),
    }
    assert awaits == "crm"


async def _admin(database: Database) -> str:
    async with database.sessionmaker() as s, s.begin():
        _, secret = await create_key(s, role=Role.ADMIN, name="admin")
    return secret
