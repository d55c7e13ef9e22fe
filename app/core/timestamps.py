"""Timestamps in requests: RFC 3339 text with its UTC offset, an instant PostgreSQL can store."""

import re
from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, BeforeValidator

_DATE_FIRST = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]")


def _written_as_date_time(value: object) -> object:
    # Pydantic would also read 0 or "1732400000" as seconds since 1970; the API documents
    # `format: date-time`, and a bare number is far likelier a mistake than an instant.
    if isinstance(value, datetime) or (isinstance(value, str) and _DATE_FIRST.match(value)):
        return value
    raise ValueError("must be an RFC 3339 date-time such as 2026-11-02T10:15:00+01:00")


def exists_in_utc(value: datetime) -> datetime:
    """``value`` if it is an instant within years 1 to 9999 once converted to UTC, as
    timestamptz keeps it; ValueError otherwise."""
    # 0001-01-01T00:00:00+01:00 is an instant of year 0, which neither Python nor the
    # driver can convert. Refused here, it is a 4xx naming the field or the cursor instead
    # of an overflow deep in a query.
    try:
        value.astimezone(UTC)
    except OverflowError:
        raise ValueError("is outside years 1 to 9999 once converted to UTC") from None
    return value


Timestamp = Annotated[
    AwareDatetime, BeforeValidator(_written_as_date_time), AfterValidator(exists_in_utc)
]
"""A request timestamp, e.g. ``2026-11-02T10:15:00+01:00``."""

# The driver writes the first and last instants Python has as PostgreSQL's -infinity and
# infinity, and reads those back without their offset: an event stored at either was a
# null on its timeline page and a 500 in its customer's erasure. As the bound of a query
# (a filter, a report's period) an infinity means what it says, so only what is stored
# refuses them.
_INFINITIES = {datetime.min.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC)}


def _finite(value: datetime) -> datetime:
    if value in _INFINITIES:
        raise ValueError(
            "is the first or last instant there is, which the database keeps as an infinity; "
            "give one a microsecond later or earlier"
        )
    return value


StoredTimestamp = Annotated[Timestamp, AfterValidator(_finite)]
"""A timestamp the service stores: any but 0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999999Z."""
