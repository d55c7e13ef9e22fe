"""Reading platform JSON defensively, shared by the commerce adapters (pure, no I/O)."""

from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import ValidationError

from app.core.money import AMOUNT_DIGITS
from app.customers.identifiers import normalize_email, normalize_phone
from app.ingest.adapters.base import PayloadError
from app.timeline.catalog import CATALOG
from app.timeline.schemas import CustomerRefIn, IdentifiedEventIn

Json = dict[str, Any]


def text(value: Any) -> str | None:
    """A non-empty string for a scalar; None for nothing, containers and booleans."""
    if value is None or isinstance(value, (dict, list, bool)):
        return None
    found = str(value).strip()
    return found or None


def as_dict(value: Any) -> Json:
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def required(found: str | None, field: str) -> str:
    """An id the event cannot be keyed without; PayloadError naming ``field`` when absent."""
    if not found:
        raise PayloadError(f"{field} is missing")
    return found


def amount(value: Any, field: str) -> Decimal | None:
    """Money as written ("47.00"), kept exactly, never through a float; None when absent,
    PayloadError when it is not a finite number."""
    if value in (None, ""):
        return None
    try:
        found = Decimal(str(value))
    except InvalidOperation:
        raise PayloadError(f"{field}: '{value}' is not an amount") from None
    if not found.is_finite():
        raise PayloadError(f"{field}: '{value}' is not an amount")
    if found.adjusted() >= AMOUNT_DIGITS:
        # 1e1000000 is finite, yet summing or rounding it overflows Decimal's context
        raise PayloadError(f"{field}: '{value}' has more digits than an amount holds")
    return found


def currency(value: Any) -> str | None:
    """An ISO 4217 code, upper-cased; None when absent."""
    return value.strip().upper() if isinstance(value, str) and value.strip() else None


def address(value: Any) -> Json | None:
    """An address object without its empty fields; None when nothing is left."""
    if not isinstance(value, dict):
        return None
    kept = {k: v for k, v in value.items() if v not in (None, "")}
    return kept or None


def first_email(*candidates: Any) -> str | None:
    """The first well-formed address (a malformed one would make the event unstorable)."""
    for value in candidates:
        if isinstance(value, str) and value.strip():
            try:
                return normalize_email(value)
            except ValueError:
                continue
    return None


def first_phone(region: str | None, *candidates: Any) -> str | None:
    """The first valid number in E.164; national numbers are read in ``region``."""
    for value in candidates:
        if isinstance(value, str) and value.strip():
            try:
                return normalize_phone(value, region or "ZZ")
            except ValueError:
                continue
    return None


def checked_event(
    source: str,
    type_name: str,
    when: datetime,
    source_event_id: str,
    customer: CustomerRefIn,
    payload: Json,
    summary: str | None = None,
) -> IdentifiedEventIn:
    """An event whose payload and envelope passed their models (else PayloadError saying
    why: a platform's time the service cannot store, say)."""
    entry = CATALOG[type_name]
    try:
        checked = entry.payload.model_validate(payload)
        return IdentifiedEventIn(
            type=type_name,
            occurred_at=when,
            channel=entry.channel,
            source=source,
            source_event_id=source_event_id,
            summary=summary,
            payload=checked.model_dump(mode="json", by_alias=True, exclude_none=True),
            customer=customer,
        )
    except ValidationError as exc:
        raise PayloadError.from_validation(exc, f"{type_name}: ") from None
