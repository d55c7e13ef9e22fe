"""The sender: outbox rows fanned out into deliveries, and deliveries sent, signed the
Standard Webhooks way, retried with exponential backoff, a customer's in order.

One process of the deployment sends: the leader of the "ch-outbn" advisory lock
(``app.core.leadership``), asked every ``CH_OUTBOUND_POLL_SECONDS``. A delivery is sent
before its attempt is recorded, so a sender killed in between sends it again (with the
same ``webhook-id``): receivers see each fact at least once, and once if they dedupe.
Ingestion never waits for it: facts only write their outbox row.

What the sender takes for "now" (when a delivery is due, when it failed) is the service's
clock; the ``webhook-timestamp`` it signs is the machine's, which receivers hold against
their own.
"""

import asyncio
import base64
import contextlib
import json
import secrets
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import httpx
import structlog
from sqlalchemy.ext.asyncio import AsyncSession
from standardwebhooks.webhooks import Webhook

from app.alerts.service import alerts_by_id
from app.core.clock import Clock
from app.core.config import Settings
from app.core.db import Database, Executor
from app.core.leadership import Leadership
from app.outbound import queries
from app.outbound.destinations import PublicOnly
from app.outbound.queries import Due, Outcome
from app.timeline.stream import events_for_stream

log = structlog.get_logger("app.outbound")

# pg_try_advisory_lock key: "ch-outbn" in ASCII, so it is recognisable in pg_locks.
LOCK_KEY = 0x63682D6F7574626E
FAN_OUT_BATCH = 500
# The start of a receiver's answer kept in the delivery log.
EXCERPT_BYTES = 1000
# Attempts of one delivery: the first, then retries 10 s, 40 s, 2 min 40 s... later, each
# four times the one before up to 12 h; the thirteenth comes 3 days 3 h after the first.
MAX_ATTEMPTS = 13
FIRST_RETRY_SECONDS = 10
LONGEST_WAIT_SECONDS = 12 * 3600
TEST_KIND = "webhook.test"


def retry_delay(attempts: int) -> timedelta | None:
    """How long after its ``attempts``-th failed attempt a delivery is tried again; None
    when that was the last."""
    if attempts >= MAX_ATTEMPTS:
        return None
    return timedelta(seconds=min(FIRST_RETRY_SECONDS * 4 ** (attempts - 1), LONGEST_WAIT_SECONDS))


def new_secret() -> str:
    """A signing secret: ``whsec_`` and 24 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def signed_headers(delivery_id: UUID, body: str, signing: Sequence[str]) -> dict[str, str]:
    """The Standard Webhooks headers of a delivery: one signature per active secret, so a
    receiver verifies with either secret while one is rotated out."""
    at = datetime.now(UTC)
    msg_id = str(delivery_id)
    return {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": " ".join(Webhook(s).sign(msg_id, at, body) for s in signing),
    }


def _body(kind: str, fact_at: datetime, data: Any) -> str:
    document = {"type": kind, "timestamp": fact_at.isoformat(), "data": data}
    return json.dumps(document, separators=(",", ":"), default=str)


async def render(session: AsyncSession, deliveries: Sequence[Due]) -> dict[UUID, str]:
    """Each delivery's body: ``{"type", "timestamp", "data"}``, where data is the event or
    alert as it is now (an event removed since keeps only its id), or the fact's own."""
    named = [d.subject_id for d in deliveries if d.data is None and d.subject_id is not None]
    alerts = [i for d in deliveries if d.kind.startswith("alert.") for i in [d.subject_id] if i]
    found: dict[UUID, Any] = {
        a.id: a.model_dump(mode="json") for a in await alerts_by_id(session, alerts)
    }
    events = [i for i in named if i not in found]
    found |= {e.id: e.model_dump(mode="json") for e in await events_for_stream(session, events)}

    def data(delivery: Due) -> Any:
        if delivery.data is not None or delivery.subject_id is None:
            return delivery.data
        return found.get(delivery.subject_id, {"id": delivery.subject_id})

    return {d.id: _body(d.kind, d.fact_at, data(d)) for d in deliveries}


async def post(
    http: httpx.AsyncClient, url: str, headers: dict[str, str], body: str, at: datetime
) -> Outcome:
    """POST one delivery; what came back, its body cut to ``EXCERPT_BYTES`` (a NUL, which
    PostgreSQL text cannot hold, kept as U+FFFD). The client's timeout bounds the whole
    attempt, not only each read: a receiver trickling its answer is cut off too, and that
    attempt failed whatever its status said."""
    started = time.perf_counter()
    status_code, error, excerpt = None, None, None
    try:
        async with (
            asyncio.timeout(http.timeout.read),
            http.stream("POST", url, content=body, headers=headers) as response,
        ):
            status_code = response.status_code
            kept = b""
            async for chunk in response.aiter_bytes():
                kept += chunk
                if len(kept) >= EXCERPT_BYTES:
                    break
            excerpt = kept[:EXCERPT_BYTES].decode(errors="replace").replace("\x00", "\ufffd")
    except (httpx.TimeoutException, TimeoutError):
        status_code, error, excerpt = None, "timeout", None  # an answer not finished in time
    except httpx.HTTPError as exc:
        error = (type(exc).__name__ + ": " + str(exc))[:300].replace("\x00", "\ufffd")
    duration = int((time.perf_counter() - started) * 1000)
    return Outcome(at, status_code, error, excerpt, duration)


