"""Which process of the deployment does a piece of background work: the one holding a
PostgreSQL advisory lock on a connection of its own (the leader).

Every process tries to take the lock when its loop comes round; while the leader lives,
nobody else can, and when it dies its connection closes and the lock goes to the next
process that tries. Each piece of work has its own lock key, so that the maintenance pass
and the outbound sender may be led by different processes.
"""

import asyncio
import contextlib

import asyncpg

from app.core.db import plain_url


class Leadership:
    """This process's claim on one advisory lock (``key``, a bigint recognisable in
    pg_locks) of the database at ``database_url``, on a connection kept open: a process
    that asks often (the sender, every second) does not connect each time."""

    def __init__(self, database_url: str, key: int) -> None:
        self._dsn = plain_url(database_url)
        self._key = key
        self._connection: asyncpg.Connection | None = None
        self._leading = False  # the connection holds the lock
        self._asking = asyncio.Lock()  # several loops may ask, on the one connection

    async def lead(self) -> bool:
        """Whether this process leads now: it held the lock on a live connection, or it
        has just taken it."""
        async with self._asking:
            return await self._lead()

    async def _lead(self) -> bool:
        if self._connection is not None:
            try:
                return await self._claim(self._connection)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                await self.resign()  # the connection is gone, and the lock with it
        self._connection = await asyncpg.connect(self._dsn)
        return await self._claim(self._connection)

    async def _claim(self, connection: asyncpg.Connection) -> bool:
        if self._leading:
            await connection.fetchval("SELECT 1")
        else:
            self._leading = bool(
                await connection.fetchval("SELECT pg_try_advisory_lock($1)", self._key)
            )
        return self._leading

    async def resign(self) -> None:
        """Let the lock go (closing its connection releases it)."""
        connection, self._connection, self._leading = self._connection, None, False
        if connection is not None:
            with contextlib.suppress(Exception):
                await connection.close(timeout=5)
