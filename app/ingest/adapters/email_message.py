"""Helpers shared by the email adapters (SendGrid, Mailgun, Postmark): pure, stdlib ``email``.

Conventions every email adapter follows:

- addresses in payloads (``from``, ``to``, ``cc``) are bare addresses; a display name only
  ever goes to ``customer.display_name``;
- Message-IDs are kept in their RFC 5322 form with angle brackets (``<id@host>``), whatever
  spelling the platform used, so ``in_reply_to`` of a reply matches ``message_id`` of the
  mail it answers; platform ids without ``@`` are kept as given;
- excerpts are the plain text without a trailing quoted reply, at most ``EXCERPT_CHARS``.
"""

import base64
import binascii
import codecs
import contextlib
import hashlib
import hmac
import quopri
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email import message_from_bytes, message_from_string
from email.header import decode_header, make_header
from email.policy import compat32
from email.utils import getaddresses, parsedate_to_datetime
from typing import Any

from pydantic import ValidationError
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from app.core import bounded_json
from app.ingest.adapters.base import (
    MAX_FORM_FIELDS,
    BoundExceeded,
    Delivery,
    PayloadError,
    SignatureError,
)
from app.timeline.catalog import Channel, Direction
from app.timeline.payloads import EmailPayload
from app.timeline.schemas import CustomerRefIn, IdentifiedEventIn

EXCERPT_CHARS = 300
# Longest delivery id / source_event_id the store accepts; longer ids are hashed.
MAX_ID = 300

_SHORT = 200  # EmailPayload address fields
_LONG_TEXT = 1000  # subject, message ids, reason
_NAME = 300  # customer.display_name


# --- ids, clocks, text ------------------------------------------------------------------


def stable_id(value: str) -> str:
    """``value`` when it fits an id column, else a digest of it (same input, same id)."""
    if len(value) <= MAX_ID:
        return value
    return "sha256:" + hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


def clip(value: str | None, limit: int) -> str | None:
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    return value if len(value) <= limit else value[: limit - 1] + "…"


def from_unix(value: Any, what: str = "timestamp") -> datetime:
    """A unix timestamp (int, float or numeric string) as an aware UTC datetime."""
    if isinstance(value, bool):
        raise PayloadError(f"{what} is not a unix timestamp: {value!r}")
    try:
        seconds = float(value)
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        raise PayloadError(f"{what} is not a unix timestamp: {value!r}") from None


# A codec can make half a surrogate pair of bytes (UTF-7's "+2AA-", unicode_escape): text
# no encoding writes, which failed as a 500 wherever it was encoded. Read as U+FFFD, as
# bytes a charset cannot decode are.
_HALF_SURROGATE = re.compile("[\ud800-\udfff]")


def _text(value: str) -> str:
    return _HALF_SURROGATE.sub("\ufffd", value)


def decode_words(value: str | None) -> str | None:
    """A header value unfolded, RFC 2047 encoded-words decoded."""
    if value is None:
        return None
    value = re.sub(r"\r?\n[ \t]+", " ", str(value)).strip()
    if "=?" in value:
        with contextlib.suppress(ValueError, LookupError, UnicodeError):
            value = _text(str(make_header(decode_header(value))))
    return value


def parse_date(value: str | None) -> datetime | None:
    """An RFC 5322 date as an aware datetime (``-0000`` read as UTC), None if unreadable."""
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError):
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def message_id(value: str | None) -> str | None:
    """The first Message-ID in ``value`` as ``<id>``; a platform id without ``@`` unchanged."""
    if not value:
        return None
    value = value.strip()
    bracketed = re.search(r"<[^<>\s]+>", value)
    if bracketed:
        return clip(bracketed.group(0), _LONG_TEXT)
    token = value.split()[0] if value.split() else ""
    if not token:
        return None
    return clip(f"<{token}>" if "@" in token else token, _LONG_TEXT)


def _strip_quoted_reply(text: str) -> str:
    """``text`` without a trailing ``>`` quoted block and its ``On ... wrote:`` line."""
    lines = text.split("\n")
    end = len(lines)
    while end and not lines[end - 1].strip():
        end -= 1
    start = end
    while start and (lines[start - 1].lstrip().startswith(">") or not lines[start - 1].strip()):
        start -= 1
    if start == end:
        return text
    cut = start
    while cut and not lines[cut - 1].strip():
        cut -= 1
    if cut and lines[cut - 1].rstrip().endswith("wrote:"):
        cut -= 1
        first = lines[cut].lstrip()
        if not first.startswith("On ") and cut and lines[cut - 1].lstrip().startswith("On "):
            cut -= 1  # an attribution wrapped over two lines
    kept = "\n".join(lines[:cut]).strip()
    return kept or text


