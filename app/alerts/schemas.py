"""Alert bodies of the API."""

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, Field

FLAG_CODES = (
    "Open set (show an unknown one by its label): today at_risk, abandoned_calls, "
    "recurring_problem, open_dispute, incident_affected, urgent_message, angry_customer"
)
RULE_NAMES = (
    "Open set: today unsatisfied_streak, premium_abandoned_calls, recurring_problem, "
    "open_dispute, incident_affected, urgent_message, angry_message"
)


class AlertOut(BaseModel):
    id: UUID
    customer_id: UUID
    rule: str = Field(description=RULE_NAMES)
    code: str = Field(description=FLAG_CODES)
    severity: str
    title: str
    detail: dict[str, Any] = Field(default_factory=dict)
    owner_id: str | None = None
    status: Literal["open", "acknowledged", "cleared"]
    raised_at: datetime
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = Field(default=None, description="The agent who acknowledged it")
    acknowledged_by_key_id: UUID | None = Field(
        default=None, description="The API key it was acknowledged with"
    )
    cleared_at: datetime | None = None


class AlertPage(BaseModel):
    items: list[AlertOut]
    next_cursor: str | None


class AlertChangeOut(BaseModel):
    """One change of an alert, as the live alert stream sends it (its SSE ``id`` is
    ``seq``, its ``event`` is ``alert.<change>``)."""

    seq: int = Field(description="The change's position: send it back as Last-Event-ID")
    change: Literal["raised", "acknowledged", "cleared"]
    recorded_at: datetime
    alert: AlertOut = Field(description="The alert as it is now")
