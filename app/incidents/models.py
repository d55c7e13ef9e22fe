"""Incidents, and the customers each one affects."""

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import (
    DateTime,
    ForeignKey,
    Integer,
    String,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, StrEnumColumn, new_id
from app.incidents.schemas import IncidentStatus


class Incident(Base):
    """A declared incident: matching customers are flagged and routed to its queue."""

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
    affected: Mapped[int] = mapped_column(Integer, server_default="0")


class IncidentCustomer(Base):
    __tablename__ = "incident_customers"

    incident_id: Mapped[UUID] = mapped_column(ForeignKey("incidents.id"), primary_key=True)
    customer_id: Mapped[UUID] = mapped_column(ForeignKey("customers.id"), primary_key=True)
