"""Webhook subscriptions, their secrets, their deliveries and each delivery's attempts."""

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, new_id


class WebhookSubscription(Base):
    """A receiver of the kinds of facts it asked for."""

    __tablename__ = "webhook_subscriptions"

    id: Mapped[UUID] = mapped_column(primary_key=True, default=new_id)
    url: Mapped[str] = mapped_column(String(2000))
    kinds: Mapped[list[str]] = mapped_column(ARRAY(Text))
    description: Mapped[str | None] = mapped_column(String(300))
    enabled: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    # Why it is disabled: "admin", or "failing" (the sender's own decision).
    disabled_reason: Mapped[str | None] = mapped_column(String(20))
    # The first failed attempt since the last success; None while it succeeds.
    failing_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class SubscriptionSecret(Base):
    """A signing secret of a subscription; several are active while one is rotated out."""

    __tablename__ = "subscription_secrets"

    id: Mapped[UUID] = mapped_column(primary_key=True, default=new_id)
    subscription_id: Mapped[UUID] = mapped_column(
        ForeignKey("webhook_subscriptions.id", ondelete="CASCADE"), index=True
    )
    secret: Mapped[str] = mapped_column(String(100))  # whsec_<base64>
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class OutboundDelivery(Base):
    """One fact for one subscription: sent until the receiver answers 2xx or the retries
    run out. Its id is the ``webhook-id`` a receiver dedupes on."""

    __tablename__ = "outbound_deliveries"
    __table_args__ = (
        # The head of each (subscription, customer) queue: what the sender may send now.
        Index(
            "ix_outbound_deliveries_pending",
            "subscription_id",
            "customer_id",
            "seq",
            postgresql_where=text("status = 'pending'"),
        ),
        Index(
            "ix_outbound_deliveries_due",
            "next_attempt_at",
            postgresql_where=text("status = 'pending'"),
        ),
        Index("ix_outbound_deliveries_subscription_id_seq", "subscription_id", "seq"),
    )

    id: Mapped[UUID] = mapped_column(primary_key=True, default=new_id)
    # The order facts were handed to the sender: a customer's deliveries go in this order.
    seq: Mapped[int] = mapped_column(BigInteger, Identity(), unique=True)
    subscription_id: Mapped[UUID] = mapped_column(
        ForeignKey("webhook_subscriptions.id", ondelete="CASCADE")
    )
    customer_id: Mapped[UUID | None] = mapped_column()
    kind: Mapped[str] = mapped_column(String(80))
    subject_id: Mapped[UUID | None] = mapped_column()
    data: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    fact_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(16))  # pending, delivered, failed
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class DeliveryAttempt(Base):
    """One request to the receiver and what came back."""

    __tablename__ = "outbound_attempts"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    delivery_id: Mapped[UUID] = mapped_column(
        ForeignKey("outbound_deliveries.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(String(300))
    response_excerpt: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int] = mapped_column(Integer)
