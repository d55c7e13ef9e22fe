"""Report bodies of the API."""

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.core.money import Money
from app.text.rules import Intent


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


TopicInterval = Literal["day", "week", "month"]


class IntentCount(BaseModel):
    intent: Intent
    messages: int


class TermCount(BaseModel):
    term: str = Field(description="Words that told an intent (folded)")
    messages: int


class RisingIntent(BaseModel):
    intent: Intent
    messages: int
    previous: int = Field(description="Messages of that intent in the period before")
    change: int = Field(description="messages - previous (> 0)")


class TopicPeriod(BaseModel):
    period_from: datetime
    period_to: datetime
    messages: int = Field(description="Messages analysed")
    negative: int
    intents: list[IntentCount] = Field(description="Most frequent first")
    terms: list[TermCount] = Field(description="The 10 most frequent words of intents")
    rising: list[RisingIntent] = Field(
        description="Intents more frequent than in the period before, most risen first"
    )


class TopicsReport(BaseModel):
    """What customers wrote about, period by period: the intents found in their analysed
    messages (e-mails, chats, mentions, survey comments, tickets, calls), their words, and
    what rose against the period before."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "period_from": "2026-11-01T00:00:00Z",
                    "period_to": "2026-11-03T00:00:00Z",
                    "interval": "day",
                    "periods": [
                        {
                            "period_from": "2026-11-01T00:00:00Z",
                            "period_to": "2026-11-02T00:00:00Z",
                            "messages": 12,
                            "negative": 3,
                            "intents": [{"intent": "information", "messages": 5}],
                            "terms": [{"term": "horario", "messages": 2}],
                            "rising": [],
                        },
                        {
                            "period_from": "2026-11-02T00:00:00Z",
                            "period_to": "2026-11-03T00:00:00Z",
                            "messages": 30,
                            "negative": 21,
                            "intents": [
                                {"intent": "delivery", "messages": 19},
                                {"intent": "complaint", "messages": 17},
                            ],
                            "terms": [{"term": "pedido", "messages": 14}],
                            "rising": [
                                {
                                    "intent": "delivery",
                                    "messages": 19,
                                    "previous": 1,
                                    "change": 18,
                                }
                            ],
                        },
                    ],
                }
            ]
        }
    )

    period_from: datetime
    period_to: datetime
    interval: TopicInterval
    periods: list[TopicPeriod] = Field(description="Each period of the interval, in order")
