"""Signature checks shared by the adapters: HMACs compared in constant time, signed
timestamps within a tolerance of the service's clock."""

import base64
import hashlib
import hmac
import math
from collections.abc import Iterable, Sequence
from datetime import datetime

from app.ingest.adapters.base import SignatureError

# How far a signed timestamp may be from ``now`` (both ways) before the delivery is refused.
TOLERANCE_S = 300


def hmac_digest(secret: str | bytes, message: bytes, algorithm: str = "sha256") -> bytes:
    key = secret.encode() if isinstance(secret, str) else secret
    return hmac.new(key, message, getattr(hashlib, algorithm)).digest()


def require_any(expected: Iterable[bytes | str], given: str | bytes | None, what: str) -> None:
    """Accept when ``given`` equals any expected value (one per secret, for rotation)."""
    if not given:
        raise SignatureError(f"missing {what}")
    # Half a surrogate pair (a JSON escape) encodes so, and matches no secret.
    given_bytes = given.encode("utf-8", "surrogatepass") if isinstance(given, str) else given
    matched = False
    for candidate in expected:
        candidate_bytes = candidate.encode() if isinstance(candidate, str) else candidate
        matched |= hmac.compare_digest(candidate_bytes, given_bytes)
    if not matched:
        raise SignatureError(f"{what} does not match")


def base64_hmacs(secrets: Sequence[str], message: bytes, algorithm: str = "sha256") -> list[str]:
    return [base64.b64encode(hmac_digest(s, message, algorithm)).decode() for s in secrets]


def require_fresh(timestamp: str | int | float | None, now: datetime, what: str) -> None:
    """SignatureError unless ``timestamp`` (unix seconds) is within the tolerance of ``now``
    (the service's clock: the instant the delivery is judged at)."""
    if timestamp is None or timestamp == "" or isinstance(timestamp, bool):
        raise SignatureError(f"missing {what}")
    try:
        seconds = float(timestamp)
    except (TypeError, ValueError):
        raise SignatureError(f"{what} is not a unix timestamp") from None
    # NaN is within no distance of anything, and compares false both ways: refused here.
    if not math.isfinite(seconds) or abs(now.timestamp() - seconds) > TOLERANCE_S:
        raise SignatureError(f"{what} is more than {TOLERANCE_S} s from now (stale or replayed)")
