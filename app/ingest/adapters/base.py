"""What every webhook adapter is: verify, delivery id, normalise. Pure code, no I/O.

Anyone can post to a webhook URL, so what is read before a signature is proven is read
within bounds: a signature header at most MAX_SIGNATURE_HEADER characters, JSON at most
MAX_JSON_DEPTH levels deep, forms and multipart bodies at most MAX_FORM_FIELDS fields or
parts. Past a bound the delivery is refused with 413 before its signature is checked, in
time that does not grow with what was sent; a verified delivery past one is kept failed.
"""

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar
from urllib.parse import parse_qsl

from pydantic import ValidationError

from app.core import bounded_json
from app.core.bounded_json import MAX_JSON_DEPTH, JsonTooDeep
from app.timeline.schemas import IdentifiedEventIn

MAX_SIGNATURE_HEADER = 2048  # Stripe's with three v1 signatures and a v0 is about 300
MAX_FORM_FIELDS = 1000  # as Starlette's form parser; a Twilio callback has about 30

# Never stored with a delivery, whatever the platform.
SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "x-api-key"})


class SignatureError(Exception):
    """The request does not prove it came from the platform (answered 401, nothing stored)."""


class PayloadError(Exception):
    """A genuine delivery this adapter cannot understand (stored as failed, answered 202)."""

    @classmethod
    def from_validation(cls, exc: ValidationError, context: str = "") -> "PayloadError":
        """A model's first complaint as the reason: ``<context>where: why``."""
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        return cls(f"{context}{where}: {first['msg']}")


class BoundExceeded(PayloadError):
    """The body is past what the service parses (JSON depth, fields, parts): raised while
    verifying, answered 413 and nothing stored; after, the delivery is kept failed."""


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

    def json(self, **options: Any) -> Any:
        """The body as JSON; BoundExceeded past MAX_JSON_DEPTH, else PayloadError if not JSON."""
        try:
            return bounded_json.loads(self.body, **options)
        except JsonTooDeep:
            raise BoundExceeded(
                f"the JSON body nests deeper than {MAX_JSON_DEPTH} levels"
            ) from None
        except (ValueError, UnicodeDecodeError) as exc:
            raise PayloadError(f"the body is not JSON: {exc}") from None

    def form_pairs(self) -> list[tuple[str, str]]:
        """The body's application/x-www-form-urlencoded fields in order; BoundExceeded past
        MAX_FORM_FIELDS (counted on the raw bytes, before anything is decoded)."""
        try:
            text = self.body.decode()
        except UnicodeDecodeError as exc:
            raise PayloadError(f"the form body is not UTF-8: {exc}") from None
        try:
            return parse_qsl(text, keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS)
        except ValueError:  # parse_qsl counts the separators first and refuses
            raise BoundExceeded(f"the form has more than {MAX_FORM_FIELDS} fields") from None

    def form(self) -> dict[str, str]:
        """The body as application/x-www-form-urlencoded fields (the last value wins)."""
        return dict(self.form_pairs())

    def signature_header(self, name: str) -> str:
        """A header carrying a signature, stripped; SignatureError past MAX_SIGNATURE_HEADER
        characters, so that no verifier splits or compares a huge value."""
        value = self.headers.get(name, "")
        if len(value) > MAX_SIGNATURE_HEADER:
            raise SignatureError(f"{name} is longer than {MAX_SIGNATURE_HEADER} characters")
        return value.strip()

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
        """The headers as kept: without secrets, a NUL (which no JSON column takes: the
        delivery was refused, so lost) written U+FFFD."""
        hidden = SECRET_HEADERS | self.secret_headers
        return {
            k.replace("\x00", "\ufffd"): v.replace("\x00", "\ufffd")
            for k, v in delivery.headers.items()
            if k not in hidden
        }
