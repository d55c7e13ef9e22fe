"""Work that time brings due, done by the service itself, one process at a time.

Every ``CH_MAINTENANCE_SECONDS`` each serving process tries a PostgreSQL advisory lock;
the one that takes it (across workers and replicas) makes one pass:

- failed deliveries whose awaited event is recorded by now are replayed (the event was
  stored while they were in flight, so the delivery that stored it could not see them);
- the alert rules are evaluated again for customers with flags or open alerts, so that
  conditions that end only because time passes (the abandoned-calls window) clear.
"""

import asyncio
import contextlib

import structlog
from sqlalchemy import text

from app.core.config import Settings
from app.core.db import Database
from app.indicators.service import flagged_customers, reevaluate
from app.ingest.service import replay_freed

log = structlog.get_logger("app.maintenance")

# pg_try_advisory_lock key: "ch-maint" in ASCII, so it is recognisable in pg_locks.
LOCK_KEY = 0x63682D6D61696E74
RULES_CHUNK = 500


REPLAY_BATCH = 100


async def replay_freed_deliveries(database: Database, settings: Settings) -> int:
    """Replay freed deliveries, ``REPLAY_BATCH`` per transaction."""
    replayed = 0
    while True:
        async with database.sessionmaker() as session, session.begin():
            done = await replay_freed(session, settings, REPLAY_BATCH)
        replayed += done
        if done < REPLAY_BATCH:
            return replayed


async def sweep_rules(database: Database) -> int:
    """Evaluate the rules again for customers with flags or open alerts, in short
    transactions of ``RULES_CHUNK`` customers."""
    async with database.sessionmaker() as session, session.begin():
        ids = await flagged_customers(session)
    for start in range(0, len(ids), RULES_CHUNK):
        async with database.sessionmaker() as session, session.begin():
            await reevaluate(session, ids[start : start + RULES_CHUNK])
    return len(ids)


async def run_once(database: Database, settings: Settings) -> bool:
    """One pass, unless another process holds the lock; True when this one made it."""
    async with database.engine.connect() as lock:
        if not await lock.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": LOCK_KEY}):
            return False
        try:
            replayed = await replay_freed_deliveries(database, settings)
            evaluated = await sweep_rules(database)
            log.info("maintenance_pass", deliveries_replayed=replayed, customers=evaluated)
        finally:
            await lock.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": LOCK_KEY})
            await lock.commit()
    return True


class Maintenance:
    """The background loop of one serving process (off when the interval is 0)."""

    def __init__(self, database: Database, settings: Settings) -> None:
        self._database = database
        self._settings = settings
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._settings.maintenance_seconds > 0:
            self._task = asyncio.get_running_loop().create_task(self._loop())

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self._settings.maintenance_seconds)
            try:
                await run_once(self._database, self._settings)
            except Exception as exc:  # a database away now is tried again next time
                log.warning("maintenance_failed", error=type(exc).__name__)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
