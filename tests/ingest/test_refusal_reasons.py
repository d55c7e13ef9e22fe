"""What a refused delivery tells the integrator (pure, no database).

A refused delivery is answered 401 with the reason in its detail ("The mailgun signature
is not valid: <reason>."): the person configuring the platform reads it to tell a wrong
secret from a missing header or a server clock out of step. Each reason is checked
exactly, and so is each way a credential is read (rotation in either order, schemes other
than Basic, characters outside base64, keys of the wrong kind).
"""

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from app.ingest.adapters.aircall import AircallAdapter
from app.ingest.adapters.base import Adapter, Delivery, SignatureError
from app.ingest.adapters.mailgun import MailgunAdapter
from app.ingest.adapters.postmark import PostmarkAdapter
from app.ingest.adapters.sendgrid_events import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    SendGridEventsAdapter,
)
from app.ingest.adapters.sendgrid_inbound import SendGridInboundAdapter
from app.ingest.adapters.signatures import hmac_digest, require_any
from app.ingest.adapters.woocommerce import WooCommerceAdapter

NOW = datetime(2026, 4, 14, 10, 0, tzinfo=UTC)
URL = "https://hooks.example.com/v1/webhooks/x"


def delivery(body: bytes | str = b"{}", path_token: str | None = None, **headers: str) -> Delivery:
    raw = body.encode() if isinstance(body, str) else body
    named = {k.replace("_", "-"): v for k, v in headers.items()}
    return Delivery(url=URL, headers=named, body=raw, path_token=path_token)


def refusal(adapter: Adapter, given: Delivery, secrets: list[str], now: datetime = NOW) -> str:
    with pytest.raises(SignatureError) as refused:
        adapter.verify(given, secrets, now)
    return str(refused.value)


# --- Aircall: a token inside the JSON body ------------------------------------------------

AIRCALL = AircallAdapter()


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"token=abc", "the body is not JSON, so it carries no token"),
        (b'{"event": "call.ended"}', "missing Aircall token"),
        (b'{"token": 42}', "missing Aircall token"),
        (b'{"token": ""}', "missing Aircall token"),
        (b'{"token": "not-the-token"}', "Aircall token does not match"),
    ],
)
def test_aircall_says_why(body: bytes, reason: str) -> None:
    assert refusal(AIRCALL, delivery(body), ["aircall-token"]) == reason


# --- Mailgun: an HMAC of timestamp and token, inside the payload ------------------------

MAILGUN = MailgunAdapter()
MAILGUN_KEY = "mailgun-signing-key"


def mailgun(timestamp: Any, token: Any = "t" * 50, signature: Any = None) -> Delivery:
    if signature is None:
        signature = hmac.new(
            MAILGUN_KEY.encode(), f"{timestamp}{token}".encode(), hashlib.sha256
        ).hexdigest()
    block = {"timestamp": timestamp, "token": token, "signature": signature}
    body = json.dumps({"signature": block, "event-data": {"event": "delivered"}})
    return delivery(body, content_type="application/json")


FRESH = str(int(NOW.timestamp()))


@pytest.mark.parametrize(
    ("given", "reason"),
    [
        (delivery(b'{"event-data": {}}', content_type="application/json"),
         "missing signature, timestamp or token"),
        (mailgun(FRESH, signature=12345), "missing signature, timestamp or token"),
        (mailgun(FRESH, signature=""), "missing signature, timestamp or token"),
        (mailgun(FRESH, token=""), "missing signature, timestamp or token"),
        (mailgun(True), "missing signature timestamp"),
        (mailgun(FRESH, signature="ab" * 32), "signature does not match"),
        (mailgun(""), "missing signature timestamp"),
        (mailgun("soon"), "signature timestamp is not a unix timestamp"),
        (mailgun(str(int(NOW.timestamp()) - 301)),
         "signature timestamp is more than 300 s from now (stale or replayed)"),
    ],
)  # fmt: skip
def test_mailgun_says_why(given: Delivery, reason: str) -> None:
    assert refusal(MAILGUN, given, [MAILGUN_KEY]) == reason


@pytest.mark.parametrize("age", [0, 300, -300])
def test_mailgun_accepts_up_to_300_seconds_either_way(age: int) -> None:
    MAILGUN.verify(mailgun(str(int(NOW.timestamp()) - age)), [MAILGUN_KEY], NOW)


# --- SendGrid Event Webhook: ECDSA over timestamp and body ------------------------------

SENDGRID = SendGridEventsAdapter()
_KEY = ec.generate_private_key(ec.SECP256R1())
PUBLIC = base64.b64encode(
    _KEY.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
).decode()
RSA_PUBLIC = base64.b64encode(
    rsa.generate_private_key(public_exponent=65537, key_size=2048)
    .public_key()
    .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
).decode()
EVENTS = b'[{"email": "a@example.com", "event": "delivered", "sg_event_id": "e1"}]'


def sendgrid(signature: str | None = None, timestamp: str | None = FRESH) -> Delivery:
    if signature is None:
        signed = _KEY.sign((timestamp or "").encode() + EVENTS, ec.ECDSA(hashes.SHA256()))
        signature = base64.b64encode(signed).decode()
    headers = {SIGNATURE_HEADER: signature} if signature else {}
    if timestamp is not None:
        headers[TIMESTAMP_HEADER] = timestamp
    return Delivery(url=URL, headers=headers, body=EVENTS)


