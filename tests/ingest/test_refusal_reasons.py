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
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from standardwebhooks.webhooks import Webhook

from app.ingest.adapters.aircall import AircallAdapter
from app.ingest.adapters.base import (
    MAX_SIGNATURE_HEADER,
    Adapter,
    Delivery,
    PayloadError,
    SignatureError,
)
from app.ingest.adapters.generic import GenericAdapter
from app.ingest.adapters.mailgun import MailgunAdapter
from app.ingest.adapters.postmark import PostmarkAdapter
from app.ingest.adapters.sendgrid_events import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    SendGridEventsAdapter,
)
from app.ingest.adapters.sendgrid_inbound import SendGridInboundAdapter
from app.ingest.adapters.shopify import ShopifyAdapter
from app.ingest.adapters.signatures import hmac_digest, require_any
from app.ingest.adapters.stripe import StripeAdapter
from app.ingest.adapters.twilio import TwilioAdapter
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


# --- Shopify and Stripe: HMACs of the raw body ------------------------------------------

SHOPIFY = ShopifyAdapter()


def test_shopify_says_why() -> None:
    missing = delivery(b"{}")
    assert refusal(SHOPIFY, missing, ["shop-secret"]) == "missing X-Shopify-Hmac-Sha256"
    forged = delivery(b"{}", x_shopify_hmac_sha256="Zm9yZ2Vk")
    assert refusal(SHOPIFY, forged, ["shop-secret"]) == "X-Shopify-Hmac-Sha256 does not match"


STRIPE = StripeAdapter()
STRIPE_SECRET, STRIPE_OLD = "whsec_stripe_test", "whsec_stripe_old"
STRIPE_BODY = b'{"id": "evt_1", "type": "payment_intent.succeeded"}'
T = str(int(NOW.timestamp()))


def v1(secret: str = STRIPE_SECRET, timestamp: str = T) -> str:
    signed = f"{timestamp}.".encode() + STRIPE_BODY
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def stripe(header: str) -> Delivery:
    return delivery(STRIPE_BODY, stripe_signature=header)


@pytest.mark.parametrize(
    "header",
    [
        f"t={T},v1={v1()}",
        f"v1={v1()},t={T}",  # the parts in any order
        f"t={T},v1={v1()},v1={'0' * 64}",  # any v1 may match, first or last
        f"t={T},v1={'0' * 64},v1={v1()}",
        f"t={T},v0={'0' * 64},v1={v1()}",
    ],
)
def test_stripe_accepts_every_documented_shape(header: str) -> None:
    STRIPE.verify(stripe(header), [STRIPE_SECRET], NOW)


@pytest.mark.parametrize("secrets", [[STRIPE_SECRET, STRIPE_OLD], [STRIPE_OLD, STRIPE_SECRET]])
def test_stripe_accepts_any_configured_secret_whatever_its_place(secrets: list[str]) -> None:
    STRIPE.verify(stripe(f"t={T},v1={v1()}"), secrets, NOW)


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        ("", "missing Stripe-Signature"),
        (f"t={T}", "Stripe-Signature has no t= timestamp or no v1= signature"),
        (f"v1={v1()}", "Stripe-Signature has no t= timestamp or no v1= signature"),
        (f"t={T},v0={v1()}", "Stripe-Signature has no t= timestamp or no v1= signature"),
        (f"t={T},v1=", "Stripe-Signature has no t= timestamp or no v1= signature"),
        (f"t=={T},v1={v1()}", "Stripe-Signature t= is not a Unix time in seconds"),
        (f"t=1234567890123,v1={v1()}", "Stripe-Signature t= is not a Unix time in seconds"),
        (f"t={T},v1={'0' * 64}", "no Stripe-Signature v1 matches"),
        (f"t=123456789012,v1={v1(timestamp='123456789012')}",
         "Stripe-Signature timestamp 123456789012 is outside 300 s of now"),
    ],
    ids=["empty", "no-v1", "no-t", "only-v0", "empty-v1", "t==", "13-digits", "forged",
         "12-digits"],
)  # fmt: skip
def test_stripe_says_why(header: str, reason: str) -> None:
    assert refusal(STRIPE, stripe(header), [STRIPE_SECRET]) == reason