def excerpt(text: str | None, strip_quoted: bool = True) -> str | None:
    """At most ``EXCERPT_CHARS`` of a plain-text body, quoted reply removed."""
    if not text:
        return None
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if strip_quoted:
        text = _strip_quoted_reply(text)
    # The blanks ending each line but the last taken off line by line: a search for
    # ``[ \t]+\n`` tries a run of blanks from each of its characters to its end, and a
    # body of 100,000 spaces took 5 s (a megabyte, the largest delivery, 100 times that).
    lines = text.split("\n")
    text = "\n".join([*(line.rstrip(" \t") for line in lines[:-1]), lines[-1]])
    text = re.sub(r"\n{3,}", "\n\n", text).strip()
    if not text:
        return None
    if len(text) <= EXCERPT_CHARS:
        return text
    cut = text[: EXCERPT_CHARS - 1]
    space = cut.rfind(" ")
    if space > EXCERPT_CHARS // 2:
        cut = cut[:space]
    return cut.rstrip() + "…"


# --- addresses and headers --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Mailbox:
    address: str
    name: str | None = None


def mailboxes(*values: str | None) -> list[Mailbox]:
    """Every mailbox in address-list header values (``"Name" <a@b>, c@d``)."""
    decoded = [decode_words(v) or "" for v in values if v]
    found = []
    for name, address in getaddresses(decoded):
        address = address.strip()
        if "@" in address:
            found.append(Mailbox(address, name.strip() or None))
    return found


def mailbox(*values: str | None) -> Mailbox | None:
    """The first mailbox in the first value that has one."""
    for value in values:
        found = mailboxes(value)
        if found:
            return found[0]
    return None


class MailHeaders:
    """RFC 5322 headers as (name, value) pairs, read case-insensitively."""

    def __init__(self, pairs: Iterable[tuple[str, str]]) -> None:
        self._pairs = [(str(n).strip().lower(), str(v)) for n, v in pairs]

    @classmethod
    def parse(cls, block: str) -> "MailHeaders":
        """A raw header block (as SendGrid's ``headers`` field)."""
        return cls(message_from_string(block.lstrip(), policy=compat32).items())

    def get(self, name: str) -> str | None:
        name = name.lower()
        for key, value in self._pairs:
            if key == name:
                return decode_words(value)
        return None

    def pairs(self) -> list[tuple[str, str]]:
        return list(self._pairs)

    def __bool__(self) -> bool:
        return bool(self._pairs)


@dataclass(frozen=True, slots=True)
class MimeMessage:
    headers: MailHeaders
    text: str | None


def parse_mime(raw: bytes) -> MimeMessage:
    """A whole RFC 5322 message: its headers and its first inline text/plain part."""
    msg = message_from_bytes(raw, policy=compat32)
    text = None
    for part in msg.walk():
        if part.is_multipart() or part.get_content_type() != "text/plain":
            continue
        if (part.get("content-disposition") or "").lower().startswith("attachment"):
            continue
        data = part.get_payload(decode=True)
        if isinstance(data, bytes):
            text = _decode(data, part.get_content_charset())
            break
    return MimeMessage(MailHeaders(msg.items()), text)


# --- request bodies ---------------------------------------------------------------------


def _decode(data: bytes, charset: str | None) -> str:
    try:
        codecs.lookup(charset or "utf-8")
    except LookupError:
        charset = "utf-8"
    return _text(data.decode(charset or "utf-8", errors="replace"))


def multipart_fields(delivery: Delivery) -> dict[str, str]:
    """The text fields of a multipart/form-data body (file parts left out).

    Read with python-multipart (Starlette's parser, linear in the body, where the email
    package was not: docs/performance.md), after counting the delimiters on the raw
    bytes: more than MAX_FORM_FIELDS parts is BoundExceeded before anything is parsed.
    A field's charset is its part's ``charset`` parameter, else the one SendGrid's
    ``charsets`` field names for it, else UTF-8.
    """
    _, options = parse_options_header(delivery.headers.get("content-type", ""))
    boundary = options.get(b"boundary")
    if not boundary:
        raise PayloadError("multipart body without a boundary")
    if delivery.body.count(b"--" + boundary) > MAX_FORM_FIELDS + 1:
        raise BoundExceeded(f"the multipart body has more than {MAX_FORM_FIELDS} parts")
    raw = _multipart_parts(boundary, delivery.body)
    if not raw:
        raise PayloadError("the multipart body has no form fields")
    charsets: dict[str, Any] = {}
    if "charsets" in raw:
        try:
            loaded = bounded_json.loads(raw["charsets"][0])
            charsets = loaded if isinstance(loaded, dict) else {}
        except ValueError:
            charsets = {}
    fields = {}
    for name, (data, charset) in raw.items():
        declared = charsets.get(name)
        fields[name] = _decode(data, charset or (declared if isinstance(declared, str) else None))
    return fields


class _Part:
    """One part as python-multipart reports it: its headers, then its data."""

    def __init__(self) -> None:
        self.headers: dict[bytes, bytes] = {}
        self.data = bytearray()
        self._field = bytearray()
        self._value = bytearray()


