"""Segment queries and pages."""

from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from app.core.timestamps import Timestamp
from app.customers.schemas import ContactChannel, Purpose, Tier
from app.indicators.schemas import ChurnRisk


class SegmentQuery(BaseModel):
    """Who to contact: every filter given must hold; consent and do-not-call are enforced."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "channel": "email",
                    "purpose": "marketing",
                    "tier": ["premium", "vip"],
                    "churn_risk": ["high"],
                    "last_purchase_before": "2026-06-01T00:00:00Z",
                    "limit": 100,
                }
            ]
        },
    )

    channel: ContactChannel
    purpose: Purpose = Purpose.MARKETING
    tier: list[Tier] | None = None
    tags: list[Annotated[str, Field(max_length=50)]] | None = None
    owner_id: Annotated[str, Field(max_length=200)] | None = None
    value_segment: list[str] | None = None
    churn_risk: list[ChurnRisk] | None = None
    has_flag: Annotated[str, Field(max_length=80)] | None = None
    has_open_order: bool | None = None
    last_purchase_before: Timestamp | None = None
    last_purchase_after: Timestamp | None = None
    bought_sku: Annotated[str, Field(max_length=200)] | None = None
    language: Annotated[str, Field(max_length=35)] | None = None
    country: Annotated[str, Field(min_length=2, max_length=2)] | None = None
    limit: Annotated[int, Field(ge=1, le=1000)] = 100
    cursor: Annotated[str, Field(max_length=500)] | None = None


class SegmentMember(BaseModel):
    customer_id: UUID
    display_name: str
    language: str | None
    tier: Tier
    channel: ContactChannel
    contact: str = Field(description="Where to reach them on the channel asked for")


class SegmentPage(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "items": [
                        {
                            "customer_id": "01933b8e-8a52-7cc2-9d0e-0c6f2b1e3a10",
                            "display_name": "José Núñez",
                            "language": "es",
                            "tier": "premium",
                            "channel": "email",
                            "contact": "jose.nunez@example.com",
                        }
                    ],
                    "next_cursor": None,
                    "matched": 3,
                    "excluded": {"no_consent": 1, "do_not_call": 0, "no_contact": 1},
                }
            ]
        }
    )

    items: list[SegmentMember]
    next_cursor: str | None
    matched: int = Field(description="Customers matching the filters")
    excluded: dict[str, int] = Field(
        description="Left out: no_consent, do_not_call, no_contact for the channel"
    )
