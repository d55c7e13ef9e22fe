"""Money: exact decimals with an ISO 4217 currency, never floats."""

from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, Field, PlainSerializer
from pydantic_extra_types.currency_code import ISO4217

Amount = Annotated[
    Decimal,
    Field(max_digits=18, decimal_places=4, examples=["149.90"]),
    PlainSerializer(lambda d: format(d, "f"), return_type=str, when_used="json"),
]
Currency = ISO4217


class Money(BaseModel):
    """An amount in one currency, e.g. ``{"amount": "149.90", "currency": "EUR"}``."""

    amount: Amount
    currency: Currency
