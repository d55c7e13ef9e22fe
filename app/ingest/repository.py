"""ORM queries on raw webhook deliveries."""

from collections.abc import Sequence
from uuid import UUID

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.ingest.models import WebhookDelivery


class DeliveryRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get_for_update(self, row_id: UUID) -> WebhookDelivery | None:
        """The delivery, its row locked by an UPDATE that changes nothing: the table is
        spread by delivery id on Citus, which takes no FOR UPDATE lock across shards."""
        statement = (
            update(WebhookDelivery)
            .where(WebhookDelivery.id == row_id)
            .values(attempts=WebhookDelivery.attempts)
            .returning(WebhookDelivery)
            # The outcome of a processing is written by a driver statement: read it afresh.
            .execution_options(populate_existing=True, synchronize_session=False)
        )
        return (await self.session.scalars(statement)).one_or_none()

    async def count_attempt(self, row_id: UUID) -> None:
        await self.session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id == row_id)
            .values(attempts=WebhookDelivery.attempts + 1)
            .execution_options(synchronize_session=False)
        )

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
