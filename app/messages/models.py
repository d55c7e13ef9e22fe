"""Message templates, and the messages to customers: queued, sent, and what became of them."""

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import (
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, new_id

# The origin of the messages an incident sends: this, then its id.
INCIDENT_ORIGIN = "incident:"


class MessageTemplate(Base):
    """A message's texts in every language, editable at run time."""

    __tablename__ = "message_templates"
    __table_args__ = (CheckConstraint("purpose IN ('service', 'marketing')", name="purpose"),)

    name: Mapped[str] = mapped_column(String(80), primary_key=True)
    purpose: Mapped[str] = mapped_column(String(16))
    fields: Mapped[list[str]] = mapped_column(JSONB)
    texts: Mapped[dict[str, dict[str, str]]] = mapped_column(JSONB)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Message(Base):
    """One message to a customer: queued until it may be sent (``not_before``), then sent
    on the channel chosen at that moment, or skipped, cancelled or failed, saying why."""

    __tablename__ = "messages"
    __table_args__ = (
        PrimaryKeyConstraint("customer_id", "id"),
        CheckConstraint(
            "status IN ('queued', 'sent', 'delivered', 'failed', 'skipped', 'cancelled')",
            name="status",
        ),
        Index("ix_messages_id", "id"),
        # What the sender picks up: the queued, by when they may go.
        Index("ix_messages_due", "not_before", postgresql_where=text("status = 'queued'")),
        # A journey messages a customer once per alert or incident.
        Index(
            "uq_messages_dedupe",
            "customer_id",
            "dedupe",
            unique=True,
            postgresql_where=text("dedupe IS NOT NULL"),
        ),
        Index(
            "ix_messages_provider_message_id",
            "provider_message_id",
            postgresql_where=text("provider_message_id IS NOT NULL"),
        ),
    )

    id: Mapped[UUID] = mapped_column(default=new_id)
    customer_id: Mapped[UUID] = mapped_column(ForeignKey("customers.id"))
    template: Mapped[str] = mapped_column(String(80))
    purpose: Mapped[str] = mapped_column(String(16))
    fields: Mapped[dict[str, Any]] = mapped_column(JSONB)
    origin: Mapped[str] = mapped_column(String(200))  # api:<key id>, rule:<rule>, incident:<id>
    dedupe: Mapped[str | None] = mapped_column(String(200))
    alert_id: Mapped[UUID | None] = mapped_column()  # sent only while this alert is open
    status: Mapped[str] = mapped_column(String(16), server_default="queued")
    reason: Mapped[str | None] = mapped_column(Text)
    not_before: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    channel: Mapped[str | None] = mapped_column(String(16))
    language: Mapped[str | None] = mapped_column(String(8))
    provider: Mapped[str | None] = mapped_column(String(20))
    provider_message_id: Mapped[str | None] = mapped_column(String(200))
    # SHA-256 of the secret in the message's callback link, when it offers one (the link
    # names the message too, so it is found by id).
    callback_token: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # When the customer asked for the callback it offered (callback.requested).
    callback_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    status_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
