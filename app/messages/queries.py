"""Prepared statements on messages (the driver path): the sender's batch, taken where each
customer's messages live."""

from datetime import datetime
from uuid import UUID

from app.core.db import Executor, driver_connection

_DUE = (
    "SELECT customer_id, id FROM messages WHERE status = 'queued' AND not_before <= $1 "
    "ORDER BY not_before, id LIMIT $2"
)
_LOCK_DUE = (
    "SELECT id FROM messages WHERE customer_id = $1 AND id = ANY($2) "
    "AND status = 'queued' AND not_before <= $3 FOR UPDATE SKIP LOCKED"
)


async def lock_due(on: Executor, now: datetime, limit: int) -> dict[UUID, list[UUID]]:
    """Up to ``limit`` queued messages whose time has come, oldest first, locked, by
    customer; those another sender holds are skipped.

    The batch is read without a lock, then each customer's rows are locked where they
    live, ``SKIP LOCKED``: Citus refuses ``FOR UPDATE`` on a statement over several shards
    (also with ``(customer_id, id) IN (...)`` or ``customer_id = ANY(...)``), and a lock by
    one customer is one shard's (retention does the same, 0034). The lock checks again that
    a row is queued and due, so a message another sender sent between the read and the
    lock is not taken again. As prepared statements a batch of 50 customers took 10 ms on
    one PostgreSQL (40 to 60 through the ORM, against 2 for the one ``SKIP LOCKED``
    statement before); each message then takes a dozen statements to be sent."""
    conn = await driver_connection(on)
    candidates: dict[UUID, list[UUID]] = {}
    for customer_id, message_id in await conn.fetch(_DUE, now, limit):
        candidates.setdefault(customer_id, []).append(message_id)
    locked: dict[UUID, list[UUID]] = {}
    for customer_id, ids in candidates.items():
        if taken := [row[0] for row in await conn.fetch(_LOCK_DUE, customer_id, ids, now)]:
            locked[customer_id] = taken
    return locked
