"""Reading figures out of the summary report."""

from decimal import Decimal
from typing import Any


def revenue(report: dict[str, Any], currency: str) -> Decimal:
    """The report's revenue in ``currency`` (zero when it has none)."""
    return sum(
        (Decimal(m["amount"]) for m in report["revenue"] if m["currency"] == currency), Decimal(0)
    )
