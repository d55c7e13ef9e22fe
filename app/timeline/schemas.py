"""Request and response bodies of the timeline API."""

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from app.core.errors import FieldError
from app.core.timestamps import Timestamp
from app.customers.schemas import IdentifierOut
from app.timeline.catalog import Channel, Direction
from app.timeline.sources import RESERVED_SOURCES

SourceName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_.:\-]{0,99}$")]

EVENT_TYPES = "Open set: the catalog's types (GET /v1/event-types) and any custom.*"
EVENT_EXAMPLE: dict[str, Any] = {
    "type": "order.placed",
    "occurred_at": "2026-11-02T10:15:00+01:00",
    "source": "erp",
    "source_event_id": "SO-1001",
    "summary": "Order SO-1001: 2 items, 149.90 EUR",
    "payload": {
        "order_id": "SO-1001",
        "items": [{"sku": "BOOT-42", "name": "Trail boot", "qty": 1, "unit_price": "129.90"}],
        "total": "149.90",
        "currency": "EUR",
        "status": "placed",
    },
}


class EventIn(BaseModel):
    """One event to append; ``payload`` is validated against the type's schema."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [EVENT_EXAMPLE]})

    type: Annotated[
        str, Field(min_length=1, max_length=100, description="From GET /v1/event-types")
    ]
    occurred_at: Timestamp = Field(description="When it happened, with its UTC offset")
    channel: Channel | None = Field(default=None, description="Defaults to the type's channel")
    direction: Direction | None = None
    source: SourceName = Field(
        default="api",
        description="The system that reports the event. Reserved (422), for the webhook "
        f"sources and the service itself: {', '.join(sorted(RESERVED_SOURCES))}",
    )
    source_event_id: Annotated[str, Field(min_length=1, max_length=300)] | None = Field(
        default=None,
        description="The source's own id: with source, the idempotency key, in the writer's "
        "own namespace (an owned-only key's keys are its owner's alone)",
    )
    actor: Annotated[str, Field(max_length=200)] | None = Field(
        default=None, description="The agent or employee involved"
    )
    summary: Annotated[str, Field(max_length=280)] | None = Field(
        default=None, description="One line for humans; generated when omitted"
    )
    payload: dict[str, Any] = Field(default_factory=dict)


class EventRef(BaseModel):
    """An event already recorded, named by its source's own id."""

    model_config = ConfigDict(extra="forbid")

    source: SourceName
    source_event_id: Annotated[str, Field(min_length=1, max_length=300)]


class CustomerRefIn(BaseModel):
    """Who the event is about: an id, identifiers (an unknown one creates a customer), or the
    customer of an event already recorded (e.g. the order a refund belongs to)."""

    model_config = ConfigDict(extra="forbid")

    id: UUID | None = None
    event: EventRef | None = Field(
        default=None, description="Used only when no id or identifier is given"
    )
    phone: Annotated[str, Field(max_length=64)] | None = None
    email: Annotated[str, Field(max_length=320)] | None = None
    external_id: Annotated[str, Field(max_length=320)] | None = None
    display_name: Annotated[str, Field(max_length=300)] | None = Field(
        default=None, description="Name for a customer created from these identifiers"
    )

    @model_validator(mode="after")
    def _names_someone(self) -> "CustomerRefIn":
        if not (self.id or self.phone or self.email or self.external_id or self.event):
            raise ValueError("give the customer's id, phone, email, external_id or event")
        return self


class IdentifiedEventIn(EventIn):
    """An event for ``POST /v1/events``: the customer is named inside the body."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"customer": {"phone": "+34 612 34 56 78"}, **EVENT_EXAMPLE}]
        },
    )

    customer: CustomerRefIn


class Correction(BaseModel):
    id: UUID
    recorded_at: datetime
    reason: str
    summary: str | None
    payload: dict[str, Any] | None


EVENT_OUT_EXAMPLE: dict[str, Any] = {
    "id": "01933b8e-8a52-7cc2-9d0e-0c6f2b1e3a11",
    "customer_id": "01933b8e-8a52-7cc2-9d0e-0c6f2b1e3a10",
    "type": "order.placed",
    "occurred_at": "2026-11-02T09:15:00Z",
    "recorded_at": "2026-11-02T09:15:02Z",
    "channel": "store",
    "direction": None,
    "source": "erp",
    "source_event_id": "SO-1001",
    "actor": None,
    "summary": "Order SO-1001: 2 items, 149.90 EUR",
    "payload": EVENT_EXAMPLE["payload"],
    "corrections": [],
}


class EventOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [EVENT_OUT_EXAMPLE]})

    id: UUID
    customer_id: UUID
    type: str = Field(description=EVENT_TYPES)
    occurred_at: datetime
    recorded_at: datetime
    channel: Channel
    direction: Direction | None
    source: str
    source_event_id: str | None
    actor: str | None
    summary: str
    payload: dict[str, Any]
    corrections: list[Correction] = Field(
        default_factory=list, description="event.corrected events that amend this one"
    )


class TimelinePage(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "items": [EVENT_OUT_EXAMPLE],
                    "next_cursor": "eyJ0IjoiMjAyNi0xMS0wMlQwOToxNTowMCswMDowMCJ9",
                }
            ]
        }
    )

    items: list[EventOut]
    next_cursor: str | None


class BulkLineResult(BaseModel):
    """One line of the NDJSON answer to a bulk import."""

    line: int
    status: Literal["created", "duplicate", "error"]
    event_id: UUID | None = None
    customer_id: UUID | None = None
    errors: list[FieldError] | None = None


class EventTypeOut(BaseModel):
    type: str = Field(description="An open set: new types join the catalog within /v1")
    description: str
    default_channel: Channel
    payload_schema: dict[str, Any]


class EventTypeList(BaseModel):
    items: list[EventTypeOut]


class MergeRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"source_customer_id": "01a20ae6-6c63-76ee-b495-bd9894832cd9", "dry_run": True}
            ]
        },
    )

    source_customer_id: UUID = Field(description="The duplicate, absorbed into the path's customer")
    dry_run: bool = False


class UnmergeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source_customer_id: UUID


class FieldConflict(BaseModel):
    field: str
    survivor: Any
    absorbed: Any


class MergeOutcome(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "dry_run": True,
                    "survivor_id": "01933b8e-8a52-7cc2-9d0e-0c6f2b1e3a10",
                    "absorbed_id": "01a20ae6-6c63-76ee-b495-bd9894832cd9",
                    "merge_id": None,
                    "identifiers": [
                        {
                            "id": "01a20ae6-6c63-76ee-b495-bd9894832ce0",
                            "kind": "email",
                            "value": "jnunez@example.net",
                            "created_at": "2026-10-01T08:00:00Z",
                        }
                    ],
                    "events_by_type": {"call.missed": 2, "email.received": 1},
                    "conflicting_fields": [
                        {"field": "tier", "survivor": "premium", "absorbed": "standard"}
                    ],
                }
            ]
        }
    )

    dry_run: bool
    survivor_id: UUID
    absorbed_id: UUID
    merge_id: UUID | None = Field(description="Null on a dry run")
    identifiers: list[IdentifierOut] = Field(description="Identifiers that move to the survivor")
    events_by_type: dict[str, int] = Field(description="The absorbed history, by event type")
    conflicting_fields: list[FieldConflict] = Field(
        description="Profile fields that differ; the survivor's values are kept"
    )


class UnmergeOutcome(BaseModel):
    survivor_id: UUID
    restored_id: UUID
    identifiers_restored: int
