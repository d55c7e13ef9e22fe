"""Work that time brings due, done by the service itself: one process of the deployment
makes a pass every ``CH_MAINTENANCE_SECONDS``.

- Failed deliveries whose awaited event is recorded by now are replayed (the event was
  stored while they were in flight, or through the API, so nothing replayed them).
- The rules' ``create_follow_up`` actions become tasks for the alerts that have none.
- The alert rules and indicators are evaluated again for customers with flags or open
  alerts, and for those whose indicators time alone changes by now (``reevaluate_at``:
  a contact leaving a window, a purchase growing old), so that conditions that end only
  because time passes (the abandoned-calls window) clear and stored segments and churn
  risks stay true.

The same process sends messages to customers every ``CH_MESSAGE_SECONDS``: the journeys'
messages are planned (an alert of a rule with a message action, a customer who joined an
incident declared with a message), then the queued messages
whose time has come are sent (``app.messages.sending``).

What a pass takes for "now" is the service's clock (``app.state.clock``); the interval
between passes is real time.

Which process: the leader of the "ch-maint" lock (``app.core.leadership``); every process
tries to take it once an interval.
"""

import asyncio
import contextlib

import httpx
import structlog

from app.core.clock import Clock
from app.core.config import Settings
from app.core.db import Database
from app.core.leadership import Leadership
from app.incidents import service as incidents
from app.indicators.service import due_customers, reevaluate
from app.ingest.service import replay_freed
from app.messages import journeys, sending
from app.text.service import RulesCache

log = structlog.get_logger("app.maintenance")

# pg_try_advisory_lock key: "ch-maint" in ASCII, so it is recognisable in pg_locks.
LOCK_KEY = 0x63682D6D61696E74
REPLAY_BATCH = 100
RULES_CHUNK = 500


async def replay_freed_deliveries(
    database: Database, settings: Settings, clock: Clock, rules: RulesCache
) -> int:
    """Replay freed deliveries, ``REPLAY_BATCH`` per transaction, each visited once."""
    replayed, after = 0, None
    while True:
        async with database.sessionmaker() as session, session.begin():
            visited = await replay_freed(session, settings, after, REPLAY_BATCH, clock, rules)
        replayed += len(visited)
        if len(visited) < REPLAY_BATCH:
            return replayed
        after = visited[-1]


async def sweep_rules(database: Database, settings: Settings, clock: Clock) -> int:
    """Evaluate the rules again, as of the clock's now, for the customers due (flags, open
    alerts, or indicators that time changes), in short transactions of ``RULES_CHUNK``."""
    async with database.sessionmaker() as session, session.begin():
        ids = await due_customers(session, clock)
    for start in range(0, len(ids), RULES_CHUNK):
        async with database.sessionmaker() as session, session.begin():
            await reevaluate(session, ids[start : start + RULES_CHUNK], settings, clock)
    return len(ids)


async def make_pass(
    database: Database, settings: Settings, clock: Clock, rules: RulesCache
) -> None:
    """One pass: replay freed deliveries (their texts analysed with ``rules``), then
    evaluate time-window rules again."""
    replayed = await replay_freed_deliveries(database, settings, clock, rules)
    evaluated = await sweep_rules(database, settings, clock)
    log.info("maintenance_pass", deliveries_replayed=replayed, customers_evaluated=evaluated)


async def send_messages(
    database: Database, settings: Settings, clock: Clock, client: httpx.AsyncClient
) -> int:
    """Plan the journeys' messages, then send those due, ``sending.BATCH`` per
    transaction; how many messages were taken."""
    async with database.sessionmaker() as session, session.begin():
        planned = await journeys.plan_rule_messages(session, clock)
        planned += await incidents.message_new_members(session, clock)
    taken = 0
    while True:
        async with database.sessionmaker() as session, session.begin():
            batch = await sending.send_due(session, settings, clock, client)
        taken += batch
        if batch < sending.BATCH:  # each message taken is closed or moved to a later time
            break
    if planned or taken:
        log.info("messages_pass", planned=planned, taken=taken)
    return taken


class Maintenance:
    """The maintenance loop of one serving process (none when the interval is 0)."""

    def __init__(
        self, database: Database, settings: Settings, clock: Clock, rules: RulesCache
    ) -> None:
        self._database = database
        self._rules = rules
        self._settings = settings
        self._clock = clock
        self._leadership = Leadership(settings.service_url(), LOCK_KEY)
        self._task: asyncio.Task[None] | None = None
        self._messages: asyncio.Task[None] | None = None

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        if self._settings.maintenance_seconds > 0:
            self._task = loop.create_task(self._loop())
        if self._settings.message_seconds > 0:
            self._messages = loop.create_task(self._message_loop())

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def lead(self) -> bool:
        """Whether this process leads the maintenance now."""
        return await self._leadership.lead()

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self._settings.maintenance_seconds)
            try:
                if await self.lead():
                    await make_pass(self._database, self._settings, self._clock, self._rules)
            except Exception as exc:  # the database away now is tried again next time
                log.warning("maintenance_failed", error=type(exc).__name__)

    async def _message_loop(self) -> None:
        async with httpx.AsyncClient() as client:
            while True:
                await asyncio.sleep(self._settings.message_seconds)
                try:
                    if await self.lead():
                        await send_messages(self._database, self._settings, self._clock, client)
                except Exception as exc:  # the database away now is tried again next time
                    log.warning("messages_failed", error=type(exc).__name__)

    async def stop(self) -> None:
        for task in (self._task, self._messages):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self._leadership.resign()
