"""Alembic environment: async, on the same engine settings as the service."""

import asyncio
import logging.config

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from app.core.config import get_settings
from app.core.db import Base, async_url
from app.core.embedded import resolve_database_url
from app.models import load_all_models

config = context.config
if config.config_file_name is not None and not config.attributes.get("database_url"):
    # Configure logging only when run as `alembic ...`; the service keeps its own JSON logs.
    logging.config.fileConfig(config.config_file_name, disable_existing_loggers=False)

load_all_models()
target_metadata = Base.metadata


def _database_url() -> str:
    return config.attributes.get("database_url") or resolve_database_url(get_settings())


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        transaction_per_migration=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async() -> None:
    engine = create_async_engine(async_url(_database_url()))
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
            await connection.commit()
    finally:
        await engine.dispose()


if context.is_offline_mode():
    context.configure(url=async_url(_database_url()), target_metadata=target_metadata)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_run_async())