def test_a_signature_header_of_exactly_the_bound_is_read() -> None:
    """The bound is 2,048 characters: that many are read (here, refused as forged), one
    more is refused unread."""
    padding = ",v0=" + "0" * (MAX_SIGNATURE_HEADER - len(f"t={T},v1={'0' * 64}") - 4)
    header = f"t={T},v1={'0' * 64}{padding}"
    assert len(header) == MAX_SIGNATURE_HEADER
    assert refusal(STRIPE, stripe(header), [STRIPE_SECRET]) == "no Stripe-Signature v1 matches"
    assert refusal(STRIPE, stripe(header + "0"), [STRIPE_SECRET]) == (
        f"stripe-signature is longer than {MAX_SIGNATURE_HEADER} characters"
    )


# --- the generic source: Standard Webhooks ----------------------------------------------

GENERIC = GenericAdapter()
GENERIC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def generic(body: bytes, signature: str | None = None) -> Delivery:
    sent = NOW
    if signature is None:
        signature = Webhook(GENERIC_SECRET).sign("msg_1", sent, body.decode())
    return Delivery(
        url=URL,
        headers={
            "webhook-id": "msg_1",
            "webhook-timestamp": str(int(sent.timestamp())),
            "webhook-signature": signature,
        },
        body=body,
    )


def test_a_signed_generic_body_verifies_even_when_it_is_not_json() -> None:
    """Verifying reads the signature, not the body: a genuine body this service cannot
    read is kept failed (202) for an admin, not refused as forged."""
    GENERIC.verify(generic(b"not json at all"), [GENERIC_SECRET], NOW)
    deep = b"[" * 5000 + b"]" * 5000
    GENERIC.verify(generic(deep), [GENERIC_SECRET], NOW)


def test_the_generic_source_says_why() -> None:
    forged = generic(b"{}", signature="v1,Zm9yZ2Vk")
    assert refusal(GENERIC, forged, [GENERIC_SECRET]) == "no webhook-signature matches"
    stale = generic(b"{}")
    later = NOW + timedelta(seconds=301)
    assert refusal(GENERIC, stale, [GENERIC_SECRET], later) == (
        "webhook-timestamp is more than 300 s from now (stale or replayed)"
    )
    unnamed = Delivery(url=URL, headers={"webhook-signature": "v1,Zm9yZ2Vk"}, body=b"{}")
    assert refusal(GENERIC, unnamed, [GENERIC_SECRET]) == (
        "webhook-id, webhook-timestamp (seconds) and a signature needed"
    )
    huge = generic(b"{}", signature="v1,Zm9yZ2Vk " * 400)
    assert refusal(GENERIC, huge, [GENERIC_SECRET]) == (
        f"webhook-signature is longer than {MAX_SIGNATURE_HEADER} characters"
    )


def _without(given: Delivery, header: str) -> Delivery:
    headers = {k: v for k, v in given.headers.items() if k != header}
    return Delivery(url=URL, headers=headers, body=given.body)


NEEDED = "webhook-id, webhook-timestamp (seconds) and a signature needed"


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_the_generic_source_needs_all_three_headers(missing: str) -> None:
    assert refusal(GENERIC, _without(generic(b"{}"), missing), [GENERIC_SECRET]) == NEEDED


def test_the_generic_source_takes_a_timestamp_of_ascii_digits_only() -> None:
    given = generic(b"{}")
    headers = {**given.headers, "webhook-timestamp": "١٧٧٦١٦٠٠٠٠"}  # Arabic-Indic digits
    odd = Delivery(url=URL, headers=headers, body=b"{}")
    assert refusal(GENERIC, odd, [GENERIC_SECRET]) == NEEDED


def test_the_generic_source_refuses_a_body_it_cannot_have_signed() -> None:
    given = generic(b"{}")
    binary = Delivery(url=URL, headers=dict(given.headers), body=b"\xff\xfe")
    assert refusal(GENERIC, binary, [GENERIC_SECRET]) == (
        "the body is not UTF-8, so it cannot be signed"
    )


