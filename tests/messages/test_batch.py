"""The sender's batch when several senders run: a message one holds is never taken by
another, nor waited for; what nobody holds is taken."""

from uuid import UUID

import asyncpg
import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import Settings
from app.core.db import Database, plain_url
from app.messages.repository import MessageRepository
from tests.support.api import new_customer
from tests.support.clock import ControlledClock

CARRIER = {"template": "carrier_delay", "fields": {"incident_title": "SEUR"}}


async def _queued(client: httpx.AsyncClient, admin: dict[str, str], customer: str) -> UUID:
    sent = await client.post(f"/v1/customers/{customer}/messages", json=CARRIER, headers=admin)
    assert sent.status_code == 201, sent.text
    return UUID(sent.json()["id"])


async def _batch(session: AsyncSession, clock: ControlledClock) -> list[UUID]:
    """The messages a sender takes, in its own transaction, which it keeps open."""
    await session.execute(text("SET LOCAL lock_timeout = '3s'"))  # a wait fails, not hangs
    return [m.id for m in await MessageRepository(session).due(clock.now(), 50)]


async def test_a_batch_skips_the_messages_another_sender_holds(
    live: tuple[httpx.AsyncClient, dict[str, str]],
    database: Database,
    settings: Settings,
    clock: ControlledClock,
) -> None:
    client, admin = live
    ana, bob = await new_customer(client, admin), await new_customer(client, admin)
    held, hers_too = await _queued(client, admin, ana), await _queued(client, admin, ana)
    free = await _queued(client, admin, bob)
    holder = await asyncpg.connect(plain_url(str(settings.database_url)))
    holding = holder.transaction()
    await holding.start()
    try:
        # By her id too: a lock is taken on one shard (Citus locks across none).
        await holder.execute(
            "SELECT id FROM messages WHERE customer_id = $1 AND id = $2 FOR UPDATE",
            UUID(ana),
            held,
        )
        async with database.sessionmaker() as first, first.begin():
            assert await _batch(first, clock) == [hers_too, free], "the held one skipped"
            async with database.sessionmaker() as second, second.begin():
                assert await _batch(second, clock) == [], "nothing taken twice"
            await holding.rollback()
            async with database.sessionmaker() as third, third.begin():
                assert await _batch(third, clock) == [held], "left for the next pass"
    finally:
        if not holder.is_closed():
            await holder.close()
