"""The append-only events table, its idempotency keys and the record of merges."""

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import DateTime, ForeignKey, Index, PrimaryKeyConstraint, String, Uuid, func, text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, StrEnumColumn, new_id
from app.timeline.catalog import Channel, Direction


class Event(Base):
    """One immutable fact on a customer's timeline (UPDATE and DELETE refused by a trigger)."""

    __tablename__ = "events"
    __table_args__ = (
        # The customer first (the shard key), then time: the key is the timeline's index.
        PrimaryKeyConstraint("customer_id", "occurred_at", "id"),
        Index("ix_events_id", "id"),
        Index("ix_events_customer_recorded", "customer_id", "recorded_at"),
        Index(
            "ix_events_corrects_id", "corrects_id", postgresql_where=text("corrects_id IS NOT NULL")
        ),
        Index(
            "ix_events_delivery_id", "delivery_id", postgresql_where=text("delivery_id IS NOT NULL")
        ),
    )

    id: Mapped[UUID] = mapped_column(default=new_id)
    customer_id: Mapped[UUID] = mapped_column(ForeignKey("customers.id"))
    type: Mapped[str] = mapped_column(String(100))
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    recorded_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    channel: Mapped[Channel] = mapped_column(StrEnumColumn(Channel, 16))
    direction: Mapped[Direction | None] = mapped_column(StrEnumColumn(Direction, 16))
    source: Mapped[str] = mapped_column(String(100))
    source_event_id: Mapped[str | None] = mapped_column(String(300))
    actor: Mapped[str | None] = mapped_column(String(200))
    summary: Mapped[str] = mapped_column(String(280))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    corrects_id: Mapped[UUID | None] = mapped_column()
    delivery_id: Mapped[UUID | None] = mapped_column()  # the webhook delivery it came from


class EventKey(Base):
    """Idempotency: one row per (scope, key), naming the event it produced; unique by the
    key's digest (``ch_erased_key``), which an erasure keeps when it replaces the key by it
    (migration 0033)."""

    __tablename__ = "event_keys"

    scope: Mapped[str] = mapped_column(String(200), primary_key=True)
    digest: Mapped[str] = mapped_column(String(80), primary_key=True)
    key: Mapped[str] = mapped_column(String(300))
    event_id: Mapped[UUID] = mapped_column()
    request_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class CustomerMerge(Base):
    """A merge, with exactly what moved, so that it can be undone."""

    __tablename__ = "customer_merges"
    __table_args__ = (Index("ix_customer_merges_survivor_absorbed", "survivor_id", "absorbed_id"),)

    id: Mapped[UUID] = mapped_column(primary_key=True, default=new_id)
    # A table copied to every node names distributed customers: no foreign keys
    # (migration 0029); the merge that writes it holds both locked.
    survivor_id: Mapped[UUID] = mapped_column()
    absorbed_id: Mapped[UUID] = mapped_column()
    identifier_ids: Mapped[list[UUID]] = mapped_column(ARRAY(Uuid()))
    actor: Mapped[str | None] = mapped_column(String(200))
    # The absorbed customer's owner before it took the survivor's; an unmerge gives it back.
    absorbed_owner_id: Mapped[str | None] = mapped_column(String(200))
    merged_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    unmerged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
