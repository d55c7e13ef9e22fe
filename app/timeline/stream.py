"""Live timeline: one LISTEN connection per process fans NOTIFYs out to open streams."""

import asyncio
import contextlib
from collections.abc import Iterator, Sequence
from uuid import UUID

from app.core.notify import Listener
from app.timeline.repository import NOTIFY_CHANNEL


class TimelineFeed:
    """Routes ``customer_id:event_id`` notifications to the queues subscribed to that customer.

    Appends NOTIFY inside their transaction, so a notification arrives only once the event
    is committed, from this process or any other replica. The LISTEN connection opens with
    the first subscriber and reconnects by itself if the database goes away.
    """

    def __init__(self, database_url: str) -> None:
        self._subscribers: dict[UUID, set[asyncio.Queue[UUID]]] = {}
        self._listener = Listener(
            database_url, NOTIFY_CHANNEL, self._on_notify, wanted=lambda: bool(self._subscribers)
        )

    @contextlib.contextmanager
    def subscribe(self, customer_ids: Sequence[UUID]) -> Iterator[asyncio.Queue[UUID]]:
        """A queue of the ids of events appended to any of ``customer_ids`` from now on."""
        queue: asyncio.Queue[UUID] = asyncio.Queue(maxsize=10_000)
        for customer_id in customer_ids:
            self._subscribers.setdefault(customer_id, set()).add(queue)
        self._listener.ensure()
        try:
            yield queue
        finally:
            for customer_id in customer_ids:
                queues = self._subscribers.get(customer_id)
                if queues is not None:
                    queues.discard(queue)
                    if not queues:
                        del self._subscribers[customer_id]

    def _on_notify(self, payload: str) -> None:
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
        await self._listener.close()
