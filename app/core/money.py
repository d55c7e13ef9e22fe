"""Money: exact decimals with an ISO 4217 currency, never floats."""

from decimal import Decimal
from typing import Annotated, TypedDict

from pydantic import AfterValidator, BaseModel, Field, PlainSerializer
from pydantic_extra_types.currency_code import ISO4217

AMOUNT_DIGITS = 18
AMOUNT_PLACES = Decimal("0.0001")  # four decimal places


def _zero_places_kept(amount: Decimal) -> Decimal:
    """A zero written with more than four decimals, kept with four: pydantic counts no
    decimals in a zero, so "0E-20000000" (11 characters) passed and was written as twenty
    million zeros. Other amounts are kept as written (trailing zeros are as long as what
    was sent, and the event's fingerprint is of the amount as written)."""
    exponent = amount.as_tuple().exponent
    if amount or not isinstance(exponent, int) or exponent >= -4:
        return amount
    return amount.quantize(AMOUNT_PLACES)


Amount = Annotated[
    Decimal,
    Field(max_digits=AMOUNT_DIGITS, decimal_places=4, examples=["149.90"]),
    AfterValidator(_zero_places_kept),
    PlainSerializer(lambda d: format(d, "f"), return_type=str, when_used="json"),
]
Currency = ISO4217


class Money(BaseModel):
    """An amount in one currency, e.g. ``{"amount": "149.90", "currency": "EUR"}``: the one
    shape of money in every answer (a decimal string, never a float)."""

    amount: Annotated[
        str, Field(pattern=r"^-?[0-9]+(\.[0-9]+)?$", examples=["149.90"], description="Decimal")
    ]
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$", examples=["EUR"], description="ISO 4217")]


class MoneyValue(TypedDict):
    """:class:`Money` as a plain dict, where a dict is what is kept (the indicators)."""

    amount: str
    currency: str


def money(amount: Decimal | str, currency: str) -> MoneyValue:
    """``amount`` in ``currency``, shaped as :class:`Money`."""
    return {"amount": format(Decimal(amount), "f"), "currency": currency}
