"""Generic source: our own normalised events, signed with Standard Webhooks."""

import binascii
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from app.ingest.adapters.base import Adapter, Delivery, PayloadError, SignatureError
from app.timeline.schemas import IdentifiedEventIn


class GenericAdapter(Adapter):
    """Body: one event as for ``POST /v1/events``, a list of them, or the Standard Webhooks
    envelope ``{"type", "timestamp", "data"}`` whose ``data`` is one of those."""

    source = "generic"
    secret_headers = frozenset({"webhook-signature"})

    def verify(self, delivery: Delivery, secrets: Sequence[str], now: datetime) -> None:
        # The library checks the 5-minute tolerance against its own clock.
        delivery.signature_header("webhook-signature")  # bounded before the library splits it
        headers = dict(delivery.headers)
        for secret in secrets:
            try:
                Webhook(secret).verify(delivery.body, headers, json_parse=False)
                return
            except (WebhookVerificationError, ValueError, binascii.Error, UnicodeDecodeError):
                continue
        raise SignatureError("no webhook-signature matches, or the timestamp is stale")

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
                first = exc.errors(include_url=False)[0]
                where = ".".join(str(p) for p in first["loc"])
                raise PayloadError(f"event {index}: {where}: {first['msg']}") from None
        return events
