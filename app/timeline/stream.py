"""Live timeline: LISTEN connections per process fan NOTIFYs out to open streams; and what
a stream shows, read when it opens, checked again and resumed.

Two channels: appended events (``customer_id:event_id``) and changes of who may see what
(``key:<id>`` when a key is revoked, ``customer:<id>`` when a customer's owner, status or
merge changes, or a contact person joins or leaves the organisation; see ACCESS_CHANNEL).
A stream receives the first as events to send and the second as a request to check its
access again before sending anything more.
"""

import asyncio
import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.access import record_access
from app.auth.service import still_active
from app.core.notify import Listener
from app.core.security import ACCESS_CHANNEL, Principal
from app.customers import service as customers
from app.customers.models import Customer
from app.customers.schemas import CustomerStatus
from app.customers.visibility import follows_alert
from app.timeline.queries import NOTIFY_CHANNEL
from app.timeline.repository import TimelineRepository
from app.timeline.schemas import EventOut
from app.timeline.service import event_out

# A stalled client loses live pushes beyond this many (it resumes with Last-Event-ID).
MAX_PENDING = 10_000


class Subscription:
    """What an open stream waits for: ids of new events, and whether its access must be
    checked again (a change was notified, or notifications may have been lost)."""

    def __init__(self, customer_ids: Sequence[UUID], key_id: UUID) -> None:
        self.customer_ids = tuple(customer_ids)
        self.key_id = key_id
        self._pending: list[UUID] = []
        self._recheck = False
        self._wake = asyncio.Event()

    def push(self, event_id: UUID) -> None:
        if len(self._pending) < MAX_PENDING:
            self._pending.append(event_id)
        self._wake.set()

    def recheck(self) -> None:
        self._recheck = True
        self._wake.set()

    async def next(self) -> tuple[bool, list[UUID]]:
        """Wait for news: (access must be checked again, ids of events appended)."""
        await self._wake.wait()
        self._wake.clear()
        recheck, self._recheck = self._recheck, False
        pending, self._pending = self._pending, []
        return recheck, pending


class TimelineFeed:
    """Routes notifications to the subscriptions of the customers and keys they name.

    Appends NOTIFY inside their transaction, and the access triggers on commit, so a
    notification arrives only once its change is committed, from this process or any other
    replica. The LISTEN connections open with the first subscriber and reconnect by
    themselves; every subscription re-checks its access when they (re)connect, since a
    change may have gone unheard meanwhile.
    """

    def __init__(self, database_url: str) -> None:
        self._by_customer: dict[UUID, set[Subscription]] = {}
        self._by_key: dict[UUID, set[Subscription]] = {}
        self._events = Listener(database_url, NOTIFY_CHANNEL, self._on_event, wanted=self._wanted)
        self._access = Listener(
            database_url,
            ACCESS_CHANNEL,
            self._on_access,
            on_lost=self._recheck_all,
            on_listening=self._recheck_all,
            wanted=self._wanted,
        )

    def streams_of(self, key_id: UUID) -> int:
        """How many streams the key ``key_id`` holds open in this process."""
        return len(self._by_key.get(key_id, ()))

    def _wanted(self) -> bool:
        return bool(self._by_key)

    @contextlib.contextmanager
    def subscribe(self, customer_ids: Sequence[UUID], key_id: UUID) -> Iterator[Subscription]:
        """Events appended to any of ``customer_ids`` from now on, and changes of access to
        them or to the key ``key_id``."""
        subscription = Subscription(customer_ids, key_id)
        for customer_id in subscription.customer_ids:
            self._by_customer.setdefault(customer_id, set()).add(subscription)
        self._by_key.setdefault(key_id, set()).add(subscription)
        self._events.ensure()
        self._access.ensure()
        try:
            yield subscription
        finally:
            for customer_id in subscription.customer_ids:
                _discard(self._by_customer, customer_id, subscription)
            _discard(self._by_key, key_id, subscription)

    def _on_event(self, payload: str) -> None:
        customer, _, event = payload.partition(":")
        try:
            subscriptions = self._by_customer.get(UUID(customer))
            event_id = UUID(event)
        except ValueError:
            return
        for subscription in subscriptions or ():
            subscription.push(event_id)

    def _on_access(self, payload: str) -> None:
        kind, _, name = payload.partition(":")
        table = {"key": self._by_key, "customer": self._by_customer}.get(kind)
        try:
            subscriptions = table.get(UUID(name)) if table is not None else None
        except ValueError:
            return
        for subscription in subscriptions or ():
            subscription.recheck()

    def _recheck_all(self) -> None:
        for subscriptions in self._by_key.values():
            for subscription in subscriptions:
                subscription.recheck()

    async def close(self) -> None:
        await self._events.close()
        await self._access.close()


