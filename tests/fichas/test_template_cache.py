"""The per-process template cache: kept while LISTEN is in effect, dropped by any commit.

These tests commit (an edit notifies only when it commits) and put the built-in support
template back afterwards.
"""

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import asyncpg
import pytest
from sqlalchemy import text

from app.core.db import Database
from app.fichas import service
from app.fichas.cache import TemplateCache
from app.fichas.repository import TemplateRepository
from app.fichas.templates import DEFAULT_TEMPLATES, validate_sections

T = TypeVar("T")
NO_DATABASE: Any = object()  # a read that reaches the database with this fails
DEFAULT = validate_sections(DEFAULT_TEMPLATES["support"])
SHORT = validate_sections([{"name": "identity"}, {"name": "indicators"}, {"name": "flags"}])
LONGER = validate_sections([*SHORT, {"name": "consents"}])


@pytest.fixture
async def driver(database: Database) -> AsyncIterator[asyncpg.Connection]:
    """A pooled driver connection outside any transaction, as a read path has."""
    async with database.engine.connect() as connection:
        yield (await connection.get_raw_connection()).driver_connection


@pytest.fixture
async def support_restored(database: Database) -> AsyncIterator[None]:
    yield
    async with database.sessionmaker() as session, session.begin():
        await service.delete_template(session, "support")


async def edit_support(
    database: Database, sections: list[dict[str, Any]], *, notified: bool = True
) -> None:
    """Commit a new support template, as an admin in another process would (or, not
    ``notified``, as if the notification were lost: by hand, past the repository)."""
    async with database.sessionmaker() as session, session.begin():
        if notified:
            await TemplateRepository(session).put("support", sections, {})
        else:
            await session.execute(
                text(
                    "INSERT INTO ficha_templates (role, sections, labels) "
                    "VALUES ('support', CAST(:s AS jsonb), '{}') ON CONFLICT (role) "
                    "DO UPDATE SET sections = excluded.sections, labels = excluded.labels"
                ),
                {"s": json.dumps(sections)},
            )


async def eventually(read: Callable[[], Awaitable[T]], expected: T, seconds: float = 5) -> None:
    deadline = time.monotonic() + seconds
    while (found := await read()) != expected:
        assert time.monotonic() < deadline, f"still {found!r}"
        await asyncio.sleep(0.02)


async def listeners(driver: asyncpg.Connection) -> set[int]:
    """The backends listening for template changes (one per cache)."""
    rows = await driver.fetch(
        "SELECT pid FROM pg_stat_activity WHERE query = 'LISTEN \"ch_ficha_templates\"'"
    )
    return {r["pid"] for r in rows}


async def new_listener(driver: asyncpg.Connection, before: set[int]) -> int:
    deadline = time.monotonic() + 5
    while not (started := await listeners(driver) - before):
        assert time.monotonic() < deadline, "no LISTEN connection"
        await asyncio.sleep(0.02)
    return started.pop()


async def kept(cache: TemplateCache, driver: asyncpg.Connection) -> None:
    """Read until the cache keeps the support template (its LISTEN connection is up), then
    check it is served without the database."""
    deadline = time.monotonic() + 5
    while True:
        read = await cache.sections(driver, "support")
        try:
            assert await cache.sections(NO_DATABASE, "support") == read
            return
        except AttributeError:  # it went to the database: not kept yet
            assert time.monotonic() < deadline, "never kept"
            await asyncio.sleep(0.02)


async def test_an_edit_is_seen_by_every_process(
    database: Database, database_url: str, driver: asyncpg.Connection, support_restored: None
) -> None:
    """Two caches, as two uvicorn workers hold, each with its LISTEN connection."""
    workers = TemplateCache(database_url), TemplateCache(database_url)
    try:
        for cache in workers:
            assert await cache.sections(driver, "support") == (DEFAULT, {})
            await kept(cache, driver)
        await edit_support(database, SHORT)
        for cache in workers:
            await eventually(lambda c=cache: c.sections(driver, "support"), (SHORT, {}))
    finally:
        for cache in workers:
            await cache.close()


async def test_a_lost_listen_connection_drops_what_was_kept(
    database: Database, service_url: str, driver: asyncpg.Connection, support_restored: None
) -> None:
    """Notifications sent while LISTEN is down are lost; what was kept is dropped with it."""
    before = await listeners(driver)
    cache = TemplateCache(service_url)  # the service's role sees and ends its own sessions
    try:
        await kept(cache, driver)
        pid = await new_listener(driver, before)
        # A process id, typed: Citus adds an overload that takes its global pids (bigint).
        await driver.execute("SELECT pg_terminate_backend($1::integer)", pid)
        await new_listener(driver, before | {pid})  # reconnected by itself
        await edit_support(database, SHORT, notified=False)
        assert await cache.sections(driver, "support") == (SHORT, {})
    finally:
        await cache.close()
