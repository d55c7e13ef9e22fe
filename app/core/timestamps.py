"""Timestamps in requests: with their UTC offset, and an instant PostgreSQL can store."""

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime


def _exists_in_utc(value: datetime) -> datetime:
    # timestamptz is kept in UTC: 0001-01-01T00:00:00+01:00 is an instant of year 0,
    # which neither Python nor the driver can convert. Refused here, it is a 422 naming
    # the field instead of an overflow deep in a query.
    try:
        value.astimezone(UTC)
    except OverflowError:
        raise ValueError("is outside years 1 to 9999 once converted to UTC") from None
    return value


Timestamp = Annotated[AwareDatetime, AfterValidator(_exists_in_utc)]
"""A request timestamp, e.g. ``2026-11-02T10:15:00+01:00``."""
