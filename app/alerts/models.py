"""Alerts: one row per episode of a rule holding for a customer."""

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import (
    BigInteger,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    PrimaryKeyConstraint,
    String,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, new_id


class Alert(Base):
    """One episode of a rule holding for a customer: raised once, acknowledged, cleared."""

    __tablename__ = "alerts"
    __table_args__ = (
        PrimaryKeyConstraint("customer_id", "id"),
        Index("ix_alerts_id", "id"),
        Index("ix_alerts_status_raised_at", "status", "raised_at"),
        Index(
            "uq_alerts_open_episode",
            "customer_id",
            "rule",
            unique=True,
            postgresql_where=text("cleared_at IS NULL"),
        ),
    )

    id: Mapped[UUID] = mapped_column(default=new_id)
    customer_id: Mapped[UUID] = mapped_column(ForeignKey("customers.id"))
    rule: Mapped[str] = mapped_column(String(80))
    code: Mapped[str] = mapped_column(String(80))
    severity: Mapped[str] = mapped_column(String(10))
    title: Mapped[str] = mapped_column(String(300))
    detail: Mapped[dict[str, Any]] = mapped_column(JSONB)
    # The customer's owner; open alerts go with the customer to a new owner (a trigger).
    owner_id: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), server_default="open")  # open, acknowledged
    raised_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    acknowledged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    acknowledged_by: Mapped[str | None] = mapped_column(String(200))  # the agent
    acknowledged_by_key_id: Mapped[UUID | None] = mapped_column()
    cleared_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class AlertChange(Base):
    """One change of an alert (raised, acknowledged, cleared), in the order written: what
    the live alert stream sends and resumes from."""

    __tablename__ = "alert_changes"
    __table_args__ = (Index("ix_alert_changes_recorded_at", "recorded_at"),)

    seq: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    alert_id: Mapped[UUID] = mapped_column()
    customer_id: Mapped[UUID] = mapped_column()
    kind: Mapped[str] = mapped_column(String(20))  # raised, acknowledged, cleared
    # When the row was written (the database's now): a resumed stream replays a window.
    recorded_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