@pytest.mark.parametrize(
    ("given", "keys", "reason"),
    [
        (sendgrid(signature=""), [PUBLIC], f"missing {SIGNATURE_HEADER}"),
        (sendgrid(timestamp=None), [PUBLIC], f"missing {TIMESTAMP_HEADER}"),
        (sendgrid(signature="not base64!"), [PUBLIC], "the signature is not base64"),
        (sendgrid(signature="c2lnbmF0dXJl!"), [PUBLIC], "the signature is not base64"),
        (sendgrid(), [RSA_PUBLIC], "no verification key matches the signature"),
        (sendgrid(), [PUBLIC[:40] + "!" + PUBLIC[40:]],
         "no verification key matches the signature"),
        (sendgrid(), ["not a key"], "no verification key matches the signature"),
    ],
    ids=["no-signature", "no-timestamp", "garbled", "trailing-junk", "rsa-key",
         "garbled-key", "not-a-key"],
)  # fmt: skip
def test_sendgrid_events_say_why(given: Delivery, keys: list[str], reason: str) -> None:
    """A key of the wrong kind, or garbled in the configuration, verifies nothing; it
    does not break the check of the others."""
    assert refusal(SENDGRID, given, keys) == reason


def test_sendgrid_events_pass_with_the_right_key_among_wrong_ones() -> None:
    SENDGRID.verify(sendgrid(), [RSA_PUBLIC, "not a key", PUBLIC], NOW)


# --- WooCommerce ------------------------------------------------------------------------

WOO = WooCommerceAdapter()


def test_woocommerce_says_why() -> None:
    ping = delivery(b"webhook_id=12", content_type="application/x-www-form-urlencoded")
    assert refusal(WOO, ping, ["woo-secret"]) == (
        "unsigned WooCommerce ping (webhook_id=...): WooCommerce never signs pings; "
        "refused like any unsigned request, order deliveries are unaffected"
    )
    order = delivery(b'{"id": 1}', content_type="application/json")
    assert refusal(WOO, order, ["woo-secret"]) == "missing X-WC-Webhook-Signature"
    forged = delivery(b'{"id": 1}', x_wc_webhook_signature="Zm9yZ2Vk")
    assert refusal(WOO, forged, ["woo-secret"]) == "X-WC-Webhook-Signature does not match"


# --- Basic credentials or a URL token: SendGrid Inbound Parse, Postmark -----------------

INBOUND, POSTMARK = SendGridInboundAdapter(), PostmarkAdapter()
PAIR, OTHER_PAIR, TOKEN, OTHER_TOKEN = "inbound:pass", "old:secret", "tok-1", "tok-2"


def basic(credentials: str, scheme: str = "Basic", gap: str = " ") -> str:
    return f"{scheme}{gap}{base64.b64encode(credentials.encode()).decode()}"


@pytest.mark.parametrize("adapter", [INBOUND, POSTMARK], ids=["sendgrid-inbound", "postmark"])
@pytest.mark.parametrize(
    "secrets", [[PAIR, OTHER_PAIR], [OTHER_PAIR, PAIR]], ids=["first", "second"]
)
def test_any_configured_pair_may_match_whatever_its_place(
    adapter: Adapter, secrets: list[str]
) -> None:
    adapter.verify(delivery(authorization=basic(PAIR)), secrets, NOW)
    # RFC 7235: one or more spaces between the scheme and the credentials.
    adapter.verify(delivery(authorization=basic(PAIR, gap="  ")), secrets, NOW)


@pytest.mark.parametrize("secrets", [[TOKEN, OTHER_TOKEN], [OTHER_TOKEN, TOKEN]])
def test_any_configured_path_token_may_match_whatever_its_place(secrets: list[str]) -> None:
    INBOUND.verify(delivery(path_token=TOKEN), secrets, NOW)


MISSING = "missing credentials (HTTP basic auth or URL token)"
NO_MATCH = "the credentials do not match"


@pytest.mark.parametrize(
    ("given", "reason"),
    [
        (delivery(), MISSING),
        (delivery(authorization="Basic "), MISSING),
        (delivery(authorization=basic(PAIR, scheme="Bearer")), MISSING),
        (delivery(authorization=basic(PAIR)[:-4] + "!" + basic(PAIR)[-4:]), MISSING),
        (delivery(authorization=basic("inbound:wrong")), NO_MATCH),
        (delivery(path_token="tok-wrong"), NO_MATCH),
    ],
    ids=["nothing", "empty-basic", "bearer", "not-base64", "wrong-pair", "wrong-token"],
)
def test_basic_or_token_says_why(given: Delivery, reason: str) -> None:
    assert refusal(INBOUND, given, [PAIR, TOKEN]) == reason


def test_postmark_takes_no_path_token() -> None:
    assert refusal(POSTMARK, delivery(path_token=TOKEN), [PAIR, TOKEN]) == MISSING


# --- the shared helpers, for the bytes they also take -----------------------------------


@pytest.mark.parametrize("as_given", [str.encode, lambda s: s], ids=["bytes", "str"])
def test_require_any_compares_bytes_and_text_alike(as_given: Callable[[str], Any]) -> None:
    digest = hmac_digest("secret", b"message").hex()
    require_any([digest.encode(), "other"], as_given(digest), "signature")
    require_any(["other", digest], as_given(digest), "signature")
    with pytest.raises(SignatureError, match=r"^signature does not match$"):
        require_any([digest], as_given(digest[:-1] + "0"), "signature")


def test_hmac_digest_takes_a_key_as_text_or_bytes() -> None:
    expected = hmac.new(b"secret", b"message", hashlib.sha256).digest()
    assert hmac_digest("secret", b"message") == hmac_digest(b"secret", b"message") == expected
    sha1 = hmac.new(b"secret", b"message", hashlib.sha1).digest()
    assert hmac_digest(b"secret", b"message", "sha1") == sha1
