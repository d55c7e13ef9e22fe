"""Signature checks shared by the adapters: HMACs compared in constant time."""

import base64
import hashlib
import hmac
from collections.abc import Iterable, Sequence

from app.ingest.adapters.base import SignatureError


def hmac_digest(secret: str | bytes, message: bytes, algorithm: str = "sha256") -> bytes:
    key = secret.encode() if isinstance(secret, str) else secret
    return hmac.new(key, message, getattr(hashlib, algorithm)).digest()


def require_any(expected: Iterable[bytes | str], given: str | bytes | None, what: str) -> None:
    """Accept when ``given`` equals any expected value (one per secret, for rotation)."""
    if not given:
        raise SignatureError(f"missing {what}")
    given_bytes = given.encode() if isinstance(given, str) else given
    matched = False
    for candidate in expected:
        candidate_bytes = candidate.encode() if isinstance(candidate, str) else candidate
        matched |= hmac.compare_digest(candidate_bytes, given_bytes)
    if not matched:
        raise SignatureError(f"{what} does not match")


def base64_hmacs(secrets: Sequence[str], message: bytes, algorithm: str = "sha256") -> list[str]:
    return [base64.b64encode(hmac_digest(s, message, algorithm)).decode() for s in secrets]
