"""Conditional requests (RFC 9110 section 13.1): If-Match guards changes with strong
ETags; If-None-Match spares a reader the body it already holds (304)."""

import hashlib
from typing import Annotated

from fastapi import Header, Response

from app.core.errors import PreconditionFailed, PreconditionRequired

# RFC 9110: `*`, or entity-tags (`"3"`, `W/"3"`) separated by commas.
_ENTITY_TAG = r'(W/)?"[\x21\x23-\x7e]*"'
IF_MATCH_SYNTAX = rf"^\s*(\*|{_ENTITY_TAG}(\s*,\s*{_ENTITY_TAG})*)\s*$"

# The header of every change guarded by a version.
IfMatch = Annotated[
    str | None,
    Header(
        max_length=1000,
        pattern=IF_MATCH_SYNTAX,
        description='The customer\'s ETag last read (`"3"`), or `*`: the change applies '
        "only to that version. Compared strongly: a `W/` ETag never matches. 412 when "
        "it names another version, 422 when it is no list of ETags; 428 without it where "
        "it is required.",
    ),
]


def etag(version: int) -> str:
    """The strong ETag of a resource version."""
    return f'"{version}"'


def digest_etag(representation: bytes) -> str:
    """A weak ETag of a representation by its bytes, for one whose other parts are only
    semantically equal (a ficha's ``generated_at`` differs between two equal cards)."""
    return f'W/"{hashlib.sha256(representation).hexdigest()[:32]}"'


def _tags(header: str) -> list[str]:
    return [part.strip() for part in header.split(",") if part.strip()]


def if_match_allows(if_match: str, version: int) -> bool:
    """Whether an If-Match header value admits the current ``version``: strong
    comparison, so a weak ETag (``W/"3"``) never admits a change."""
    current = etag(version)
    return any(candidate in ("*", current) for candidate in _tags(if_match))


def if_none_match_matches(if_none_match: str, current: str) -> bool:
    """Whether an If-None-Match header value names the ``current`` ETag: weak
    comparison (``W/"3"`` names ``"3"``), as RFC 9110 asks for a GET."""
    opaque = current.removeprefix("W/")
    return any(
        candidate == "*" or candidate.removeprefix("W/") == opaque
        for candidate in _tags(if_none_match)
    )


def not_modified(
    if_none_match: str | None, current: str, headers: dict[str, str] | None = None
) -> Response | None:
    """304 with the ETag (and ``headers``, those the full answer would carry about the
    representation) and no body when the reader holds the ``current`` representation,
    else None (answer in full)."""
    if if_none_match is None or not if_none_match_matches(if_none_match, current):
        return None
    return Response(status_code=304, headers={"ETag": current, **(headers or {})})


def check_if_match(if_match: str | None, version: int, *, required: bool) -> None:
    """Raise 428 when a required If-Match is missing, 412 when it names another version."""
    if if_match is None:
        if required:
            raise PreconditionRequired("Send If-Match with the ETag you last read.")
        return
    if not if_match_allows(if_match, version):
        raise PreconditionFailed(
            f"If-Match {if_match} does not match the current version {etag(version)}.",
            extra={"current_etag": etag(version)},
        )
