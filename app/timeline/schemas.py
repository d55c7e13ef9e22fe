"""Request and response bodies of the timeline API."""

import re
from datetime import datetime
from typing import Annotated, Any, Literal, Union
from uuid import UUID

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    StrictBool,
    StringConstraints,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from app.core.errors import FieldError
from app.core.timestamps import StoredTimestamp
from app.customers.schemas import EmailText, ExternalIdText, IdentifierOut, PhoneText
from app.timeline.catalog import CATALOG, CUSTOM_PREFIX, Channel, Direction, appendable_types
from app.timeline.payloads import CustomPayload
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


_PAYLOADS = appendable_types()


def _as_given(payload: Any) -> Any:
    return payload


# The timeline service validates a payload against its type's model and names the field
# at fault; this only puts the models in the schema (components of openapi.json), so that
# EventIn's schema can pair each with its types.
DocumentedPayload = Annotated[
    dict[str, Any],
    BeforeValidator(_as_given, json_schema_input_type=Union[(*_PAYLOADS, CustomPayload)]),
]


class EventIn(BaseModel):
    """One event to append; ``payload`` is validated against the type's schema."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [EVENT_EXAMPLE]})

    type: Annotated[
        str, Field(min_length=1, max_length=100, description="From GET /v1/event-types")
    ]
    occurred_at: StoredTimestamp = Field(description="When it happened, with its UTC offset")
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
    payload: DocumentedPayload = Field(
        default_factory=dict, description="The type's payload: one branch of oneOf per model"
    )

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        """One branch per payload model: the types that carry it, and its schema (a payload
        with required fields cannot be left out); then custom.* types, any object."""
        reference = handler(core_schema)
        schema = handler.resolve_ref_schema(reference)
        # References, in _PAYLOADS order, then custom.* types' (a named schema: generators
        # name an inline one after its branch, twice over for IdentifiedEventIn).
        *models, custom_payload = schema["properties"]["payload"].pop("anyOf")
        schema["properties"]["payload"]["type"] = "object"
        branches: list[dict[str, Any]] = []
        for model_reference, (model, names) in zip(models, _PAYLOADS.items(), strict=True):
            branch: dict[str, Any] = {
                "properties": {"type": {"enum": names}, "payload": model_reference},
                "required": ["type"],
            }
            if any(field.is_required() for field in model.model_fields.values()):
                branch["required"].append("payload")
            branches.append(branch)
        custom = {"type": "string", "pattern": "^" + re.escape(CUSTOM_PREFIX) + "[\\s\\S]+$"}
        branches.append(
            {"properties": {"type": custom, "payload": custom_payload}, "required": ["type"]}
        )
        schema["oneOf"] = branches
        return reference


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
    phone: PhoneText | None = None
    email: EmailText | None = None
    external_id: ExternalIdText | None = None
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
    payload: dict[str, Any] = Field(
        description="Shaped as EventPayloads names for the event's type (a custom.* type's: "
        "any object)"
    )
    corrections: list[Correction] = Field(
        default_factory=list, description="event.corrected events that amend this one"
    )


def event_payloads() -> tuple[list[type[BaseModel]], dict[str, Any]]:
    """The spec's EventPayloads: the payload schema of each event type, by type (its
    property), with the payload models it names."""
    schema = {
        "title": "EventPayloads",
        "type": "object",
        "description": "The payload of each event type, by type: what an event's `payload` "
        "holds as it was written (after an erasure, only the fields it keeps). Not a body of "
        "its own: a client reads an event's payload as the schema named here for its `type` "
        "(`EventPayloads['order.placed']` is `OrderPayload`). Event types are an open set: "
        "a type not named here carries an object to read as such, custom.* any object.",
        "properties": {
            entry.name: {"$ref": f"#/components/schemas/{entry.payload.__name__}"}
            for entry in CATALOG.values()
        },
        # Every type is named, so that a client's type of it is the payload's, not optional.
        "required": list(CATALOG),
    }
    return list(dict.fromkeys(entry.payload for entry in CATALOG.values())), schema


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

    source_customer_id: UUID = Field(
        description="The duplicate, absorbed into the path's customer: another customer "
        "the key sees (422 naming this field otherwise); both must be active (409)"
    )
    dry_run: bool = False


class UnmergeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source_customer_id: UUID = Field(
        description="A customer merged into the path's customer: one that is not (both "
        "seen by the key) is 409; one the key does not see, 404"
    )


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


class NoteIn(BaseModel):
    """A note the calling agent writes on the customer (``note.added``, as the agent)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "text": "Prefers a call after 17:00; waiting for the refund of SO-1001",
                    "pinned": True,
                }
            ]
        },
    )

    text: Annotated[str, Field(min_length=1, max_length=10_000)]
    pinned: StrictBool = Field(default=False, description="Shown in the ficha's pinned notes")
    occurred_at: StoredTimestamp | None = Field(default=None, description="Now when omitted")


class WrapUpIn(BaseModel):
    """What the calling agent records as a call ends (``call.wrapped_up``, as the agent)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "call_id": "CA5f0e2b",
                    "disposition": "callback",
                    "wrap_up_codes": ["refund", "delivery"],
                    "satisfaction": "unsatisfied",
                    "notes": "Parcel late again; call back on Friday",
                }
            ]
        },
    )

    call_id: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    disposition: Annotated[str, Field(min_length=1, max_length=200)] = Field(
        description="The center's own code for how the call ended (resolved, callback, sale...)"
    )
    wrap_up_codes: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(
        default_factory=list, max_length=20, description="Why the customer called"
    )
    satisfaction: Literal["satisfied", "neutral", "unsatisfied"] | None = Field(
        default=None,
        description="The agent's reading; unsatisfied counts in the satisfaction indicators",
    )
    notes: Annotated[str, Field(max_length=10_000)] | None = None
    occurred_at: StoredTimestamp | None = Field(default=None, description="Now when omitted")
