"""The routing policy and a routing answer."""

from typing import Annotated, Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.customers.schemas import Tier


class FlagQueue(BaseModel):
    """Where a caller with a flag goes, and the priority they get there at least."""

    model_config = ConfigDict(extra="forbid")

    queue: Annotated[str, Field(min_length=1, max_length=100)]
    priority: Annotated[int, Field(ge=0, le=100)]


class RoutingPolicy(BaseModel):
    """How callers are queued and prioritised; admin-editable."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "default_queue": "default",
                    "unknown_priority": 10,
                    "tiers": {
                        "vip": {"queue": "vip", "priority": 70},
                        "premium": {"queue": "premium", "priority": 50},
                        "standard": {"queue": "default", "priority": 20},
                    },
                    "flag_priority": {"open_dispute": 20, "abandoned_calls": 25, "at_risk": 15},
                    "flag_queues": {"at_risk": {"queue": "vip", "priority": 80}},
                    "incident_priority": 60,
                    "language_queues": {"pt": "support-pt"},
                }
            ]
        },
    )

    default_queue: Annotated[str, Field(min_length=1, max_length=100)] = "default"
    unknown_priority: Annotated[int, Field(ge=0, le=100)] = 10
    tiers: dict[Tier, dict[str, Any]] = Field(
        default_factory=lambda: {
            Tier.VIP: {"queue": "vip", "priority": 70},
            Tier.PREMIUM: {"queue": "premium", "priority": 50},
            Tier.STANDARD: {"queue": "default", "priority": 20},
        }
    )
    flag_priority: dict[str, Annotated[int, Field(ge=0, le=100)]] = Field(
        default_factory=lambda: {
            "open_dispute": 20,
            "abandoned_calls": 25,
            "at_risk": 15,
            "recurring_problem": 10,
            "urgent_message": 30,
            "angry_customer": 20,
        }
    )
    flag_queues: dict[str, FlagQueue] = Field(
        default_factory=dict,
        description="A flag's queue and least priority (e.g. at_risk to the VIP service); "
        "with several, the highest priority wins. An incident's queue wins over them",
    )
    incident_priority: Annotated[int, Field(ge=0, le=100)] = 60
    language_queues: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _tier_entries(self) -> "RoutingPolicy":
        for tier, entry in self.tiers.items():
            if not isinstance(entry.get("queue"), str) or not isinstance(
                entry.get("priority"), int
            ):
                raise ValueError(f"tiers.{tier.value} needs a queue (text) and a priority (0-100)")
        return self


class RoutingAnswer(BaseModel):
    known: bool
    phone: str
    customer_id: UUID | None = None
    display_name: str | None = None
    language: str | None = None
    tier: Tier | None = None
    priority: int
    queue: str
    reasons: list[str]
