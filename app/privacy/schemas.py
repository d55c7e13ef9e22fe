"""Privacy requests and answers."""

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, Field, field_validator

from app.core.timestamps import StoredTimestamp
from app.timeline.catalog import event_type


class AccessEntry(BaseModel):
    id: UUID
    at: datetime
    key_id: UUID
    agent_id: str | None
    role: str
    what: str


class AccessPage(BaseModel):
    items: list[AccessEntry]
    next_cursor: str | None


class ErasureIn(BaseModel):
    reason: str = Field(min_length=1, max_length=1000, examples=["GDPR art. 17 request #4471"])
    requested_at: StoredTimestamp = Field(description="When the customer asked")


class ErasureReceipt(BaseModel):
    """What an erasure removed. Repeating it changes nothing and says so."""

    customer_id: UUID
    status: Literal["erased"] = "erased"
    erased_at: datetime
    already_erased: bool
    events_redacted: int
    deliveries_redacted: int
    identifiers_removed: int


class RetentionPolicy(BaseModel):
    """How long data is kept. Events are kept until erased unless their type has a period."""

    deliveries_days: int = Field(
        default=30, ge=1, le=36500, description="Raw webhook bodies, after processing"
    )
    access_log_days: int = Field(default=365, ge=1, le=36500)
    event_days: dict[str, int] = Field(
        default_factory=dict,
        description="Days to keep events of a type, e.g. {'web.page_viewed': 90}",
        examples=[{"web.page_viewed": 90}],
    )

    @field_validator("event_days")
    @classmethod
    def _known_types(cls, value: dict[str, int]) -> dict[str, int]:
        for name, days in value.items():
            if event_type(name) is None:
                raise ValueError(f"unknown event type {name!r}")
            if not 1 <= days <= 36500:
                raise ValueError(f"{name!r}: days must be between 1 and 36500")
        return value


class RetentionReport(BaseModel):
    deliveries: int
    access_log: int
    events: dict[str, int]
    customers_rebuilt: int


class CustomerExport(BaseModel):
    """Everything held about a customer (the right of access), streamed as one document."""

    exported_at: datetime
    customer_id: UUID
    customer: dict[str, Any]
    merged_customers: list[dict[str, Any]]
    identifiers: list[dict[str, Any]]
    past_identifiers: list[dict[str, Any]]
    consents: list[dict[str, Any]] = Field(description="Every consent decision, oldest first")
    indicators: dict[str, Any] | None
    alerts: list[dict[str, Any]]
    access_log: list[dict[str, Any]]
    events: list[dict[str, Any]] = Field(description="Merged-in histories included")
    text_analyses: list[dict[str, Any]] = Field(
        description="What the analysis of each message found (docs/text-analysis.md)"
    )
    webhook_deliveries: list[dict[str, Any]] = Field(
        description="The raw deliveries that concern the customer (failed ones too); bodies "
        "in base64. One that also concerned other customers comes without its body and "
        "error, and a `note` saying so"
    )
