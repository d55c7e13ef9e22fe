"""Queries on raw webhook deliveries."""

from collections.abc import Sequence
from uuid import UUID

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import driver_connection, new_id
from app.ingest.models import WebhookDelivery

# The ingestion hot path: one prepared insert that also tells a retry from a first delivery.
_RECORD = (
    "INSERT INTO webhook_deliveries (id, source, delivery_id, url, headers, body, status) "
    "VALUES ($1, $2, $3, $4, $5::jsonb, $6, 'received') "
    "ON CONFLICT (source, delivery_id) DO NOTHING RETURNING id"
)
_FINISH = (
    "UPDATE webhook_deliveries SET status = $2, error = $3, event_count = $4, "
    "processed_at = now() WHERE id = $1"
)


class DeliveryRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def record(
        self, source: str, delivery_id: str, url: str, headers: str, body: bytes
    ) -> UUID | None:
        """Store a delivery; None when this (source, delivery id) was stored before."""
        conn = await driver_connection(self.session)
        value = await conn.fetchval(_RECORD, new_id(), source, delivery_id, url, headers, body)
        return value if value is None else UUID(str(value))

    async def finish(self, row_id: UUID, status: str, error: str | None, event_count: int) -> None:
        conn = await driver_connection(self.session)
        await conn.execute(_FINISH, row_id, status, error, event_count)

    async def get_for_update(self, row_id: UUID) -> WebhookDelivery | None:
        statement = select(WebhookDelivery).where(WebhookDelivery.id == row_id).with_for_update()
        return (await self.session.scalars(statement)).one_or_none()

    async def count_attempt(self, row_id: UUID) -> None:
        await self.session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id == row_id)
            .values(attempts=WebhookDelivery.attempts + 1)
            .execution_options(synchronize_session=False)
        )

    async def refresh(self, delivery: WebhookDelivery) -> None:
        await self.session.refresh(delivery)

    async def page(
        self, *, source: str | None, status: str | None, limit: int, before: UUID | None
    ) -> Sequence[WebhookDelivery]:
        statement = select(WebhookDelivery).order_by(WebhookDelivery.id.desc()).limit(limit)
        if source is not None:
            statement = statement.where(WebhookDelivery.source == source)
        if status is not None:
            statement = statement.where(WebhookDelivery.status == status)
        if before is not None:
            statement = statement.where(WebhookDelivery.id < before)
        return (await self.session.scalars(statement)).all()
