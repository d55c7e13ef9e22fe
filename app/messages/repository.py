"""ORM queries on message templates and messages."""

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from sqlalchemy import ColumnElement, and_, not_, or_, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.security import Principal
from app.customers.models import Customer
from app.customers.visibility import sees_every_contact
from app.messages import queries
from app.messages.models import INCIDENT_ORIGIN, Message, MessageTemplate


def readable(principal: Principal) -> ColumnElement[bool]:
    """The messages of a visible customer ``principal`` may read: a rule's message for an
    alert, or an incident's, only where it may read the alert or the incident's count (its
    texts, its sending tell them: ``visibility.py``)."""
    return or_(
        and_(Message.alert_id.is_(None), not_(Message.origin.startswith(INCIDENT_ORIGIN))),
        select(Customer.id)
        .where(Customer.id == Message.customer_id, sees_every_contact(principal))
        .exists(),
    )


class MessageRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def template(self, name: str) -> MessageTemplate | None:
        return await self.session.get(MessageTemplate, name)

    async def templates(self) -> Sequence[MessageTemplate]:
        return (await self.session.scalars(select(MessageTemplate).order_by("name"))).all()

    async def put_template(self, template: MessageTemplate) -> MessageTemplate:
        return await self.session.merge(template)

    async def add(self, message: Message) -> bool:
        """Queue a message; False when one with its ``dedupe`` key is already there."""
        values = {
            c.key: getattr(message, c.key)
            for c in Message.__table__.columns
            if getattr(message, c.key) is not None
        }
        inserted = await self.session.execute(
            insert(Message)
            .values(**values)
            .on_conflict_do_nothing(
                index_elements=["customer_id", "dedupe"],
                index_where=Message.dedupe.is_not(None),
            )
            .returning(Message.id)
        )
        return inserted.first() is not None

    async def dedupe_keys(self, keys: Sequence[tuple[UUID, str]]) -> set[tuple[UUID, str]]:
        """Which (customer, dedupe key) pairs have a message already."""
        if not keys:
            return set()
        rows = await self.session.execute(
            select(Message.customer_id, Message.dedupe).where(
                tuple_(Message.customer_id, Message.dedupe).in_(list(keys))
            )
        )
        return {(customer_id, dedupe) for customer_id, dedupe in rows if dedupe}

    async def due(self, now: datetime, limit: int) -> Sequence[Message]:
        """Queued messages whose time has come, oldest first, locked; those another
        sender holds are skipped (:func:`queries.lock_due`)."""
        locked = await queries.lock_due(self.session, now, limit)
        if not locked:
            return []
        rows = await self.session.scalars(
            select(Message)
            .where(
                Message.customer_id.in_(list(locked)),
                Message.id.in_([i for ids in locked.values() for i in ids]),
            )
            .order_by(Message.not_before, Message.id)
        )
        return rows.all()

    async def fail(self, message_id: UUID, reason: str, now: datetime) -> None:
        """Mark a message failed without loading it (its object may be expired)."""
        await self.session.execute(
            update(Message)
            .where(Message.id == message_id)
            .values(status="failed", reason=reason, status_at=now)
            .execution_options(synchronize_session=False)
        )

    async def get(
        self, message_id: UUID, principal: Principal | None = None, *, lock: bool = False
    ) -> Message | None:
        """A message (one ``principal`` may read, when named). Its customer is read first
        and named: on Citus messages live by customer, and a row is locked on one shard
        only (``FOR UPDATE`` by the message's id alone is refused)."""
        customer_id = await self.session.scalar(
            select(Message.customer_id).where(Message.id == message_id)
        )
        if customer_id is None:
            return None
        statement = select(Message).where(
            Message.id == message_id, Message.customer_id == customer_id
        )
        if principal is not None:
            statement = statement.where(readable(principal))
        if lock:
            statement = statement.with_for_update()
        return (await self.session.scalars(statement)).first()

    async def page(
        self, customer_ids: Sequence[UUID], principal: Principal, limit: int, before: UUID | None
    ) -> Sequence[Message]:
        """A page of the messages to these customers ``principal`` may read, newest first."""
        statement = (
            select(Message)
            .where(Message.customer_id.in_(list(customer_ids)), readable(principal))
            .order_by(Message.id.desc())
            .limit(limit)
        )
        if before is not None:
            statement = statement.where(Message.id < before)
        return (await self.session.scalars(statement)).all()

    async def by_provider_id(self, provider: str, provider_message_id: str) -> Message | None:
        """The message a provider names, locked. Found without a lock, then locked on its
        customer, as ``get`` does: a lock by the provider's id alone spans every shard."""
        by_provider = (Message.provider_message_id == provider_message_id) & (
            Message.provider == provider
        )
        found = (
            await self.session.execute(
                select(Message.customer_id, Message.id).where(by_provider).limit(1)
            )
        ).first()
        if found is None:
            return None
        statement = select(Message).where(
            Message.customer_id == found.customer_id, Message.id == found.id, by_provider
        )
        return (await self.session.scalars(statement.with_for_update())).first()

    async def callback_offer(self, customer_id: UUID, since: datetime) -> Message | None:
        """The latest message to the customer since ``since`` that offered a callback not
        yet asked for."""
        statement = (
            select(Message)
            .where(
                Message.customer_id == customer_id,
                Message.callback_token.is_not(None),
                Message.callback_at.is_(None),
                Message.sent_at >= since,
            )
            .order_by(Message.sent_at.desc())
            .limit(1)
            .with_for_update()
        )
        return (await self.session.scalars(statement)).first()
