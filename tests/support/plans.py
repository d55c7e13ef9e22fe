"""The plans of the statements the service itself sends, as the database would run them."""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from asyncpg.connection import LoggedQuery
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import driver_connection


async def plans_of(session: AsyncSession, call: Callable[[], Awaitable[Any]]) -> list[str]:
    """The EXPLAIN of each statement ``call`` sends through the session's driver, with the
    parameters it sent. ``call`` runs once before, so that the driver knows the types the
    statements use (it asks the server the first time) and only the statements are seen."""
    conn = await driver_connection(session)
    await call()
    sent: list[LoggedQuery] = []
    conn.add_query_logger(sent.append)
    try:
        await call()
        await asyncio.sleep(0)  # the driver calls its loggers on the next loop turn
    finally:
        conn.remove_query_logger(sent.append)
    return [
        "\n".join(row[0] for row in await conn.fetch(f"EXPLAIN {q.query}", *q.args)) for q in sent
    ]
