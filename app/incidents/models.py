"""Incidents, and the customers each one affects."""

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import DateTime, String, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, StrEnumColumn, new_id
from app.incidents.schemas import IncidentStatus


class Incident(Base):
    """A declared incident: the customers its matcher finds, as their orders change, are
    flagged with it (``incident:<id>``, their membership) and routed to its queue."""

    __tablename__ = "incidents"

    id: Mapped[UUID] = mapped_column(primary_key=True, default=new_id)
    title: Mapped[str] = mapped_column(String(300))
    matcher: Mapped[dict[str, Any]] = mapped_column(JSONB)
    status: Mapped[IncidentStatus] = mapped_column(
        StrEnumColumn(IncidentStatus, 16), server_default="open"
    )
    declared_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The template messaged once to each customer it affects, when declared or on joining.
    message_template: Mapped[str | None] = mapped_column(String(80))
