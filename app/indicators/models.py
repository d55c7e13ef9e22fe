"""Per-customer stats kept by the fold, and the stored policies (rules, routing,
retention)."""

from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from sqlalchemy import (
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, StrEnumColumn
from app.indicators.shapes import ChurnLevel, ValueSegment


class CustomerStats(Base):
    """The fold of a customer's history, kept current by every append (see state.py)."""

    __tablename__ = "customer_stats"
    __table_args__ = (
        Index("ix_customer_stats_value_segment", "value_segment"),
        Index("ix_customer_stats_churn_risk", "churn_risk"),
        Index("ix_customer_stats_flags", "flags", postgresql_using="gin"),
        Index("ix_customer_stats_last_purchase_at", "last_purchase_at"),
        Index(
            "ix_customer_stats_reevaluate_at",
            "reevaluate_at",
            postgresql_where=text("reevaluate_at IS NOT NULL"),
        ),
        # Rewritten on every batch that names the customer: kept uncompressed up to a
        # page (migration 0032, docs/performance.md).
        {"postgresql_with": {"toast_tuple_target": 8160}},
    )

    customer_id: Mapped[UUID] = mapped_column(ForeignKey("customers.id"), primary_key=True)
    state: Mapped[dict[str, Any]] = mapped_column(JSONB)
    indicators: Mapped[dict[str, Any]] = mapped_column(JSONB)
    lifetime_value_base: Mapped[Decimal] = mapped_column(Numeric, server_default="0")
    order_count: Mapped[int] = mapped_column(Integer, server_default="0")
    open_orders: Mapped[int] = mapped_column(Integer, server_default="0")
    last_purchase_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    value_segment: Mapped[ValueSegment] = mapped_column(
        StrEnumColumn(ValueSegment, 20), server_default="none"
    )
    churn_risk: Mapped[ChurnLevel] = mapped_column(
        StrEnumColumn(ChurnLevel, 10), server_default="low"
    )
    flags: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    # The instant of the last evaluation (the service's clock), and the next instant at
    # which time alone changes the indicators: a maintenance pass evaluates them again then.
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    reevaluate_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Policy(Base):
    """Admin-editable settings: one row per rule, the routing policy and the retention policy."""

    __tablename__ = "policies"

    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    config: Mapped[dict[str, Any]] = mapped_column(JSONB)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
