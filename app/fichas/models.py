"""Ficha templates, editable at run time."""

from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, String, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base


class FichaTemplate(Base):
    __tablename__ = "ficha_templates"

    role: Mapped[str] = mapped_column(String(50), primary_key=True)
    sections: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    labels: Mapped[dict[str, dict[str, str]]] = mapped_column(JSONB, server_default="{}")
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
