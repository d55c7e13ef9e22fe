"""Optimistic concurrency with ETag / If-Match (RFC 9110 section 13.1.1)."""

from app.core.errors import PreconditionFailed, PreconditionRequired


def etag(version: int) -> str:
    """The strong ETag of a resource version."""
    return f'"{version}"'


def if_match_allows(if_match: str, version: int) -> bool:
    """Whether an If-Match header value admits the current ``version``."""
    current = etag(version)
    for candidate in (part.strip() for part in if_match.split(",")):
        if candidate == "*" or candidate.removeprefix("W/") == current:
            return True
    return False


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
