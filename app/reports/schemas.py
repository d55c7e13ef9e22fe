"""Report bodies of the API."""

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from app.core.money import Money


class SummaryReport(BaseModel):
    period_from: datetime
    period_to: datetime
    revenue: list[Money] = Field(description="Per currency: orders minus refunds")
    orders: int
    average_order_value: list[Money] = Field(description="Per currency")
    customers: int
    repeat_purchase_rate: float | None
    retention_rate: float | None
    top_products: list[dict[str, Any]]
    top_ticket_categories: list[dict[str, Any]]
