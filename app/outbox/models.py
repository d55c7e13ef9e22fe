"""The outbox table: one row per fact that some subscription wants, until the sender has
turned it into deliveries."""

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import BigInteger, DateTime, Identity, String, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base


class OutboxFact(Base):
    """A committed fact that an enabled subscription wanted when it was committed."""

    __tablename__ = "outbox"

    seq: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    kind: Mapped[str] = mapped_column(String(80))  # an event type, alert.raised, flag.changed
    customer_id: Mapped[UUID | None] = mapped_column()
    subject_id: Mapped[UUID | None] = mapped_column()  # the event or alert it names
    data: Mapped[dict[str, Any] | None] = mapped_column(JSONB)  # the fact itself, when small
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
