"""ORM queries on subscriptions, their secrets, deliveries and attempts."""

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from sqlalchemy import delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.outbound.models import (
    DeliveryAttempt,
    OutboundDelivery,
    SubscriptionSecret,
    WebhookSubscription,
)


class SubscriptionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, subscription: WebhookSubscription) -> WebhookSubscription:
        self.session.add(subscription)
        await self.session.flush()
        return subscription

    async def get(self, subscription_id: UUID) -> WebhookSubscription | None:
        return await self.session.get(WebhookSubscription, subscription_id)

    async def get_locked(self, subscription_id: UUID) -> WebhookSubscription | None:
        return await self.session.get(WebhookSubscription, subscription_id, with_for_update=True)

    async def page(self, limit: int, after: UUID | None) -> Sequence[WebhookSubscription]:
        """Oldest first."""
        statement = select(WebhookSubscription).order_by(WebhookSubscription.id).limit(limit)
        if after is not None:
            statement = statement.where(WebhookSubscription.id > after)
        return (await self.session.scalars(statement)).all()

    async def delete(self, subscription: WebhookSubscription) -> None:
        await self.session.delete(subscription)
        await self.session.flush()

    async def add_secret(self, secret: SubscriptionSecret) -> SubscriptionSecret:
        self.session.add(secret)
        await self.session.flush()
        return secret

    async def active_secrets(
        self, subscription_ids: Sequence[UUID], now: datetime
    ) -> Sequence[SubscriptionSecret]:
        """The secrets that sign now, oldest first; expired ones are removed on the way."""
        await self.session.execute(
            delete(SubscriptionSecret).where(
                SubscriptionSecret.subscription_id.in_(subscription_ids),
                SubscriptionSecret.expires_at <= now,
            )
        )
        statement = (
            select(SubscriptionSecret)
            .where(SubscriptionSecret.subscription_id.in_(subscription_ids))
            .order_by(SubscriptionSecret.created_at, SubscriptionSecret.id)
        )
        return (await self.session.scalars(statement)).all()

    async def expire_secrets(self, subscription_id: UUID, at: datetime) -> None:
        """Every secret that would sign past ``at`` stops then."""
        for secret in await self.session.scalars(
            select(SubscriptionSecret).where(
                SubscriptionSecret.subscription_id == subscription_id,
                or_(SubscriptionSecret.expires_at.is_(None), SubscriptionSecret.expires_at > at),
            )
        ):
            secret.expires_at = at
        await self.session.flush()


class DeliveryRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, delivery: OutboundDelivery) -> OutboundDelivery:
        self.session.add(delivery)
        await self.session.flush()
        return delivery

    async def page(
        self, subscription_id: UUID, status: str | None, limit: int, before: int | None
    ) -> Sequence[OutboundDelivery]:
        """A subscription's deliveries, newest first."""
        statement = (
            select(OutboundDelivery)
            .where(OutboundDelivery.subscription_id == subscription_id)
            .order_by(OutboundDelivery.seq.desc())
            .limit(limit)
        )
        if status is not None:
            statement = statement.where(OutboundDelivery.status == status)
        if before is not None:
            statement = statement.where(OutboundDelivery.seq < before)
        return (await self.session.scalars(statement)).all()

    async def get(
        self, subscription_id: UUID, delivery_id: UUID, *, locked: bool = False
    ) -> OutboundDelivery | None:
        statement = select(OutboundDelivery).where(
            OutboundDelivery.id == delivery_id, OutboundDelivery.subscription_id == subscription_id
        )
        if locked:
            statement = statement.with_for_update()
        return (await self.session.scalars(statement)).first()

    async def attempts(self, delivery_id: UUID) -> Sequence[DeliveryAttempt]:
        statement = (
            select(DeliveryAttempt)
            .where(DeliveryAttempt.delivery_id == delivery_id)
            .order_by(DeliveryAttempt.id)
        )
        return (await self.session.scalars(statement)).all()
