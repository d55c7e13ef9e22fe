"""Webhook deliveries as the platforms send them: the suite's secrets, the golden payloads
(tests/ingest/golden, shaped exactly as each platform documents them) and each platform's
signing scheme, written out independently of the adapters."""

import base64
import copy
import hashlib
import hmac
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from standardwebhooks.webhooks import Webhook

from app.ingest.adapters.base import Delivery

# Test-only webhook secrets, one or two per source (two: a rotation in progress). SendGrid's
# event webhook is configured by the tests that sign with a key of their own (Signer).
WEBHOOK_SECRETS = {
    "generic": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw,whsec_dGVzdC1yb3RhdGVkLXNlY3JldC0wMDAwMDAwMA==",
    "twilio": "refdata_test_auth_token_0000000",
    "aircall": "45XXYYZZa08",
    "sendgrid-inbound": "inbound:parse-pass",
    "mailgun": "refdata-test-mailgun-signing-key",
    "postmark": "postmark:refdata-test-pass",
    "shopify": "old-shopify-secret,refdata_test_shopify_client_secret",
    "woocommerce": "refdata_test_woocommerce_secret",
    "stripe": "whsec_refdata_test_not_a_real_secret",
}

GOLDEN = Path(__file__).parents[1] / "ingest" / "golden"


def golden(name: str) -> bytes:
    """A golden payload's bytes."""
    return (GOLDEN / name).read_bytes()


def hmac_b64(secret: str, body: bytes) -> str:
    """base64(HMAC-SHA256(secret, body)): Shopify's and WooCommerce's signature."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


# -- the generic source (Standard Webhooks) --------------------------------------------------

GENERIC_SECRET, GENERIC_ROTATED = WEBHOOK_SECRETS["generic"].split(",")


def signed_generic(
    body: bytes, msg_id: str = "msg_1", secret: str = GENERIC_SECRET, at: datetime | None = None
) -> dict[str, str]:
    """The headers of a generic delivery of ``body``, signed at ``at`` (now)."""
    at = at or datetime.now(UTC)
    signature = Webhook(secret).sign(msg_id, at, body.decode())
    return {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signature,
    }


def generic_note(email: str = "ana@example.com", **extra: Any) -> dict[str, Any]:
    """A generic delivery's event: a note on the customer with ``email``."""
    return {
        "customer": {"email": email},
        "type": "note.added",
        "occurred_at": "2026-04-14T10:05:14Z",
        "payload": {"text": "Asked about delivery times"},
        **extra,
    }


# -- Twilio -------------------------------------------------------------------------------


def twilio_signature(url: str, body: bytes, token: str = WEBHOOK_SECRETS["twilio"]) -> str:
    """X-Twilio-Signature: the URL called plus the sorted form parameters, HMAC-SHA1."""
    params = sorted(parse_qsl(body.decode(), keep_blank_values=True))
    message = url + "".join(name + value for name, value in params)
    digest = hmac.new(token.encode(), message.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


# -- Mailgun ------------------------------------------------------------------------------


def mailgun_signature(key: str, timestamp: str, token: str) -> str:
    """The ``signature`` inside a Mailgun payload: HMAC-SHA256(key, timestamp + token)."""
    return hmac.new(key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest()


def mailgun_event_data(event: str, **extra: Any) -> dict[str, Any]:
    """The golden delivery's ``event-data``, as another ``event``."""
    data = copy.deepcopy(json.loads(golden("mailgun_webhook_delivered.json"))["event-data"])
    data.pop("delivery-status")
    data.update(event=event, id=f"id-{event}", **extra)
    return dict(data)


# -- SendGrid -----------------------------------------------------------------------------

SENDGRID_SIGNATURE = "x-twilio-email-event-webhook-signature"
SENDGRID_TIMESTAMP = "x-twilio-email-event-webhook-timestamp"
# The timestamp SendGrid published with its sample (headers.json).
SENDGRID_SAMPLE_TIMESTAMP = "1776161960"


def sendgrid_event_delivery(body: bytes, signature: str | None, timestamp: str | None) -> Delivery:
    """An event webhook delivery of ``body`` with the signature headers given."""
    headers = {"content-type": "application/json", "user-agent": "SendGrid Event API"}
    if signature is not None:
        headers[SENDGRID_SIGNATURE] = signature
    if timestamp is not None:
        headers[SENDGRID_TIMESTAMP] = timestamp
    return Delivery(
        url="https://hooks.example.com/webhooks/sendgrid-events", headers=headers, body=body
    )


class Signer:
    """A P-256 key pair of our own, to sign event webhook deliveries as SendGrid would."""

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())

    @property
    def public(self) -> str:
        der = self.key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return base64.b64encode(der).decode()

    @property
    def public_pem(self) -> str:
        return (
            self.key.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode()
        )

    def deliver(
        self, body: bytes | list[dict[str, Any]], timestamp: str = SENDGRID_SAMPLE_TIMESTAMP
    ) -> Delivery:
        raw = json.dumps(body).encode() if isinstance(body, list) else body
        signature = self.key.sign(timestamp.encode() + raw, ec.ECDSA(hashes.SHA256()))
        return sendgrid_event_delivery(raw, base64.b64encode(signature).decode(), timestamp)


INBOUND_BOUNDARY = "xYzZY"
INBOUND_CONTENT_TYPE = f"multipart/form-data; boundary={INBOUND_BOUNDARY}"


def inbound_parse_body() -> bytes:
    """The Inbound Parse sample's body as sent on the wire: from the first boundary, CRLF."""
    text = (GOLDEN / "sendgrid_inbound_parse.txt").read_text()
    return text[text.index(f"--{INBOUND_BOUNDARY}\n") :].replace("\n", "\r\n").encode()


# -- Shopify and Stripe -------------------------------------------------------------------


def shopify_post(body: dict[str, Any], topic: str, webhook_id: str) -> tuple[bytes, dict[str, str]]:
    """A Shopify delivery of ``body`` on ``topic``: its bytes and signed headers."""
    raw = json.dumps(body).encode()
    return raw, {
        "content-type": "application/json",
        "x-shopify-topic": topic,
        "x-shopify-webhook-id": webhook_id,
        "x-shopify-hmac-sha256": hmac_b64("refdata_test_shopify_client_secret", raw),
    }


def shopify_refund(order: dict[str, Any], refund_id: int) -> dict[str, Any]:
    """A ``refunds/create`` body: 5.00 EUR back on ``order``."""
    return {
        "id": refund_id,
        "order_id": order["id"],
        "created_at": "2026-04-15T09:00:00+01:00",
        "transactions": [
            {"kind": "refund", "status": "success", "amount": "5.00", "currency": "EUR"}
        ],
        "refund_line_items": [],
    }


def stripe_signature(body: bytes, t: int | None = None) -> str:
    """Stripe-Signature for ``body`` signed at unix time ``t`` (now)."""
    t = int(time.time()) if t is None else t
    digest = hmac.new(WEBHOOK_SECRETS["stripe"].encode(), f"{t}.".encode() + body, hashlib.sha256)
    return f"t={t},v1={digest.hexdigest()}"
