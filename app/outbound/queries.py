"""Prepared statements of the sender (the driver path): the outbox fanned out into
deliveries, the deliveries due, each attempt recorded."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from app.core.db import Executor, driver_connection

# Each outbox row becomes one delivery per enabled subscription that wants its kind (and
# existed when it was committed), and leaves the outbox, in one statement. Only the
# leading process runs it, so the deliveries' seq is the order facts reached the sender.
_FAN_OUT = (
    "WITH taken AS (DELETE FROM outbox WHERE seq IN (SELECT seq FROM outbox ORDER BY seq "
    "LIMIT $1 FOR UPDATE SKIP LOCKED) RETURNING *) "
    "INSERT INTO outbound_deliveries (id, subscription_id, customer_id, kind, subject_id, data, "
    "fact_at, status, next_attempt_at) "
    "SELECT gen_random_uuid(), s.id, t.customer_id, t.kind, t.subject_id, t.data, t.at, "
    "'pending', $2 FROM taken t JOIN webhook_subscriptions s ON s.enabled "
    "AND s.kinds && ARRAY[t.kind::text, split_part(t.kind, '.', 1) || '.*'] "
    "AND s.created_at <= t.at ORDER BY t.seq, s.id"
)
# The deliveries due now that head their (subscription, customer) queue: a customer's
# next delivery waits until the one before it is delivered or has failed for good.
_DUE = (
    "SELECT d.id, d.subscription_id, d.customer_id, d.kind, d.subject_id, d.data, d.fact_at, "
    "d.attempts, s.url, ARRAY(SELECT k.secret FROM subscription_secrets k "
    "WHERE k.subscription_id = s.id AND (k.expires_at IS NULL OR k.expires_at > $1) "
    "ORDER BY k.created_at) AS secrets "
    "FROM outbound_deliveries d JOIN webhook_subscriptions s ON s.id = d.subscription_id "
    "WHERE d.status = 'pending' AND d.next_attempt_at <= $1 AND s.enabled "
    "AND NOT EXISTS (SELECT FROM outbound_deliveries p WHERE p.status = 'pending' "
    "AND p.subscription_id = d.subscription_id AND p.customer_id = d.customer_id "
    "AND p.seq < d.seq) "
    "ORDER BY d.next_attempt_at, d.seq LIMIT $2"
)
_ATTEMPT = (
    "INSERT INTO outbound_attempts (delivery_id, at, status_code, error, response_excerpt, "
    "duration_ms) VALUES ($1, $2, $3, $4, $5, $6)"
)
_SETTLE = (
    "UPDATE outbound_deliveries SET attempts = attempts + 1, status = $2, next_attempt_at = $3 "
    "WHERE id = $1"
)
# A success ends the subscription's run of failures; a failure starts one, or disables
# the subscription once the run is older than $3.
_SUCCEEDED = "UPDATE webhook_subscriptions SET failing_since = NULL WHERE id = $1"
_FAILED = (
    "UPDATE webhook_subscriptions SET failing_since = coalesce(failing_since, $2), "
    "enabled = enabled AND NOT coalesce(failing_since <= $3, false), "
    "disabled_reason = CASE WHEN enabled AND coalesce(failing_since <= $3, false) "
    "THEN 'failing' ELSE disabled_reason END, "
    "updated_at = CASE WHEN enabled AND coalesce(failing_since <= $3, false) "
    "THEN $2 ELSE updated_at END WHERE id = $1 RETURNING enabled"
)


@dataclass(slots=True)
class Due:
    """A delivery to send now, with where and with what secrets."""

    id: UUID
    subscription_id: UUID
    customer_id: UUID | None
    kind: str
    subject_id: UUID | None
    data: dict[str, Any] | None
    fact_at: datetime
    attempts: int
    url: str
    secrets: list[str]


@dataclass(slots=True)
class Outcome:
    """What one attempt brought back."""

    at: datetime
    status_code: int | None
    error: str | None
    response_excerpt: str | None
    duration_ms: int

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


async def fan_out(on: Executor, limit: int, now: datetime) -> int:
    """Turn up to ``limit`` outbox rows into deliveries due at ``now``; how many rows were
    deliveries made of."""
    conn = await driver_connection(on)
    status = await conn.execute(_FAN_OUT, limit, now)
    return int(status.split()[-1])


async def due(on: Executor, now: datetime, limit: int) -> list[Due]:
    conn = await driver_connection(on)
    rows = await conn.fetch(_DUE, now, limit)
    return [Due(**dict(r)) for r in rows]


async def record_attempt(
    on: Executor,
    delivery_id: UUID,
    subscription_id: UUID,
    outcome: Outcome,
    status: str,
    next_attempt_at: datetime | None,
    failing_cutoff: datetime,
) -> bool:
    """Record an attempt and settle its delivery; whether its subscription is still
    enabled."""
    conn = await driver_connection(on)
    await conn.execute(
        _ATTEMPT,
        delivery_id,
        outcome.at,
        outcome.status_code,
        outcome.error,
        outcome.response_excerpt,
        outcome.duration_ms,
    )
    await conn.execute(_SETTLE, delivery_id, status, next_attempt_at)
    if outcome.succeeded:
        await conn.execute(_SUCCEEDED, subscription_id)
        return True
    enabled: bool = await conn.fetchval(_FAILED, subscription_id, outcome.at, failing_cutoff)
    return enabled
