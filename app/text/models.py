"""The stored text rules and the analyses of stored events."""

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import (
    CheckConstraint,
    DateTime,
    Float,
    ForeignKeyConstraint,
    Index,
    PrimaryKeyConstraint,
    String,
    func,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base


class StoredTextRules(Base):
    """The rules document the service analyses with: one row, edited by an admin."""

    __tablename__ = "text_rules"
    __table_args__ = (CheckConstraint("id = 1", name="one_document"),)

    id: Mapped[int] = mapped_column(primary_key=True, default=1)
    document: Mapped[dict[str, Any]] = mapped_column(JSONB)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class TextAnalysisRow(Base):
    """The analysis of one event's customer text, beside the event (which never changes):
    labels and scores, and the words that matched (personal text: erased with the
    customer, when ``terms`` becomes null)."""

    __tablename__ = "text_analyses"
    __table_args__ = (
        PrimaryKeyConstraint("customer_id", "occurred_at", "event_id"),
        ForeignKeyConstraint(
            ["customer_id", "occurred_at", "event_id"],
            ["events.customer_id", "events.occurred_at", "events.id"],
            ondelete="CASCADE",
        ),
        Index("ix_text_analyses_occurred_at", "occurred_at"),
        Index("ix_text_analyses_event_id", "event_id"),
    )

    customer_id: Mapped[UUID]
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    event_id: Mapped[UUID]
    analyser_version: Mapped[str] = mapped_column(String(100))
    language: Mapped[str | None] = mapped_column(String(8))
    sentiment: Mapped[str] = mapped_column(String(10))
    score: Mapped[float] = mapped_column(Float)
    urgency: Mapped[str] = mapped_column(String(10))
    reasons: Mapped[list[str]] = mapped_column(ARRAY(String(40)))
    intents: Mapped[list[str]] = mapped_column(ARRAY(String(40)))
    abusive: Mapped[bool]
    terms: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    analysed_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
