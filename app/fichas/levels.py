"""The visual level of each indicator a ficha shows, and its icon code (pure).

One scheme for all: a ``level`` from a small set per indicator, and the icon code
``<indicator>_<level>`` a UI maps to its own picture and colour (docs/api.md, "Levels
and icons"). An indicator with nothing to go on yet has no level, and the card leaves it
out."""

from app.indicators.shapes import DerivedText
from app.indicators.state import VERY_NEGATIVE

# Each indicator's levels, worst first.
LEVELS: dict[str, tuple[str, ...]] = {
    "sentiment": ("angry", "negative", "neutral", "positive"),
    "satisfaction": ("unhappy", "neutral", "happy"),
    "value": ("high", "medium", "low", "none"),
    "churn": ("high", "medium", "low"),
}

# A value segment's level: what the customer is worth, whether or not they still buy.
_VALUE = {
    "champion": "high",
    "at_risk": "medium",
    "loyal": "medium",
    "new": "low",
    "occasional": "low",
    "lapsed": "low",
    "none": "none",
}


def badge(indicator: str, level: str) -> dict[str, str]:
    """The ``level`` and ``icon`` of one indicator."""
    return {"level": level, "icon": f"{indicator}_{level}"}


def sentiment(text: DerivedText) -> str | None:
    """The latest inbound message's feeling; angry when abusive or very negative; None
    before any message."""
    last = text["last_inbound"]
    if last is None:
        return None
    if last["abusive"] or last["score"] <= VERY_NEGATIVE:
        return "angry"
    return str(last["sentiment"])


def satisfaction(last_csat: int | None, last_nps: int | None) -> str | None:
    """The worse of the latest CSAT (1-2 unhappy, 3 neutral, 4-5 happy) and the latest NPS
    (0-6 detractor, 7-8 passive, 9-10 promoter); None without either."""
    read = []
    if last_csat is not None:
        read.append("unhappy" if last_csat <= 2 else "neutral" if last_csat == 3 else "happy")
    if last_nps is not None:
        read.append("unhappy" if last_nps <= 6 else "neutral" if last_nps <= 8 else "happy")
    order = LEVELS["satisfaction"]
    return min(read, key=order.index) if read else None


def value(segment: str) -> str:
    """The level of a value segment (an open set: an unknown one reads as low)."""
    return _VALUE.get(segment, "low")
