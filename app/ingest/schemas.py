"""Bodies of the webhook and delivery-operations API."""

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, Field

from app.timeline.schemas import EventRef


class WebhookReceipt(BaseModel):
    """What a platform gets back for a delivery."""

    status: Literal["accepted", "ignored", "duplicate", "failed"] = Field(
        description="accepted: events recorded; ignored: nothing to record; duplicate: seen "
        "before, nothing changed; failed: stored but not understood (kept for replay)"
    )
    delivery_id: str
    events: int = 0
    reason: str | None = None


class DeliveryOut(BaseModel):
    id: UUID
    source: str
    delivery_id: str
    received_at: datetime
    status: Literal["received", "processed", "ignored", "failed"]
    error: str | None
    event_count: int
    processed_at: datetime | None
    attempts: int
    awaits: EventRef | None = Field(
        default=None,
        description="A failed delivery naming an event not recorded yet (a refund before its"
        " order): that event. The delivery is replayed by itself when the event is stored.",
    )
    url: str
    headers: dict[str, Any] = Field(description="As received, minus credentials and signatures")
    body: str | None = Field(default=None, description="Only with ?include=body")


class DeliveryPage(BaseModel):
    items: list[DeliveryOut]
    next_cursor: str | None


class ReplayOutcome(BaseModel):
    id: UUID
    status: Literal["processed", "ignored", "failed"]
    events: int = Field(description="Events stored by this replay (0 when all existed already)")
    duplicates: int
    error: str | None