def settle(attempts: int, outcome: Outcome) -> tuple[str, datetime | None]:
    """A delivery's status after its ``attempts``-th attempt, and when it is tried next."""
    if outcome.succeeded:
        return "delivered", None
    delay = retry_delay(attempts)
    return ("failed", None) if delay is None else ("pending", outcome.at + delay)


async def send(delivery: Due, body: str, clock: Clock, http: httpx.AsyncClient) -> Outcome:
    """POST one delivery, signed with its subscription's active secrets."""
    headers = signed_headers(delivery.id, body, delivery.secrets)
    return await post(http, delivery.url, headers, body, clock.now())


async def record(
    on: Executor,
    delivery: Due,
    outcome: Outcome,
    status: str,
    next_at: datetime | None,
    settings: Settings,
) -> None:
    """Record an attempt and the delivery's new status in the caller's transaction; a
    failure that ends a long enough run disables the subscription."""
    cutoff = outcome.at - timedelta(hours=settings.outbound_disable_after_hours)
    enabled = await queries.record_attempt(
        on, delivery.id, delivery.subscription_id, outcome, status, next_at, cutoff
    )
    if not enabled:
        log.warning("subscription_disabled", subscription_id=str(delivery.subscription_id))


async def attempt(
    database: Database,
    delivery: Due,
    body: str,
    settings: Settings,
    clock: Clock,
    http: httpx.AsyncClient,
) -> None:
    """Send one delivery, then record the attempt in a transaction of its own."""
    outcome = await send(delivery, body, clock, http)
    status, next_at = settle(delivery.attempts + 1, outcome)
    async with database.sessionmaker() as session, session.begin():
        await record(session, delivery, outcome, status, next_at, settings)


async def fan_out(database: Database, clock: Clock) -> int:
    """Turn every outbox row into deliveries, ``FAN_OUT_BATCH`` per transaction."""
    total = 0
    while True:
        async with database.sessionmaker() as session, session.begin():
            taken = await queries.fan_out(session, FAN_OUT_BATCH, clock.now())
        total += taken
        if taken < FAN_OUT_BATCH:
            return total


async def send_due(
    database: Database, settings: Settings, clock: Clock, http: httpx.AsyncClient
) -> int:
    """One round: the outbox fanned out, then the deliveries due now sent (the head of
    each subscription's queue for each customer), ``CH_OUTBOUND_CONCURRENCY`` at a time;
    how many were sent."""
    await fan_out(database, clock)
    async with database.sessionmaker() as session:
        due = await queries.due(session, clock.now(), settings.outbound_concurrency * 4)
        bodies = await render(session, due)
    gate = asyncio.Semaphore(settings.outbound_concurrency)

    async def one(delivery: Due) -> None:
        async with gate:
            await attempt(database, delivery, bodies[delivery.id], settings, clock, http)

    await asyncio.gather(*(one(d) for d in due))
    return len(due)


def http_client(settings: Settings) -> httpx.AsyncClient:
    """The sender's HTTP client: a timeout per attempt, redirects not followed, and only
    public addresses connected to (no proxy from the environment, which would resolve
    names unchecked) unless ``CH_OUTBOUND_PRIVATE_NETWORKS`` lets it reach internal ones."""
    limits = httpx.Limits(max_connections=settings.outbound_concurrency)
    transport: httpx.AsyncBaseTransport = httpx.AsyncHTTPTransport(limits=limits)
    if not settings.outbound_private_networks:
        transport = PublicOnly(transport)
    return httpx.AsyncClient(
        timeout=settings.outbound_timeout_seconds,
        follow_redirects=False,
        transport=transport,
        trust_env=settings.outbound_private_networks,
    )


class Sender:
    """The sending loop of one serving process (none when the poll interval is 0)."""

    def __init__(self, database: Database, settings: Settings, clock: Clock) -> None:
        self._database = database
        self._settings = settings
        self._clock = clock
        self._leadership = Leadership(settings.service_url(), LOCK_KEY)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._settings.outbound_poll_seconds > 0:
            self._task = asyncio.get_running_loop().create_task(self._loop())

    async def _loop(self) -> None:
        async with http_client(self._settings) as http:
            while True:
                sent = 0
                try:
                    if await self._leadership.lead():
                        sent = await send_due(self._database, self._settings, self._clock, http)
                except Exception as exc:  # the database away now is tried again next time
                    log.warning("outbound_failed", error=type(exc).__name__)
                if sent == 0:  # a full round may have left more due: go on at once
                    await asyncio.sleep(self._settings.outbound_poll_seconds)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._leadership.resign()
