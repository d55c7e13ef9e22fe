"""Databases of their own on the test server, for tests that migrate, copy or commit."""

import asyncio
import contextlib
import uuid
from collections.abc import Iterator
from datetime import datetime

import asyncpg
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import plain_url


@contextlib.contextmanager
def scratch_database(database_url: str, template: str | None = None) -> Iterator[str]:
    """A separate database on the test server while the block runs: empty, or a copy of
    the database ``template`` names (nobody may be connected to that one)."""
    name = f"scratch_{uuid.uuid4().hex[:8]}"
    admin_url = plain_url(database_url)
    if template:  # issued from another database: a template must have no one connected
        admin_url = make_url(admin_url).set(database="postgres").render_as_string(False)

    async def run(sql: str) -> None:
        conn = await asyncpg.connect(admin_url)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    copy_of = f' TEMPLATE "{template}"' if template else ""
    asyncio.run(run(f'CREATE DATABASE "{name}"{copy_of}'))
    url = make_url(plain_url(database_url)).set(database=name)
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        asyncio.run(run(f'DROP DATABASE "{name}" WITH (FORCE)'))


def copied_database(template_url: str) -> contextlib.AbstractContextManager[str]:
    """A copy of the database ``template_url`` names, on its server, while the block runs."""
    return scratch_database(template_url, make_url(plain_url(template_url)).database)


async def is_citus_coordinator(database_url: str) -> bool:
    """Whether the server ``database_url`` names loads Citus (`make cluster`'s do)."""
    conn = await asyncpg.connect(plain_url(database_url))
    try:
        libraries = await conn.fetchval("SHOW shared_preload_libraries")
    finally:
        await conn.close()
    return "citus" in (name.strip() for name in str(libraries).split(","))


async def transaction_start(session: AsyncSession) -> datetime:
    """When the test's one transaction began (its ``now()``), which every row it stored
    carries as its time of storing and no row stored by another transaction does. Compared
    as a parameter, not as ``now()``: on Citus a worker evaluates ``now()`` in a
    transaction of its own, while a row inserted got the coordinator's."""
    began = await session.scalar(text("SELECT now()"))
    assert isinstance(began, datetime)
    return began
