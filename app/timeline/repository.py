"""ORM queries on events and merges."""

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.timeline.models import CustomerMerge, Event


class TimelineRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, event_id: UUID) -> Event | None:
        return (await self.session.scalars(select(Event).where(Event.id == event_id))).first()

    async def get_many(self, event_ids: Sequence[UUID]) -> Sequence[Event]:
        return (await self.session.scalars(select(Event).where(Event.id.in_(event_ids)))).all()

    async def recorded_since(
        self, customer_ids: Sequence[UUID], since: datetime
    ) -> Sequence[Event]:
        statement = (
            select(Event)
            .where(Event.customer_id.in_(customer_ids), Event.recorded_at >= since)
            .order_by(Event.recorded_at, Event.id)
            .limit(10_000)
        )
        return (await self.session.scalars(statement)).all()

    async def count_by_type(self, customer_ids: Sequence[UUID]) -> dict[str, int]:
        rows = await self.session.execute(
            select(Event.type, func.count())
            .where(Event.customer_id.in_(customer_ids))
            .group_by(Event.type)
            .order_by(Event.type)
        )
        return {type_: count for type_, count in rows}

    async def add_merge(self, merge: CustomerMerge) -> CustomerMerge:
        self.session.add(merge)
        await self.session.flush()
        return merge

    async def open_merge(self, survivor_id: UUID, absorbed_id: UUID) -> CustomerMerge | None:
        statement = (
            select(CustomerMerge)
            .where(
                CustomerMerge.survivor_id == survivor_id,
                CustomerMerge.absorbed_id == absorbed_id,
                CustomerMerge.unmerged_at.is_(None),
            )
            .order_by(CustomerMerge.merged_at.desc())
            .with_for_update()
        )
        return (await self.session.scalars(statement)).first()
