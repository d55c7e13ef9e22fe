"""ORM queries on alerts."""

from collections.abc import Sequence
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.alerts.models import Alert
from app.core.security import Principal
from app.customers.models import Customer
from app.customers.visibility import sees_every_contact, visible_to


class AlertRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def page(
        self,
        principal: Principal,
        *,
        status: str | None,
        owner_id: str | None,
        customer_id: UUID | None,
        limit: int,
        before: UUID | None,
    ) -> Sequence[Alert]:
        """A page of the alerts of customers ``principal`` may see, newest first (not an
        organisation's whose contact persons it cannot all see: they count them)."""
        statement = (
            select(Alert)
            .join(Customer, Customer.id == Alert.customer_id)
            .where(visible_to(principal), sees_every_contact(principal))
            .order_by(Alert.id.desc())
            .limit(limit)
        )
        if status == "open":
            statement = statement.where(Alert.cleared_at.is_(None), Alert.status == "open")
        elif status == "acknowledged":
            statement = statement.where(Alert.cleared_at.is_(None), Alert.status == "acknowledged")
        elif status == "cleared":
            statement = statement.where(Alert.cleared_at.is_not(None))
        if owner_id is not None:
            statement = statement.where(Alert.owner_id == owner_id)
        if customer_id is not None:
            statement = statement.where(Alert.customer_id == customer_id)
        if before is not None:
            statement = statement.where(Alert.id < before)
        return (await self.session.scalars(statement)).all()

    async def get_locked(self, alert_id: UUID, principal: Principal) -> Alert | None:
        """An alert of a customer ``principal`` may see (as ``page``), locked.

        Read in steps that each name the customer: on Citus alerts live by customer and a
        row is locked on one shard only (``FOR UPDATE`` by the alert's id alone is refused).
        The alert's customer, then the alert locked with its customer, whose row says
        whether the key misses one of its contact persons."""
        customer_id = await self.session.scalar(
            select(Alert.customer_id).where(Alert.id == alert_id)
        )
        if customer_id is None:
            return None
        statement = (
            select(Alert)
            .join(Customer, Customer.id == Alert.customer_id)
            .where(
                Alert.id == alert_id,
                Alert.customer_id == customer_id,
                Customer.id == customer_id,
                visible_to(principal),
                sees_every_contact(principal),
            )
            .with_for_update(of=Alert)
        )
        return (await self.session.scalars(statement)).first()

    async def get_many(self, alert_ids: Sequence[UUID]) -> Sequence[Alert]:
        return (await self.session.scalars(select(Alert).where(Alert.id.in_(alert_ids)))).all()
