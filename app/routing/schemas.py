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
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "known": True,
                    "phone": "+34612345678",
                    "customer_id": "0193b2c4-5d6e-7f80-9a1b-2c3d4e5f6a7b",
                    "display_name": "José Núñez",
                    "language": "es",
                    "tier": "standard",
                    "priority": 60,
                    "queue": "incident:0193b2c4-0000-7000-8000-000000000001",
                    "reasons": [
                        "tier standard",
                        "affected by incident:0193b2c4-0000-7000-8000-000000000001",
                    ],
                    "affected_orders": ["820982911946154508"],
                }
            ]
        }
    )

    known: bool
    phone: str
    customer_id: UUID | None = None
    display_name: str | None = Field(
        default=None, description="The customer's name as people say it (for the IVR to speak)"
    )
    language: str | None = Field(
        default=None, description="The customer's preferred language (BCP 47), when known"
    )
    tier: Tier | None = None
    priority: int
    queue: str
    reasons: list[str]
    affected_orders: list[str] = Field(
        default_factory=list,
        description="Routed to an incident's queue: the customer's orders it affects "
        "(their order ids, as the shop sent them)",
    )