def _multipart_parts(boundary: bytes, body: bytes) -> dict[str, tuple[bytes, str | None]]:
    """Each named non-file part's bytes (transfer encoding undone) and declared charset."""
    parts: list[_Part] = []

    def header_end() -> None:
        part = parts[-1]
        part.headers[bytes(part._field).lower()] = bytes(part._value).strip()
        part._field.clear()
        part._value.clear()

    callbacks: Any = {
        "on_part_begin": lambda: parts.append(_Part()),
        "on_header_field": lambda data, start, end: parts[-1]._field.extend(data[start:end]),
        "on_header_value": lambda data, start, end: parts[-1]._value.extend(data[start:end]),
        "on_header_end": header_end,
        "on_part_data": lambda data, start, end: parts[-1].data.extend(data[start:end]),
    }
    try:
        parser = MultipartParser(boundary, callbacks)
        parser.write(body)
        parser.finalize()
    except MultipartParseError as exc:
        raise PayloadError(f"the multipart body is malformed: {exc}") from None
    found: dict[str, tuple[bytes, str | None]] = {}
    for part in parts:
        _, disposition = parse_options_header(part.headers.get(b"content-disposition", b""))
        name = disposition.get(b"name")
        if name is None or b"filename" in disposition:
            continue
        _, content_options = parse_options_header(part.headers.get(b"content-type", b""))
        charset = content_options.get(b"charset")
        encoding = part.headers.get(b"content-transfer-encoding", b"").lower()
        found[name.decode("utf-8", errors="replace")] = (
            _transfer_decoded(bytes(part.data), encoding),
            charset.decode("ascii", errors="replace") if charset else None,
        )
    return found


def _transfer_decoded(data: bytes, encoding: bytes) -> bytes:
    """A part's bytes with a base64 or quoted-printable transfer encoding undone."""
    if encoding == b"base64":
        with contextlib.suppress(binascii.Error, ValueError):
            return base64.b64decode(data)
    if encoding == b"quoted-printable":
        return quopri.decodestring(data)
    return data


def form_fields(delivery: Delivery) -> dict[str, str]:
    """A form body, multipart or urlencoded."""
    if delivery.content_type == "multipart/form-data":
        return multipart_fields(delivery)
    if delivery.content_type in ("application/x-www-form-urlencoded", ""):
        return delivery.form()
    raise PayloadError(f"expected a form body, got {delivery.content_type}")


def basic_credentials(delivery: Delivery) -> bytes | None:
    """The decoded ``user:password`` of an ``Authorization: Basic`` header, if any."""
    header = delivery.headers.get("authorization", "").strip()
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value.strip():
        return None
    try:
        return base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None


def verify_basic_or_token(
    delivery: Delivery, secrets: Sequence[str], *, allow_token: bool = True
) -> None:
    """Basic-auth credentials against ``user:password`` secrets, or (``allow_token``) the
    URL path token against the secrets without ``:``; every comparison in constant time."""
    given = basic_credentials(delivery)
    token = delivery.path_token if allow_token else None
    if given is None and not token:
        raise SignatureError("missing credentials (HTTP basic auth or URL token)")
    matched = False
    for secret in secrets:
        candidate = secret.encode()
        if ":" in secret:
            if given is not None:
                matched |= hmac.compare_digest(candidate, given)
        elif token:
            matched |= hmac.compare_digest(candidate, token.encode())
    if not matched:
        raise SignatureError("the credentials do not match")


# --- the normalised event ---------------------------------------------------------------


def email_event(
    *,
    source: str,
    type_: str,
    direction: Direction,
    occurred_at: datetime,
    source_event_id: str,
    customer: Mailbox | None,
    sender: str | None = None,
    to: Sequence[str] = (),
    cc: Sequence[str] = (),
    subject: str | None = None,
    message_id: str | None = None,
    in_reply_to: str | None = None,
    excerpt: str | None = None,
    url: str | None = None,
    reason: str | None = None,
) -> IdentifiedEventIn:
    """One ``email.*`` event whose payload validates against ``EmailPayload``."""
    if customer is None:
        who = "sender" if direction is Direction.INBOUND else "recipient"
        raise PayloadError(f"{type_}: no {who} address")
    try:
        payload = EmailPayload.model_validate(
            {
                "from": clip(sender, _SHORT),
                "to": [a for a in (clip(t, _SHORT) for t in to) if a],
                "cc": [a for a in (clip(c, _SHORT) for c in cc) if a],
                "subject": clip(subject, _LONG_TEXT),
                "message_id": clip(message_id, _LONG_TEXT),
                "in_reply_to": clip(in_reply_to, _LONG_TEXT),
                "excerpt": excerpt,
                "url": clip(url, 2000),
                "reason": clip(reason, _LONG_TEXT),
            }
        )
        return IdentifiedEventIn(
            type=type_,
            occurred_at=occurred_at,
            channel=Channel.EMAIL,
            direction=direction,
            source=source,
            source_event_id=stable_id(source_event_id),
            customer=CustomerRefIn(email=customer.address, display_name=clip(customer.name, _NAME)),
            payload=payload.model_dump(mode="json", by_alias=True, exclude_none=True),
        )
    except ValidationError as exc:
        raise PayloadError.from_validation(exc, f"{type_}: ") from None
