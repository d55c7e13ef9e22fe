"""Follow-up tasks: one row per task, on one customer."""

from datetime import datetime
from uuid import UUID

from sqlalchemy import (
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, StrEnumColumn, new_id
from app.tasks.schemas import TaskStatus


class Task(Base):
    """Something an agent must do about a customer, by a time: open, snoozed until a time,
    or done. Keyed by customer as every history table is (a distributed schema)."""

    __tablename__ = "tasks"
    __table_args__ = (
        PrimaryKeyConstraint("customer_id", "id"),
        CheckConstraint("status IN ('open', 'snoozed', 'done')", name="status"),
        Index("ix_tasks_id", "id"),
        Index("ix_tasks_assignee_status_due_at", "assignee", "status", "due_at"),
        # One task per alert: the follow-up action runs at every pass.
        Index(
            "uq_tasks_alert_id",
            "customer_id",
            "alert_id",
            unique=True,
            postgresql_where=text("alert_id IS NOT NULL"),
        ),
    )

    id: Mapped[UUID] = mapped_column(default=new_id)
    customer_id: Mapped[UUID] = mapped_column(ForeignKey("customers.id"))
    title: Mapped[str] = mapped_column(String(300))
    assignee: Mapped[str | None] = mapped_column(String(200))  # an agent id
    due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    status: Mapped[TaskStatus] = mapped_column(StrEnumColumn(TaskStatus, 16), server_default="open")
    snoozed_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    alert_id: Mapped[UUID | None] = mapped_column()  # the alert it was created from
    created_by: Mapped[str | None] = mapped_column(String(200))  # the agent, None: the service
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    completed_by: Mapped[str | None] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
