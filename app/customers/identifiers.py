"""Identifier normalisation: one spelling per phone, email and external id (pure, no I/O)."""

import contextlib
import re
from collections.abc import Iterator, Mapping
from enum import StrEnum
from functools import lru_cache
from urllib.parse import unquote

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from app.core.errors import invalid_field

_EXTERNAL = re.compile(r"^([a-z0-9][a-z0-9_.\-]{0,49}):([a-z0-9][a-z0-9_.\-]{0,49}):(\S{1,200})$")


class IdentifierKind(StrEnum):
    PHONE = "phone"
    EMAIL = "email"
    EXTERNAL = "external"


# How each kind may be written before it is normalised: what the API admits, and what
# openapi.json states (JSON Schema patterns). A phone is digits, spaces, + ( ) . / -;
# an email has one @; an external id is source:type:id. Within that, normalisation
# refuses what is no possible number, no valid address.
PHONE_SYNTAX = r"^[0-9 ()./+-]*[0-9][0-9 ()./+-]*$"
EMAIL_SYNTAX = r"^[^@]+@[^@]+$"
_NAME = "[A-Za-z0-9][A-Za-z0-9_.-]{0,49}"
EXTERNAL_SYNTAX = rf"^\s*{_NAME}:{_NAME}:\S{{1,200}}\s*$"
SYNTAX = {
    IdentifierKind.PHONE: PHONE_SYNTAX,
    IdentifierKind.EMAIL: EMAIL_SYNTAX,
    IdentifierKind.EXTERNAL: EXTERNAL_SYNTAX,
}
MAX_LENGTH = {IdentifierKind.PHONE: 64, IdentifierKind.EMAIL: 320, IdentifierKind.EXTERNAL: 320}


def check_syntax(kind: IdentifierKind, value: str) -> None:
    """Raise ValueError unless ``value`` is written as :data:`SYNTAX` says a ``kind`` is."""
    if len(value) > MAX_LENGTH[kind]:
        raise ValueError(f"a {kind.value} has at most {MAX_LENGTH[kind]} characters")
    if not re.fullmatch(SYNTAX[kind], value):
        raise ValueError(f"{value!r} is not written as a {kind.value} ({SYNTAX[kind]})")


