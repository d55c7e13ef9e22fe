"""Export, erasure and retention of customers' personal data; who read it."""

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from uuid import UUID

from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.access import access_log
from app.core.clock import Clock
from app.core.config import Settings
from app.core.db import Database, new_id
from app.core.errors import EXAMPLE_ID, Conflict
from app.core.pagination import cursor_id, keyset_page
from app.core.security import Principal
from app.customers import service as customers
from app.customers.schemas import CustomerOut, CustomerStatus
from app.indicators import service as indicators
from app.privacy import queries
from app.privacy.schemas import (
    AccessEntry,
    AccessPage,
    ErasureIn,
    ErasureReceipt,
    RetentionPolicy,
    RetentionReport,
)


class CustomerMergedFields(BaseModel):
    survivor_id: UUID = Field(description="The customer it was merged into: ask that one")


class CustomerMerged(Conflict):
    """The customer was merged into another: privacy requests are made on the survivor,
    which holds the history."""

    code = "customer-merged"
    title = "Customer merged"
    Extension = CustomerMergedFields
    example = (
        f"Customer {EXAMPLE_ID} was merged into {EXAMPLE_ID}; erase that customer.",
        {"survivor_id": EXAMPLE_ID},
    )


async def _not_merged_away(
    session: AsyncSession, customer_id: UUID, principal: Principal, verb: str
) -> CustomerOut:
    """The customer; 404 when unknown, 409 naming the survivor when it was merged away
    (privacy requests are made on the record that holds the history)."""
    customer = await customers.get_customer(session, customer_id, principal)
    if customer.status == CustomerStatus.MERGED:
        survivor = await customers.survivor_id(session, customer.id)
        raise CustomerMerged(
            f"Customer {customer_id} was merged into {survivor}; {verb} that customer.",
            extra={"survivor_id": str(survivor)},
        )
    return customer


async def access_page(
    session: AsyncSession,
    customer_id: UUID,
    principal: Principal,
    *,
    limit: int,
    cursor: str | None,
) -> AccessPage:
    """Who read a customer's data, newest first; 404 for a customer the caller cannot see."""
    customer = await customers.get_customer(session, customer_id, principal)
    before = cursor_id(cursor, "before")
    rows = await access_log(session, customer.id, limit=limit + 1, before=before)
    page, next_cursor = keyset_page(rows, limit, lambda r: {"before": str(r.id)})
    return AccessPage(
        items=[AccessEntry.model_validate(r, from_attributes=True) for r in page],
        next_cursor=next_cursor,
    )


async def export_family(
    session: AsyncSession, customer_id: UUID, principal: Principal
) -> list[UUID]:
    """The customer (first) and everyone merged into it."""
    customer = await _not_merged_away(session, customer_id, principal, "export")
    family = await customers.family(session, customer.id)
    return [customer.id, *(member for member in family if member != customer.id)]


async def export_stream(
    database: Database, family: list[UUID], clock: Clock
) -> AsyncIterator[bytes]:
    """The export document, streamed in pieces of about 64 KiB."""
    header = json.dumps({"exported_at": clock.now().isoformat(), "customer_id": str(family[0])})
    buffer: list[str] = []
    size = 0
    async for piece in queries.export_document(database, family, header[:-1]):
        buffer.append(piece)
        size += len(piece)
        if size >= 65536:
            yield "".join(buffer).encode()
            buffer, size = [], 0
    yield "".join(buffer).encode()


async def erase(
    database: Database,
    customer_id: UUID,
    request: ErasureIn,
    principal: Principal,
    settings: Settings,
    clock: Clock,
) -> ErasureReceipt:
    """Remove the customer's personal data everywhere (the words its messages' analyses
    matched included); the history keeps what is not personal, and the stats are rebuilt
    from it. Repeating an erasure is harmless, and finishes one a failure interrupted.

    Two transactions, one role each: on Citus a shard that one user changed cannot be
    read or changed over another user's connection in the same transaction (``25001``;
    docs/scaling.md). The erasure function, as the tables' owner, makes every change of
    the erasure itself (the customer, its history, deliveries, identifiers, keys, text
    analyses and messages, the ``customer.erased`` event, its outbox fact and the access
    notification) and commits; then the service, as its login, rebuilds the stats from
    what is kept. The rebuild is made on a repeated request too: a failure between the
    two leaves the stats as they were (a failed payment's reason among them) until the
    request, which got no receipt, is made again.

    ``erased_at`` (the receipt, the wiped deliveries, the ``customer.erased`` event) is the
    erasure function's own ``now()``: the moment the database made the change, a record
    that no decision reads."""
    async with database.sessionmaker() as session, session.begin():
        customer = await _not_merged_away(session, customer_id, principal, "erase")
        receipt = await queries.erase(
            session, customer.id, new_id(), request.reason, request.requested_at
        )
    async with database.sessionmaker() as session, session.begin():
        await indicators.rebuild(session, [customer.id], settings, clock)
    return ErasureReceipt(customer_id=customer.id, **receipt)


# The name the retention policy is stored under, beside the rules and routing.
RETENTION = "retention"


async def retention_policy(session: AsyncSession) -> RetentionPolicy:
    stored = await indicators.stored_policy(session, RETENTION)
    return RetentionPolicy.model_validate(stored or {})


async def put_retention_policy(session: AsyncSession, policy: RetentionPolicy) -> RetentionPolicy:
    await indicators.put_policy(session, RETENTION, policy.model_dump(mode="json"))
    return policy


async def expire_batch(
    session: AsyncSession, policy: RetentionPolicy, limit: int, settings: Settings, clock: Clock
) -> RetentionReport:
    """One bounded pass of retention, in the caller's transaction: at most ``limit`` rows
    of each kind go, rows other transactions hold are skipped (ingestion goes on). What
    is older than the policy's days before the clock's now has expired."""
    now = clock.now()
    deliveries = await queries.expire_deliveries(
        session, now - timedelta(days=policy.deliveries_days), limit
    )
    access = await queries.expire_access_log(
        session, now - timedelta(days=policy.access_log_days), limit
    )
    events: dict[str, int] = {}
    shrunk: set[UUID] = set()
    for type_, days in sorted(policy.event_days.items()):
        removed, whose = await queries.expire_events(
            session, type_, now - timedelta(days=days), limit
        )
        if removed:
            events[type_] = removed
            shrunk |= whose
    if shrunk:
        # A merged-away customer's events stay under its id, but its history is counted
        # in the survivor's indicators: rebuild those.
        shrunk = await customers.survivors(session, sorted(shrunk))
        await indicators.rebuild(session, sorted(shrunk), settings, clock)
    return RetentionReport(
        deliveries=deliveries, access_log=access, events=events, customers_rebuilt=len(shrunk)
    )
