"""Migrations go up, down and up again, and agree with the models."""

import asyncio
import uuid

import asyncpg
import pytest
from alembic import command
from sqlalchemy.engine import make_url

from app.core.db import plain_url
from app.core.migrations import alembic_config


@pytest.fixture
def scratch_url(database_url: str):
    """A separate, empty database on the test server, dropped afterwards."""
    name = f"migrations_{uuid.uuid4().hex[:8]}"
    admin_url = plain_url(database_url)

    async def run(sql: str) -> None:
        conn = await asyncpg.connect(admin_url)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run(f'CREATE DATABASE "{name}"'))
    url = make_url(plain_url(database_url)).set(database=name)
    yield url.render_as_string(hide_password=False)
    asyncio.run(run(f'DROP DATABASE "{name}" WITH (FORCE)'))


def test_upgrade_downgrade_upgrade_and_check(scratch_url: str) -> None:
    config = alembic_config(scratch_url)
    command.upgrade(config, "head")
    command.downgrade(config, "base")
    command.upgrade(config, "head")
    command.check(config)  # raises when the models and the migrations disagree
