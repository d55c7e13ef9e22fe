"""Bodies of the indicators, sales series and rules API."""

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from app.customers.schemas import Tier


class Flag(BaseModel):
    code: str
    severity: Literal["info", "warning", "danger"]
    label: str


class IndicatorsOut(BaseModel):
    customer_id: UUID
    as_of: datetime
    value: dict[str, Any]
    service: dict[str, Any]
    satisfaction: dict[str, Any]
    contact: dict[str, Any]
    risk: dict[str, Any]
    flags: list[Flag] = Field(description="Set by the rules at the last evaluation")


class RuleOut(BaseModel):
    rule: str
    config: dict[str, Any]


class RuleList(BaseModel):
    items: list[RuleOut]


class RuleConfig(BaseModel):
    """Thresholds of a rule; omitted fields keep their defaults."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"enabled": True, "threshold": 3}]}
    )

    enabled: bool = True
    threshold: Annotated[int, Field(ge=1, le=1000)] | None = None
    tiers: list[Tier] | None = None


class SalesPoint(BaseModel):
    period: str
    currency: str
    orders: int
    amount: str


class SalesSeries(BaseModel):
    customer_id: UUID
    interval: Literal["month", "quarter", "year"]
    items: list[SalesPoint]
