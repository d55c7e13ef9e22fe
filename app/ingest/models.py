"""Raw webhook deliveries: every body a platform sent, kept whatever became of it."""

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import (
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    PrimaryKeyConstraint,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, StrEnumColumn, new_id
from app.customers.identifiers import IdentifierKind


class WebhookDelivery(Base):
    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        # A platform's delivery is stored once: the key (and the shard key of this table).
        PrimaryKeyConstraint("source", "delivery_id"),
        Index("ix_webhook_deliveries_id", "id"),
        Index("ix_webhook_deliveries_status_received_at", "status", "received_at"),
        Index(
            "ix_webhook_deliveries_awaits",
            "awaits_scope",
            "awaits_key",
            postgresql_where=text("awaits_key IS NOT NULL"),
        ),
    )

    id: Mapped[UUID] = mapped_column(default=new_id)
    source: Mapped[str] = mapped_column(String(50))
    delivery_id: Mapped[str] = mapped_column(String(300))
    received_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    url: Mapped[str] = mapped_column(Text)
    headers: Mapped[dict[str, Any]] = mapped_column(JSONB)
    body: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(16))  # processed | ignored | failed
    error: Mapped[str | None] = mapped_column(Text)
    event_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    processed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    erased_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # body wiped
    # A failed delivery that names an event not recorded yet keeps that event's key
    # (scope = its source, key = its source_event_id) and is replayed when it is stored.
    awaits_scope: Mapped[str | None] = mapped_column(String(200))
    awaits_key: Mapped[str | None] = mapped_column(String(300))


class DeliveryCustomer(Base):
    """A customer a delivery concerns: those its events went to and, for a failed one,
    whoever its identifiers name. Exports and erasures find deliveries by it."""

    __tablename__ = "delivery_customers"
    __table_args__ = (
        PrimaryKeyConstraint("customer_id", "delivery_id"),
        Index("ix_delivery_customers_delivery_id", "delivery_id"),
    )

    customer_id: Mapped[UUID] = mapped_column(ForeignKey("customers.id"))
    delivery_id: Mapped[UUID] = mapped_column()  # webhook_deliveries.id


class DeliveryIdentifier(Base):
    """An identifier a failed delivery names (normalised), held by a customer or not yet:
    whoever holds it later finds the delivery in their export, and their erasure wipes it.
    A delivery that failed recorded no event and created no customer, so a link to a
    customer alone would miss a sender who became one afterwards."""

    __tablename__ = "delivery_identifiers"
    __table_args__ = (
        PrimaryKeyConstraint("delivery_id", "person", "kind", "value"),
        Index("ix_delivery_identifiers_kind_value", "kind", "value"),
    )

    delivery_id: Mapped[UUID] = mapped_column()  # webhook_deliveries.id
    # Which of the people it names (one per customer reference of its events): the
    # identifiers of one reference name one person, whose export may show the body.
    person: Mapped[int] = mapped_column(Integer)
    kind: Mapped[IdentifierKind] = mapped_column(StrEnumColumn(IdentifierKind, 16))
    value: Mapped[str] = mapped_column(String(320))
