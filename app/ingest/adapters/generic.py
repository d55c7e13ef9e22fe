"""Generic source: our own normalised events, signed with Standard Webhooks."""

import base64
import contextlib
import hmac
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from standardwebhooks.webhooks import EmptyWebhookSecretError, Webhook

from app.ingest.adapters.base import Adapter, Delivery, PayloadError, SignatureError
from app.ingest.adapters.signatures import require_fresh
from app.timeline.schemas import IdentifiedEventIn


class GenericAdapter(Adapter):
    """Body: one event as for ``POST /v1/events``, a list of them, or the Standard Webhooks
    envelope ``{"type", "timestamp", "data"}`` whose ``data`` is one of those."""

    source = "generic"
    secret_headers = frozenset({"webhook-signature"})

    def verify(self, delivery: Delivery, secrets: Sequence[str], now: datetime) -> None:
        # The library's own verify judges the 5-minute tolerance on the machine's clock; the
        # service judges it on its clock (``now``), and takes only the scheme's signing
        # from the library.
        given = delivery.signature_header("webhook-signature")  # bounded before it is split
        msg_id = delivery.headers.get("webhook-id", "")
        stamp = delivery.headers.get("webhook-timestamp", "")
        if not (msg_id and given and stamp.isascii() and stamp.isdigit()):
            raise SignatureError("webhook-id, webhook-timestamp (seconds) and a signature needed")
        require_fresh(stamp, now, "webhook-timestamp")
        try:
            content = delivery.body.decode()
        except UnicodeDecodeError:
            raise SignatureError("the body is not UTF-8, so it cannot be signed") from None
        signed_at = datetime.fromtimestamp(int(stamp), UTC)
        expected = []
        for secret in secrets:
            # a malformed secret (not base64, or empty) matches nothing
            with contextlib.suppress(ValueError, EmptyWebhookSecretError):
                signature = Webhook(secret).sign(msg_id, signed_at, content)
                expected.append(base64.b64decode(signature.partition(",")[2]))
        matched = False
        for version, _, value in (part.partition(",") for part in given.split(" ")):
            try:
                offered = base64.b64decode(value)
            except ValueError:
                continue
            for candidate in expected:  # every pair compared, in constant time each
                matched |= version == "v1" and hmac.compare_digest(candidate, offered)
        if not matched:
            raise SignatureError("no webhook-signature matches")

    def delivery_id(self, delivery: Delivery) -> str:
        return delivery.headers.get("webhook-id") or delivery.body_hash()

    def normalize(self, delivery: Delivery) -> list[IdentifiedEventIn]:
        body: Any = delivery.json()
        if isinstance(body, dict) and "data" in body and "customer" not in body:
            body = body["data"]
        items = body if isinstance(body, list) else [body]
        events = []
        for index, item in enumerate(items):
            try:
                events.append(IdentifiedEventIn.model_validate(item))
            except ValidationError as exc:
                raise PayloadError.from_validation(exc, f"event {index}: ") from None
        return events
