"""Incident bodies of the API."""

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.core.timestamps import StoredTimestamp


class ShipmentMatcher(BaseModel):
    """Orders shipped (by a carrier) between two times and not delivered."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["shipment_delay"] = "shipment_delay"
    carrier: Annotated[str, Field(max_length=200)] | None = None
    shipped_from: StoredTimestamp
    shipped_to: StoredTimestamp

    @model_validator(mode="after")
    def _ordered(self) -> "ShipmentMatcher":
        if self.shipped_to <= self.shipped_from:
            raise ValueError("shipped_to must be after shipped_from")
        return self


class IncidentMessage(BaseModel):
    """Message every affected customer once, on their preferred channel."""

    model_config = ConfigDict(extra="forbid")

    template: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,79}$")] = Field(
        description="A message template whose only field is incident_title"
    )


class IncidentIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "title": "SEUR delays in Madrid",
                    "matcher": {
                        "kind": "shipment_delay",
                        "carrier": "SEUR",
                        "shipped_from": "2026-11-20T00:00:00+01:00",
                        "shipped_to": "2026-11-23T00:00:00+01:00",
                    },
                    "message": {"template": "carrier_delay"},
                }
            ]
        },
    )

    title: Annotated[str, Field(min_length=1, max_length=300)]
    matcher: ShipmentMatcher
    message: IncidentMessage | None = Field(
        default=None,
        description="Message the affected customers once each, those it affects when "
        "declared and those who join later (the carrier-delay journey)",
    )


class IncidentStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class IncidentOut(BaseModel):
    id: UUID
    title: str
    matcher: dict[str, Any]
    status: Literal[IncidentStatus.OPEN, IncidentStatus.CLOSED]
    declared_at: datetime
    closed_at: datetime | None
    affected: int = Field(
        description="Customers it affects now (an order it finds, not delivered, cancelled "
        "or refunded; none once closed), of those the caller may see"
    )
    queue: str
    messages_queued: int = Field(
        default=0, description="Messages queued to affected customers when it was declared"
    )


class IncidentList(BaseModel):
    items: list[IncidentOut]