# Imports and ingestion name the same customers again and again; parsing is the costly part.
@lru_cache(maxsize=100_000)
def normalize_phone(value: str, default_region: str) -> str:
    """E.164 form of a phone number written in any common format.

    National numbers are read in ``default_region``; ``00`` and other international
    prefixes of that region are understood. Raises ValueError for an invalid number.
    """
    try:
        number = phonenumbers.parse(value, default_region.upper())
    except phonenumbers.NumberParseException as exc:
        raise ValueError(f"{value!r} is not a phone number") from exc
    # "Possible" (a length the country's plan allows), not "valid" (a range known to be
    # allocated): metadata lags behind real allocations, and a caller we cannot
    # classify must still be recorded.
    if not phonenumbers.is_possible_number(number):
        raise ValueError(f"{value!r} is not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


_BARE_DIGITS = re.compile(r"[1-9][0-9]{7,14}")


def phone_readings(value: str, default_region: str) -> list[str]:
    """Every E.164 number ``value`` can mean, the national reading first.

    Telephony platforms often deliver caller ids as bare digits without the ``+``:
    ``33612345678`` is a Brazilian mobile read in BR and a French one read as
    international. Anything written with a ``+``, an ``00`` or separators has one
    reading. Raises ValueError when there is none.
    """
    readings = []
    with contextlib.suppress(ValueError):
        readings.append(normalize_phone(value, default_region))
    if _BARE_DIGITS.fullmatch(value.strip()):
        with contextlib.suppress(ValueError):
            international = normalize_phone("+" + value.strip(), default_region)
            if international not in readings:
                readings.append(international)
    if not readings:
        raise ValueError(f"{value!r} is not a valid phone number")
    return readings


def caller_readings(value: str, default_region: str, at: str) -> list[str]:
    """How identify, routing and the screen-pop read a caller id: every reading of
    :func:`phone_readings`; a 422 naming ``at`` when it has none."""
    try:
        return phone_readings(value, default_region)
    except ValueError as exc:
        raise invalid_field(at, str(exc)) from None


@lru_cache(maxsize=100_000)
def normalize_email(value: str) -> str:
    """Trimmed, lower-cased, syntactically valid email. Raises ValueError otherwise."""
    try:
        result = validate_email(value.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValueError(f"{value!r} is not a valid email address: {exc}") from exc
    return result.normalized.lower()


def normalize_external(value: str) -> str:
    """``source:type:id`` with source and type lower-cased; the id is kept as given."""
    parts = value.strip().split(":", 2)
    if len(parts) == 3:
        parts[0], parts[1] = parts[0].lower(), parts[1].lower()
    candidate = ":".join(parts)
    if not _EXTERNAL.match(candidate):
        raise ValueError(f"{value!r} is not an external id of the form source:type:id")
    return candidate


def normalize_identifier(kind: IdentifierKind, value: str, default_region: str) -> str:
    """The stored form of an identifier of ``kind``."""
    if kind is IdentifierKind.PHONE:
        return normalize_phone(value, default_region)
    if kind is IdentifierKind.EMAIL:
        return normalize_email(value)
    return normalize_external(value)


# The fields a request or a payload names a customer by, in the order they take
# precedence: the platform's own id, then the email, then the phone.
IDENTIFIER_FIELDS = (
    ("external_id", IdentifierKind.EXTERNAL),
    ("email", IdentifierKind.EMAIL),
    ("phone", IdentifierKind.PHONE),
)


def _given(given: Mapping[str, str | None]) -> Iterator[tuple[str, IdentifierKind, str]]:
    for field, kind in IDENTIFIER_FIELDS:
        raw = given.get(field)
        if raw is not None:
            yield field, kind, raw


def normalize_given(
    given: Mapping[str, str | None], default_region: str, at: str
) -> list[tuple[str, str]]:
    """The stored (kind, value) of each identifier field set in ``given`` (``external_id``,
    ``email``, ``phone``), in that order; a malformed one is a 422 naming ``<at>.<field>``."""
    found = []
    for field, kind, raw in _given(given):
        try:
            found.append((kind.value, normalize_identifier(kind, raw, default_region)))
        except ValueError as exc:
            raise invalid_field(f"{at}.{field}", str(exc)) from None
    return found


def readable_given(given: Mapping[str, str | None], default_region: str) -> list[tuple[str, str]]:
    """As :func:`normalize_given`, leaving out the malformed ones."""
    found = []
    for _, kind, raw in _given(given):
        with contextlib.suppress(ValueError):
            found.append((kind.value, normalize_identifier(kind, raw, default_region)))
    return found


_EMAIL_IN_TEXT = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")


def identifiers_in_text(text: str, default_region: str) -> set[tuple[str, str]]:
    """Every email and valid phone number written anywhere in ``text`` (a raw body that
    no adapter could read), as stored (kind, value) pairs. Form bodies are read decoded
    too (``%40`` for ``@``, ``%2B`` for ``+``)."""
    found: set[tuple[str, str]] = set()
    for spelling in {text, unquote(text)}:
        for written in _EMAIL_IN_TEXT.findall(spelling):
            with contextlib.suppress(ValueError):
                found.add((IdentifierKind.EMAIL.value, normalize_email(written)))
        # VALID, not POSSIBLE: order numbers and timestamps must not pass for phones.
        for match in phonenumbers.PhoneNumberMatcher(
            spelling, default_region.upper(), leniency=phonenumbers.Leniency.VALID
        ):
            number = phonenumbers.format_number(match.number, phonenumbers.PhoneNumberFormat.E164)
            found.add((IdentifierKind.PHONE.value, number))
    return found
