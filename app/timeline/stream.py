"""Live timeline: one LISTEN connection per process fans NOTIFYs out to open streams."""

import asyncio
import contextlib
from collections.abc import Iterator, Sequence
from uuid import UUID

import asyncpg
import structlog

from app.core.db import plain_url
from app.timeline.repository import NOTIFY_CHANNEL

log = structlog.get_logger("app.timeline.stream")


class TimelineFeed:
    """Routes ``customer_id:event_id`` notifications to the queues subscribed to that customer.

    Appends NOTIFY inside their transaction, so a notification arrives only once the event
    is committed, from this process or any other replica. The LISTEN connection opens with
    the first subscriber and reconnects by itself if the database goes away.
    """

    def __init__(self, database_url: str) -> None:
        self._dsn = plain_url(database_url)
        self._subscribers: dict[UUID, set[asyncio.Queue[UUID]]] = {}
        self._connection: asyncpg.Connection | None = None
        self._connecting: asyncio.Task[None] | None = None

    @contextlib.contextmanager
    def subscribe(self, customer_ids: Sequence[UUID]) -> Iterator[asyncio.Queue[UUID]]:
        """A queue of the ids of events appended to any of ``customer_ids`` from now on."""
        queue: asyncio.Queue[UUID] = asyncio.Queue(maxsize=10_000)
        for customer_id in customer_ids:
            self._subscribers.setdefault(customer_id, set()).add(queue)
        self._ensure_listening()
        try:
            yield queue
        finally:
            for customer_id in customer_ids:
                queues = self._subscribers.get(customer_id)
                if queues is not None:
                    queues.discard(queue)
                    if not queues:
                        del self._subscribers[customer_id]

    def _ensure_listening(self) -> None:
        if self._connection is None and (self._connecting is None or self._connecting.done()):
            self._connecting = asyncio.get_running_loop().create_task(self._listen())

    async def _listen(self) -> None:
        delay = 0.5
        while self._subscribers and self._connection is None:
            try:
                connection = await asyncpg.connect(self._dsn)
                await connection.add_listener(NOTIFY_CHANNEL, self._on_notify)
                connection.add_termination_listener(self._on_lost)
                self._connection = connection
            except (OSError, asyncpg.PostgresError) as exc:
                log.warning("timeline_listen_failed", error=type(exc).__name__, retry_in=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)

    def _on_lost(self, _connection: asyncpg.Connection) -> None:
        self._connection = None
        if self._subscribers:
            self._ensure_listening()

    def _on_notify(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        customer, _, event = payload.partition(":")
        try:
            queues = self._subscribers.get(UUID(customer))
            event_id = UUID(event)
        except ValueError:
            return
        for queue in queues or ():
            with contextlib.suppress(asyncio.QueueFull):  # a stalled client loses live pushes
                queue.put_nowait(event_id)

    async def close(self) -> None:
        if self._connecting is not None:
            self._connecting.cancel()
        if self._connection is not None:
            connection, self._connection = self._connection, None
            await connection.close()