def _discard(table: dict[UUID, set[Subscription]], name: UUID, item: Subscription) -> None:
    subscriptions = table.get(name)
    if subscriptions is not None:
        subscriptions.discard(item)
        if not subscriptions:
            del table[name]


# A live stream resumed with Last-Event-ID replays what was recorded this long before the
# last event it saw: appends commit out of id order, so a plain "id > last" would skip some.
RESUME_WINDOW = timedelta(seconds=30)


@dataclass(frozen=True, slots=True)
class StreamView:
    """What a live stream shows: its customer, its status and the ids whose events it
    carries (its merge family and, for an organisation asked so, its contact persons')."""

    customer_id: UUID
    status: str
    family: frozenset[UUID]
    # Those whose alerts its key does not see, nor their follow-ups (``visibility.py``).
    alerts_unseen: frozenset[UUID]

    def shows(self, event: EventOut) -> bool:
        return event.customer_id not in self.alerts_unseen or not follows_alert(
            event.type, event.payload
        )


async def open_stream(
    session: AsyncSession, customer_id: UUID, principal: Principal, contacts: bool
) -> StreamView | customers.Merged:
    """What a new live stream on a customer shows, logged as read; for a merged customer,
    only its survivor, and nothing is opened."""
    customer, family = await customers.readable_family(session, customer_id, principal, contacts)
    if customer.status == CustomerStatus.MERGED:
        return customers.Merged(await customers.survivor_id(session, customer.id))
    await record_access(session, principal, customer.id, "timeline-stream")
    return await _view(session, customer, family, principal)


async def stream_view(
    session: AsyncSession, customer_id: UUID, principal: Principal, contacts: bool
) -> StreamView | None:
    """What a stream on the customer would show its key now; None once the key is revoked
    or the customer is out of its sight. A stream whose view changes is closed: the client
    reconnects and is answered afresh (a new stream, a 308 to the survivor, or a 404)."""
    if not await still_active(session, principal):
        return None
    try:
        customer, family = await customers.readable_family(
            session, customer_id, principal, contacts
        )
    except customers.CustomerNotFound:
        return None
    return await _view(session, customer, family, principal)


async def _view(
    session: AsyncSession, customer: Customer, family: Sequence[UUID], principal: Principal
) -> StreamView:
    unseen = await customers.alerts_unseen(session, family, principal)
    return StreamView(customer.id, customer.status, frozenset(family), frozenset(unseen))


async def events_for_stream(session: AsyncSession, event_ids: Sequence[UUID]) -> list[EventOut]:
    return [
        event_out(e)
        for e in sorted(await TimelineRepository(session).get_many(event_ids), key=lambda e: e.id)
    ]


async def replay_after(
    session: AsyncSession, customer_ids: Sequence[UUID], last_event_id: UUID
) -> list[EventOut]:
    """Events a resuming stream may have missed (at least once: the client dedupes by id).

    The resume point counts only on the stream's own timeline: another customer's event
    replays nothing, as an id never recorded does, so that the answer tells no key that
    an event exists elsewhere, nor when it was recorded."""
    repo = TimelineRepository(session)
    last = await repo.get(last_event_id)
    if last is None or last.customer_id not in customer_ids:
        return []
    events = await repo.recorded_since(customer_ids, last.recorded_at - RESUME_WINDOW)
    return [event_out(e) for e in events if e.id != last.id]
