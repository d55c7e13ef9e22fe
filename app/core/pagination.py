"""Opaque keyset cursors and the bounded ``limit`` every collection takes."""

import base64
import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Annotated, Any, TypeVar
from uuid import UUID

from fastapi import Query

from app.core.errors import BadRequest
from app.core.timestamps import exists_in_utc

T = TypeVar("T")

DEFAULT_LIMIT = 50
MAX_LIMIT = 200

Limit = Annotated[
    int, Query(ge=1, le=MAX_LIMIT, description=f"Page size (default {DEFAULT_LIMIT}).")
]


class InvalidCursor(BadRequest):
    """The cursor is not one this service issued (cursors are opaque: send back
    `next_cursor` as it came)."""

    code = "invalid-cursor"
    title = "Invalid cursor"
    example = ("The cursor is not one this service issued.", {})


def encode_cursor(position: dict[str, Any]) -> str:
    """Wrap a keyset position so clients treat it as opaque."""
    raw = json.dumps(position, separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> dict[str, Any]:
    """Unwrap a cursor made by :func:`encode_cursor`; a forged or damaged one is a 400."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidCursor("The cursor is not one this service issued.") from exc
    if not isinstance(value, dict):
        raise InvalidCursor("The cursor is not one this service issued.")
    return value


def cursor_id(cursor: str | None, key: str) -> UUID | None:
    """The id a keyset cursor resumes from (None without a cursor); a foreign one is a 400."""
    if not cursor:
        return None
    try:
        return UUID(str(decode_cursor(cursor)[key]))
    except (KeyError, ValueError):
        raise InvalidCursor("The cursor is not one this service issued.") from None


def cursor_time(cursor: str, key: str) -> datetime:
    """The instant a keyset cursor resumes after; a foreign one is a 400 (so is a time
    without its offset, or one outside the years a timestamptz converts to)."""
    try:
        moment = datetime.fromisoformat(str(decode_cursor(cursor)[key]))
        if moment.tzinfo is None:
            raise ValueError("a time without its offset")
        return exists_in_utc(moment)
    except (KeyError, ValueError):
        raise InvalidCursor("The cursor is not one this service issued.") from None


def keyset_page(
    rows: Sequence[T], limit: int, position: Callable[[T], dict[str, Any]]
) -> tuple[list[T], str | None]:
    """One page of ``rows``, read ``limit + 1`` at a time (the one more says that more
    follow): the first ``limit``, and the cursor that resumes after the last of them, made
    of its ``position``; None when nothing follows."""
    page = list(rows[:limit])
    if len(rows) <= limit:
        return page, None
    return page, encode_cursor(position(page[-1]))
