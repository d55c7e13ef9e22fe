"""ORM queries on follow-up tasks."""

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from sqlalchemy import ColumnElement, and_, cast, func, literal, or_, select, tuple_
from sqlalchemy.dialects.postgresql import TIMESTAMP
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.security import Principal
from app.customers.models import Customer
from app.customers.visibility import sees_every_contact, visible_to
from app.tasks.models import Task
from app.tasks.schemas import TaskStatus

# Tasks without a due time come after every dated one.
_LAST = cast(literal("infinity"), TIMESTAMP(timezone=True))


def due_order() -> ColumnElement[datetime]:
    return func.coalesce(Task.due_at, _LAST)


def in_status(status: TaskStatus, now: datetime) -> ColumnElement[bool]:
    """Tasks that read ``status`` at ``now``: a snooze whose time has come reads open."""
    woken = and_(Task.status == TaskStatus.SNOOZED, Task.snoozed_until <= now)
    if status == TaskStatus.OPEN:
        return or_(Task.status == TaskStatus.OPEN, woken)
    if status == TaskStatus.SNOOZED:
        return and_(Task.status == TaskStatus.SNOOZED, Task.snoozed_until > now)
    return Task.status == TaskStatus.DONE


def readable(principal: Principal) -> ColumnElement[bool]:
    """The tasks ``principal`` may read: those of the customers it sees, but a follow-up of
    an alert only where it may read the alert (it copies its title: ``visibility.py``)."""
    return and_(visible_to(principal), or_(Task.alert_id.is_(None), sees_every_contact(principal)))


class TaskRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, task: Task) -> Task:
        self.session.add(task)
        await self.session.flush()
        return task

    async def page(
        self,
        principal: Principal,
        *,
        now: datetime,
        assignee: str | None,
        status: TaskStatus | None,
        customer_id: UUID | None,
        due_before: datetime | None,
        after: tuple[datetime | None, UUID] | None,
        limit: int,
    ) -> Sequence[Task]:
        """Tasks ``principal`` may read (:func:`readable`), soonest due first."""
        statement = (
            select(Task)
            .join(Customer, Customer.id == Task.customer_id)
            .where(readable(principal))
            .order_by(due_order(), Task.id)
            .limit(limit)
        )
        if assignee is not None:
            statement = statement.where(Task.assignee == assignee)
        if status is not None:
            statement = statement.where(in_status(status, now))
        if customer_id is not None:
            statement = statement.where(Task.customer_id == customer_id)
        if due_before is not None:
            statement = statement.where(Task.due_at < due_before)
        if after is not None:
            due, last = after  # no due time: after every dated task
            position = tuple_(_LAST if due is None else due, last)
            statement = statement.where(tuple_(due_order(), Task.id) > position)
        return (await self.session.scalars(statement)).all()

    async def get(self, task_id: UUID, principal: Principal, *, lock: bool) -> Task | None:
        """A task ``principal`` may read (:func:`readable`), locked for a change. Its
        customer is read first and named: on Citus tasks live by customer, and a row is
        locked on one shard only (``FOR UPDATE`` by the task's id alone is refused)."""
        customer_id = await self.session.scalar(select(Task.customer_id).where(Task.id == task_id))
        if customer_id is None:
            return None
        statement = (
            select(Task)
            .join(Customer, Customer.id == Task.customer_id)
            .where(
                Task.id == task_id,
                Task.customer_id == customer_id,
                Customer.id == customer_id,
                readable(principal),
            )
        )
        if lock:
            statement = statement.with_for_update(of=Task)
        return (await self.session.scalars(statement)).first()

    async def alerts_followed(self, pairs: Sequence[tuple[UUID, UUID]]) -> set[tuple[UUID, UUID]]:
        """Those (customer, alert) pairs that already have a task."""
        if not pairs:
            return set()
        rows = await self.session.execute(
            select(Task.customer_id, Task.alert_id).where(
                tuple_(Task.customer_id, Task.alert_id).in_(pairs)
            )
        )
        return {(c, a) for c, a in rows if a is not None}