@pytest.mark.parametrize(
    "secrets",
    [["not base64!", "", GENERIC_SECRET], [GENERIC_SECRET, "whsec_"]],
    ids=["malformed-first", "empty-last"],
)
def test_a_malformed_generic_secret_matches_nothing_and_breaks_nothing(
    secrets: list[str],
) -> None:
    GENERIC.verify(generic(b"{}"), secrets, NOW)


@pytest.mark.parametrize(
    "offered",
    ["v1,Zm9yZ2Vk {good}", "v1,abc {good}", "{good} v1,Zm9yZ2Vk", "v2,{value} {good}"],
    ids=["forged-first", "unreadable-first", "good-first", "other-version-first"],
)
def test_any_generic_signature_offered_may_match(offered: str) -> None:
    """Senders rotating their secret send several signatures, space-separated."""
    good = generic(b"{}").headers["webhook-signature"]
    header = offered.format(good=good, value=good.partition(",")[2])
    given = generic(b"{}", signature=header)
    GENERIC.verify(given, [GENERIC_SECRET], NOW)


def test_a_signature_of_another_version_is_not_a_v1() -> None:
    good = generic(b"{}").headers["webhook-signature"]
    other = generic(b"{}", signature="v2," + good.partition(",")[2])
    assert refusal(GENERIC, other, [GENERIC_SECRET]) == "no webhook-signature matches"


# --- Twilio: an HMAC of the URL it called and the sorted form ---------------------------

TWILIO = TwilioAdapter()
TWILIO_TOKEN = "twilio-auth-token"
FORM = b"CallSid=CA1&CallStatus=completed&From=%2B34612345678"


def twilio_signature(url: str, body: bytes = FORM) -> str:
    pairs = sorted(parse_qsl(body.decode(), keep_blank_values=True))
    message = url + "".join(name + value for name, value in pairs)
    digest = hmac.new(TWILIO_TOKEN.encode(), message.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


@pytest.mark.parametrize(
    ("called", "signed"),
    [
        ("http://[2001:db8::5]:8000/v1/webhooks/twilio", "http://[2001:db8::5]/v1/webhooks/twilio"),
        ("https://[2001:db8::5]/v1/webhooks/twilio", "https://[2001:db8::5]:443/v1/webhooks/twilio"),
        ("http://203.0.113.5:8000/v1/webhooks/twilio", "http://203.0.113.5:8000/v1/webhooks/twilio"),
    ],
)  # fmt: skip
def test_twilio_verifies_with_or_without_the_port_ipv6_included(called: str, signed: str) -> None:
    given = Delivery(
        url=called,
        headers={
            "content-type": "application/x-www-form-urlencoded",
            "x-twilio-signature": twilio_signature(signed),
        },
        body=FORM,
    )
    TWILIO.verify(given, [TWILIO_TOKEN], NOW)


def test_twilio_says_why() -> None:
    headers = {"content-type": "application/x-www-form-urlencoded"}
    unsigned = Delivery(url=URL, headers=headers, body=FORM)
    assert refusal(TWILIO, unsigned, [TWILIO_TOKEN]) == "missing X-Twilio-Signature"
    forged = Delivery(url=URL, headers={**headers, "x-twilio-signature": "Zm9yZ2Vk"}, body=FORM)
    assert refusal(TWILIO, forged, [TWILIO_TOKEN]) == "X-Twilio-Signature does not match"
    binary = Delivery(url=URL, headers={**headers, "x-twilio-signature": "x"}, body=b"\xff\xfe")
    assert refusal(TWILIO, binary, [TWILIO_TOKEN]) == (
        "the body is not a form Twilio could have signed"
    )


# --- what a delivery that cannot be read is kept failed with ----------------------------


def test_an_unreadable_body_is_kept_with_what_is_wrong_with_it() -> None:
    with pytest.raises(PayloadError, match=r"^the body is not JSON: "):
        delivery(b"{nope").json()
    with pytest.raises(PayloadError, match=r"^the form body is not UTF-8: "):
        delivery(b"a=\xff").form_pairs()


def test_json_options_reach_the_parser() -> None:
    """WooCommerce reads prices as decimals: 0.1 stays 0.1."""
    assert delivery(b'{"price": 0.1}').json(parse_float=Decimal) == {"price": Decimal("0.1")}
