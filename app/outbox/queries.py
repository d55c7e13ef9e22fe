"""Writing facts to the outbox, in the statement or transaction that commits them.

A fact goes to the outbox only when an enabled subscription wants its kind (its own name,
or its family's ``family.*``): with no subscription, the check reads an empty table and
writes nothing. One row per fact, whatever the number of subscriptions: the sender fans
it out (``app.outbound``), so ingestion pays for one narrow row.
"""

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from app.core.db import Executor, driver_connection


def wanted(kind: str) -> str:
    """SQL: some enabled subscription ``s`` wants a fact of kind ``kind`` (an expression)."""
    return (
        "EXISTS (SELECT FROM webhook_subscriptions s WHERE s.enabled AND s.kinds && "
        f"ARRAY[{kind}::text, split_part({kind}, '.', 1) || '.*'])"
    )


def announce_cte(name: str, source: str, kind: str, customer: str, subject: str) -> str:
    """A data-modifying CTE ``name`` that writes to the outbox each row of ``source`` that
    a subscription wants: a statement that commits facts announces them in the same round
    trip."""
    return (
        f"{name} AS (INSERT INTO outbox (kind, customer_id, subject_id) "
        f"SELECT {kind}, {customer}, {subject} FROM {source} WHERE {wanted(kind)})"
    )


@dataclass(frozen=True, slots=True)
class Fact:
    """A fact to announce: its kind, its customer, what it names, and small data of its own."""

    kind: str
    customer_id: UUID | None
    subject_id: UUID | None = None
    data: dict[str, Any] | None = None


_ANNOUNCE = (
    "INSERT INTO outbox (kind, customer_id, subject_id, data) "
    "SELECT f.kind, f.customer_id, f.subject_id, f.data FROM unnest($1::text[], $2::uuid[], "
    "$3::uuid[], $4::jsonb[]) AS f(kind, customer_id, subject_id, data) "
    f"WHERE {wanted('f.kind')}"
)


async def announce(on: Executor, facts: Sequence[Fact]) -> None:
    """Write ``facts`` to the outbox in the caller's transaction (those some subscription
    wants)."""
    if not facts:
        return
    conn = await driver_connection(on)
    await conn.execute(
        _ANNOUNCE,
        [f.kind for f in facts],
        [f.customer_id for f in facts],
        [f.subject_id for f in facts],
        [None if f.data is None else json.dumps(f.data) for f in facts],
    )
