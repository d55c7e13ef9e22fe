"""Alert bodies of the API."""

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, Field


class AlertOut(BaseModel):
    id: UUID
    customer_id: UUID
    rule: str
    code: str
    severity: str
    title: str
    detail: dict[str, Any]
    owner_id: str | None
    status: Literal["open", "acknowledged", "cleared"]
    raised_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None = Field(description="The agent who acknowledged it")
    acknowledged_by_key_id: UUID | None = Field(
        default=None, description="The API key it was acknowledged with"
    )
    cleared_at: datetime | None


class AlertPage(BaseModel):
    items: list[AlertOut]
    next_cursor: str | None
