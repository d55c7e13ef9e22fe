"""The live alert stream: every change of an alert (raised, acknowledged, cleared) that
the key may see, from any replica.

Each change is a row of ``alert_changes`` notified on ``ch_alerts`` with its seq, by the
statement that makes it, so a notification arrives only once its change is committed. As
the live timeline does (``app.timeline.stream``), one LISTEN connection per process wakes
the open streams; each reads the changes notified, filtered by who may see the alert's
customer now and by the owners it asked for. A resumed stream replays a window before
its last change (changes commit out of seq order), at least once: clients dedupe by id.
"""

import asyncio
import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.alerts.models import Alert, AlertChange
from app.alerts.queries import NOTIFY_CHANNEL
from app.alerts.schemas import AlertChangeOut
from app.alerts.service import alert_out
from app.core.notify import Listener
from app.core.security import ACCESS_CHANNEL, Principal
from app.customers.models import Customer
from app.customers.visibility import sees_every_contact, visible_to

# A stalled client loses live pushes beyond this many (it resumes with Last-Event-ID).
MAX_PENDING = 10_000
RESUME_WINDOW = timedelta(seconds=30)


class Watch:
    """What an open alert stream waits for: the seqs of changes notified, and whether
    notifications may have been lost (then it reads what it may have missed)."""

    def __init__(self) -> None:
        self._pending: list[int] = []
        self._lost = False
        self._wake = asyncio.Event()

    def push(self, seq: int) -> None:
        if len(self._pending) < MAX_PENDING:
            self._pending.append(seq)
        self._wake.set()

    def push_nothing(self) -> None:
        """Wake the stream with nothing to send (it checks its key again)."""
        self._wake.set()

    def lost(self) -> None:
        self._lost = True
        self._wake.set()

    async def next(self) -> tuple[bool, list[int]]:
        """Wait for news: (notifications may have been lost, seqs notified)."""
        await self._wake.wait()
        self._wake.clear()
        lost, self._lost = self._lost, False
        pending, self._pending = self._pending, []
        return lost, pending


class AlertFeed:
    """Fans the NOTIFYs of alert changes out to the open streams of this process, and wakes
    a key's streams when it is revoked (``key:<id>`` on the access channel), so that they
    check it before sending anything more."""

    def __init__(self, database_url: str) -> None:
        self._watches: dict[UUID, set[Watch]] = {}
        self._listener = Listener(
            database_url,
            NOTIFY_CHANNEL,
            self._on_change,
            on_lost=self._lost,
            on_listening=self._lost,
            wanted=lambda: bool(self._watches),
        )
        self._access = Listener(
            database_url,
            ACCESS_CHANNEL,
            self._on_access,
            on_lost=self._lost,
            on_listening=self._lost,
            wanted=lambda: bool(self._watches),
        )

    def streams_of(self, key_id: UUID) -> int:
        """How many streams the key ``key_id`` holds open in this process."""
        return len(self._watches.get(key_id, ()))

    @contextlib.contextmanager
    def watch(self, key_id: UUID) -> Iterator[Watch]:
        watch = Watch()
        self._watches.setdefault(key_id, set()).add(watch)
        self._listener.ensure()
        self._access.ensure()
        try:
            yield watch
        finally:
            watches = self._watches.get(key_id, set())
            watches.discard(watch)
            if not watches:
                self._watches.pop(key_id, None)

    def _every_watch(self) -> Iterator[Watch]:
        for watches in self._watches.values():
            yield from watches

    def _on_change(self, payload: str) -> None:
        try:
            seq = int(payload)
        except ValueError:
            return
        for watch in self._every_watch():
            watch.push(seq)

    def _on_access(self, payload: str) -> None:
        kind, _, name = payload.partition(":")
        try:
            key_id = UUID(name) if kind == "key" else None
        except ValueError:
            return
        for watch in self._watches.get(key_id, ()) if key_id else ():
            watch.push_nothing()

    def _lost(self) -> None:
        for watch in self._every_watch():
            watch.lost()

    async def close(self) -> None:
        await self._listener.close()
        await self._access.close()


@dataclass(frozen=True, slots=True)
class StreamFilter:
    """Whose alerts a stream sends: what the key may see, of these owners if any."""

    principal: Principal
    owners: Sequence[str] = ()


def _alerts(wanted: StreamFilter, changes: Sequence[AlertChange]) -> Any:
    """The alerts of ``changes`` that the stream may send."""
    statement = (
        select(Alert)
        .join(Customer, Customer.id == Alert.customer_id)
        .where(
            # By the customers too: on Citus each alert is read on its customer's shard.
            Alert.customer_id.in_({change.customer_id for change in changes}),
            Alert.id.in_({change.alert_id for change in changes}),
            visible_to(wanted.principal),
            sees_every_contact(wanted.principal),
        )
    )
    if wanted.owners:
        statement = statement.where(Alert.owner_id.in_(wanted.owners))
    return statement


def _out(change: AlertChange, alert: Alert) -> AlertChangeOut:
    return AlertChangeOut(
        seq=change.seq, change=change.kind, recorded_at=change.recorded_at, alert=alert_out(alert)
    )


async def _sendable(
    session: AsyncSession, wanted: StreamFilter, *which: Any
) -> list[AlertChangeOut]:
    """The changes ``which`` selects that the stream may send, in seq order: the changes
    first, then their alerts by id. The changes are a plain table on the coordinator and
    the alerts are spread by customer, and Citus refuses to join the two."""
    found = (
        await session.scalars(select(AlertChange).where(*which).order_by(AlertChange.seq))
    ).all()
    if not found:
        return []
    alerts = {alert.id: alert for alert in await session.scalars(_alerts(wanted, found))}
    return [_out(change, alerts[change.alert_id]) for change in found if change.alert_id in alerts]


async def changes(
    session: AsyncSession, wanted: StreamFilter, seqs: Sequence[int]
) -> list[AlertChangeOut]:
    """The changes ``seqs`` that the stream may send, in seq order."""
    return await _sendable(session, wanted, AlertChange.seq.in_(seqs))


async def replay_after(
    session: AsyncSession, wanted: StreamFilter, last_seq: int
) -> list[AlertChangeOut]:
    """The changes a stream resumed after ``last_seq`` may have missed (a window before
    it included); a seq it could never have been sent replays nothing."""
    last = await _sendable(session, wanted, AlertChange.seq == last_seq)
    if not last:
        return []
    since = last[0].recorded_at - RESUME_WINDOW
    return await _sendable(
        session, wanted, AlertChange.recorded_at >= since, AlertChange.seq != last_seq
    )


async def since(
    session: AsyncSession, wanted: StreamFilter, window: timedelta
) -> list[AlertChangeOut]:
    """The changes recorded in the last ``window`` (what a stream may have missed while
    its notifications were lost)."""
    return await _sendable(session, wanted, AlertChange.recorded_at >= func.now() - window)
