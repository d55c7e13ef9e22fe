"""One LISTEN connection per channel and process, reconnecting by itself."""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

import asyncpg
import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import plain_url

log = structlog.get_logger("app.core.notify")


class Listener:
    """Calls ``on_notify(payload)`` for each NOTIFY on ``channel``, committed by this process
    or any other, ``on_listening()`` each time LISTEN comes into effect and ``on_lost()``
    when the LISTEN connection drops (notifications sent meanwhile are lost). The connection
    opens on :meth:`ensure` and is opened again after a loss for as long as ``wanted()``
    says so.
    """

    def __init__(
        self,
        database_url: str,
        channel: str,
        on_notify: Callable[[str], None],
        *,
        on_lost: Callable[[], None] = lambda: None,
        on_listening: Callable[[], None] = lambda: None,
        wanted: Callable[[], bool] = lambda: True,
    ) -> None:
        self._dsn = plain_url(database_url)
        self._channel = channel
        self._on_notify = on_notify
        self._on_lost = on_lost
        self._on_listening = on_listening
        self._wanted = wanted
        self._connection: asyncpg.Connection | None = None
        self._connecting: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def listening(self) -> bool:
        """LISTEN is in effect: every commit from now on will be notified."""
        return self._connection is not None

    def ensure(self) -> None:
        """Start connecting in the background unless connected or connecting already."""
        if self._connection is None and (self._connecting is None or self._connecting.done()):
            self._connecting = asyncio.get_running_loop().create_task(self._listen())

    async def _listen(self) -> None:
        delay = 0.5
        while not self._closed and self._wanted() and self._connection is None:
            try:
                connection = await asyncpg.connect(self._dsn)
                await connection.add_listener(self._channel, self._notified)
                connection.add_termination_listener(self._lost)
                self._connection = connection
                self._on_listening()
            except (OSError, asyncpg.PostgresError) as exc:
                log.warning(
                    "listen_failed", channel=self._channel, error=type(exc).__name__, retry_in=delay
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)

    def _notified(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        self._on_notify(payload)

    def _lost(self, _connection: asyncpg.Connection) -> None:
        self._connection = None
        self._on_lost()
        if not self._closed and self._wanted():
            self.ensure()

    async def close(self) -> None:
        self._closed = True
        if self._connecting is not None:
            self._connecting.cancel()
        if self._connection is not None:
            connection, self._connection = self._connection, None
            await connection.close()


async def notify_on_commit(session: AsyncSession, channel: str, payload: str = "") -> None:
    """Have ``channel`` notified when the session's transaction commits (never if it rolls
    back): what every change of a table whose rows processes keep sends, in the change's
    own transaction. Not a trigger: Citus runs none on a table copied to every node, and a
    trigger on a shard notifies the worker, where nobody listens (docs/scaling.md)."""
    await session.execute(
        text("SELECT pg_notify(:channel, :payload)"), {"channel": channel, "payload": payload}
    )


K = TypeVar("K")
V = TypeVar("V")


class NotifiedCache(Generic[K, V]):
    """Values read from the database by key, kept until a change is notified on
    ``channel``.

    A change made through the service notifies on commit (:func:`notify_on_commit`, from
    the repository that makes it); every process drops its copies when the notification
    arrives, so an edit is seen everywhere
    within the notification delay. Only a read that began while LISTEN was in effect and
    saw no notification since is kept, so a read racing an edit cannot keep the old
    value. While the LISTEN connection is down (and without a database URL: tests whose
    edits never commit) every read goes to the database. A read that finds nothing
    (None) is never kept: a key nobody stored costs no memory.
    """

    def __init__(self, database_url: str | None, channel: str, *, limit: int = 10_000) -> None:
        self._values: dict[K, V] = {}
        self._limit = limit  # past it, everything is dropped: a bound, not an eviction policy
        self._generation = 0  # advances with every notification and every lost connection
        self._listener = (
            None
            if database_url is None
            else Listener(database_url, channel, self._changed, on_lost=self._forget)
        )

    async def get(self, key: K, load: Callable[[], Awaitable[V | None]]) -> V | None:
        """The value kept for ``key``, else what ``load()`` reads (kept when it may be)."""
        if key in self._values:
            return self._values[key]
        if self._listener is None:
            return await load()
        self._listener.ensure()
        listening, generation = self._listener.listening, self._generation
        found = await load()
        if found is not None and listening and generation == self._generation:
            if len(self._values) >= self._limit:
                self._values.clear()
            self._values[key] = found
        return found

    def _changed(self, _payload: str) -> None:
        self._forget()

    def _forget(self) -> None:
        self._generation += 1
        self._values.clear()

    async def close(self) -> None:
        if self._listener is not None:
            await self._listener.close()
