"""What every webhook adapter is: verify, delivery id, normalise. Pure code, no I/O."""

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar
from urllib.parse import parse_qsl

from app.timeline.schemas import IdentifiedEventIn

# Never stored with a delivery, whatever the platform.
SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "x-api-key"})


class SignatureError(Exception):
    """The request does not prove it came from the platform (answered 401, nothing stored)."""


class PayloadError(Exception):
    """A genuine delivery this adapter cannot understand (stored as failed, answered 202)."""


@dataclass(frozen=True, slots=True)
class Delivery:
    """A webhook request as received."""

    url: str  # as the platform addressed it (the public base URL applied)
    headers: Mapping[str, str]  # lower-case names
    body: bytes
    path_token: str | None = None
    received_at: datetime | None = field(default=None, compare=False)

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()

    def json(self) -> Any:
        """The body as JSON, or PayloadError."""
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise PayloadError(f"the body is not JSON: {exc}") from None

    def form(self) -> dict[str, str]:
        """The body as application/x-www-form-urlencoded fields (the last value wins)."""
        try:
            return dict(parse_qsl(self.body.decode(), keep_blank_values=True, strict_parsing=False))
        except UnicodeDecodeError as exc:
            raise PayloadError(f"the form body is not UTF-8: {exc}") from None

    def body_hash(self) -> str:
        return hashlib.sha256(self.body).hexdigest()


class Adapter(ABC):
    """One platform's webhooks. Adding a source is adding a subclass in its own module."""

    source: ClassVar[str]
    # Headers that carry signatures or credentials: dropped before the delivery is stored.
    secret_headers: ClassVar[frozenset[str]] = frozenset()

    @abstractmethod
    def verify(self, delivery: Delivery, secrets: Sequence[str], now: datetime) -> None:
        """Raise SignatureError unless one of ``secrets`` proves the delivery authentic."""

    @abstractmethod
    def delivery_id(self, delivery: Delivery) -> str:
        """The platform's id for this delivery (the same on every retry)."""

    @abstractmethod
    def normalize(self, delivery: Delivery) -> list[IdentifiedEventIn]:
        """The events this delivery reports (possibly none); PayloadError if it cannot tell."""

    def stored_body(self, delivery: Delivery) -> bytes:
        """The body as kept; adapters whose payload embeds a secret redact it here."""
        return delivery.body

    def stored_headers(self, delivery: Delivery) -> dict[str, str]:
        hidden = SECRET_HEADERS | self.secret_headers
        return {k: v for k, v in delivery.headers.items() if k not in hidden}
