"""What anyone on the internet can send the webhook receivers: every request is answered
with a 4xx problem+json naming what was wrong, never a 500, and bounded work comes first."""

import hashlib
import hmac
import json
import re
import time
from urllib.parse import urlencode

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import Settings
from app.ingest.adapters.shopify import ShopifyAdapter
from tests.support.bodies import ROUTES, body_request, cut_short
from tests.support.databases import transaction_start
from tests.support.fixtures import AppLog
from tests.support.webhooks import (
    WEBHOOK_SECRETS,
    generic_note,
    golden,
    hmac_b64,
    mailgun_event_data,
    mailgun_signature,
    shopify_post,
    shopify_refund,
    signed_generic,
    twilio_signature,
)

STRIPE_SECRET = WEBHOOK_SECRETS["stripe"]
TWILIO_PATH = "/v1/webhooks/twilio"
CALL = {
    "CallSid": "CA" + "1" * 32,
    "CallStatus": "completed",
    "Direction": "inbound",
    "From": "+34612345678",
    "To": "+34910000000",
    "Timestamp": "Tue, 14 Apr 2026 10:15:42 +0000",
}


def deep_json(depth: int, around: bytes = b'{"token":%s}') -> bytes:
    return around % (b"[" * depth + b"]" * depth)


def stripe_header(body: bytes, timestamp: str) -> str:
    digest = hmac.new(STRIPE_SECRET.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


def assert_problem(response: httpx.Response, status: int, *words: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    detail = response.json()["detail"]
    for word in words:
        assert word in detail, detail


async def nothing_stored(session: AsyncSession) -> bool:
    """No delivery stored by this test (rows committed by other tests carry another
    received_at: transaction_start)."""
    query = text("SELECT count(*) FROM webhook_deliveries WHERE received_at = :began")
    return await session.scalar(query, {"began": await transaction_start(session)}) == 0


# --- finding: unauthenticated 500s -------------------------------------------------------


@pytest.mark.parametrize("digits", ["²³", "1732400000¹"])
async def test_a_stripe_timestamp_of_non_ascii_digits_is_refused(
    client: httpx.AsyncClient, session: AsyncSession, digits: str
) -> None:
    body = b'{"id": "evt_1", "type": "charge.refunded"}'
    # Header bytes reach the app as latin-1: "²" is the byte 0xB2, a digit to str.isdigit().
    signature = f"t={digits},v1=00".encode("latin-1")
    headers = {"content-type": b"application/json", "stripe-signature": signature}
    response = await client.post("/v1/webhooks/stripe", content=body, headers=headers)
    assert_problem(response, 401, "t=")
    assert await nothing_stored(session)


@pytest.mark.parametrize("source", ["aircall", "mailgun"])
@pytest.mark.parametrize("depth", [100_000, 900, 65])
async def test_json_nested_too_deep_is_refused_before_its_signature(
    client: httpx.AsyncClient, session: AsyncSession, source: str, depth: int
) -> None:
    body = deep_json(depth)
    response = await client.post(
        f"/v1/webhooks/{source}", content=body, headers={"content-type": "application/json"}
    )
    assert_problem(response, 413, "nests deeper than 64")
    assert await nothing_stored(session)


async def test_json_within_the_depth_bound_reaches_the_signature_check(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/v1/webhooks/aircall", content=deep_json(60), headers={"content-type": "application/json"}
    )
    assert_problem(response, 401)


# --- finding: unauthenticated CPU work before the 401 ------------------------------------


async def test_a_huge_stripe_signature_header_is_refused_unread(client: httpx.AsyncClient) -> None:
    # Refused by the length bound ("longer than"), not by parsing it; how fast, is measured
    # by `python -m bench.rejections`, never in a test.
    header = "t=1," + ",".join(["v1=" + "0" * 64] * 2000)
    response = await client.post(
        "/v1/webhooks/stripe", content=b"{}", headers={"stripe-signature": header}
    )
    assert_problem(response, 401, "stripe-signature", "longer than")


async def test_a_twilio_form_with_too_many_fields_is_refused_before_parsing(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    body = "&".join(f"a{n}=1" for n in range(110_000)).encode()[:1_000_000]
    headers = {"content-type": "application/x-www-form-urlencoded", "x-twilio-signature": "x"}
    response = await client.post(TWILIO_PATH, content=body, headers=headers)
    assert_problem(response, 413, "more than 1000 fields")
    assert await nothing_stored(session)


def multipart(parts: int, boundary: str = "b0undary") -> tuple[str, bytes]:
    part = f'--{boundary}\r\nContent-Disposition: form-data; name="f"\r\n\r\nx\r\n'.encode()
    return (
        f"multipart/form-data; boundary={boundary}",
        part * parts + f"--{boundary}--\r\n".encode(),
    )


async def test_a_mailgun_multipart_with_too_many_parts_is_refused_before_parsing(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    content_type, body = multipart(15_000)
    response = await client.post(
        "/v1/webhooks/mailgun", content=body, headers={"content-type": content_type}
    )
    assert_problem(response, 413, "more than 1000 parts")
    assert await nothing_stored(session)


async def test_a_multipart_part_decoded_into_half_a_surrogate_pair_is_not_a_500(
    client: httpx.AsyncClient,
) -> None:
    """UTF-7 decodes "+2AA-" into half a surrogate pair: as an unsigned Mailgun post's
    token (read before anything is verified) it was a 500; it is a 401 like any wrong
    token (the part's text reads U+FFFD there, as for bytes a charset cannot decode)."""
    timestamp = str(int(time.time()))
    parts = [("timestamp", "", timestamp), ("token", "; charset=utf-7", "+2AA-"), ("signature", "", "ab" * 32)]  # fmt: skip
    body = b"".join(
        f'--b\r\nContent-Disposition: form-data; name="{name}"\r\n'
        f"Content-Type: text/plain{charset}\r\n\r\n{value}\r\n".encode()
        for name, charset, value in parts
    )
    response = await client.post(
        "/v1/webhooks/mailgun",
        content=body + b"--b--\r\n",
        headers={"content-type": "multipart/form-data; boundary=b"},
    )
    assert_problem(response, 401)


async def test_a_mailgun_multipart_of_short_lines_is_refused_unsigned(
    client: httpx.AsyncClient,
) -> None:
    """One part of 330,000 short lines (half a second in the email parser it replaced; the
    time is measured by `python -m bench.rejections`, not here) is read and refused."""
    head = b'--b\r\nContent-Disposition: form-data; name="f"\r\n\r\n'
    body = head + b"x\r\n" * 330_000 + b"\r\n--b--\r\n"
    response = await client.post(
        "/v1/webhooks/mailgun",
        content=body,
        headers={"content-type": "multipart/form-data; boundary=b"},
    )
    assert_problem(response, 401)


async def test_a_signed_mailgun_route_post_within_the_bounds_is_accepted(
    client: httpx.AsyncClient,
) -> None:
    """The bounded multipart reader still reads Mailgun's forward() posts."""
    timestamp, token = str(int(time.time())), "c" * 50
    fields = {
        "timestamp": timestamp,
        "token": token,
        "signature": mailgun_signature(WEBHOOK_SECRETS["mailgun"], timestamp, token),
        "sender": "ana@example.com",
        "from": "Ana <ana@example.com>",
        "recipient": "support@example.com",
        "subject": "Hola",
        "body-plain": "¿Dónde está mi pedido?",
        "Message-Id": "<m-1@example.com>",
        "Date": "Tue, 14 Apr 2026 10:15:42 +0000",
        "message-headers": json.dumps([["Message-Id", "<m-1@example.com>"]]),
    }
    response = await client.post(
        "/v1/webhooks/mailgun", files={k: (None, v) for k, v in fields.items()}
    )
    assert response.status_code == 200, response.text


# --- finding: authenticated 500s ---------------------------------------------------------


async def test_a_validly_signed_stripe_timestamp_of_400_digits_is_refused(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    body = b'{"id": "evt_1", "type": "charge.refunded"}'
    timestamp = "9" * 400
    response = await client.post(
        "/v1/webhooks/stripe",
        content=body,
        headers={
            "content-type": "application/json",
            "stripe-signature": stripe_header(body, timestamp),
        },
    )
    assert_problem(response, 401, "t=")
    assert await nothing_stored(session)


@pytest.mark.parametrize("depth", [100_000, 900])
async def test_a_signed_delivery_nested_too_deep_is_kept_failed_with_the_reason(
    client: httpx.AsyncClient, depth: int
) -> None:
    body = deep_json(depth, b'{"id": "evt_deep", "type": "charge.refunded", "data": %s}')
    timestamp = str(int(time.time()))
    response = await client.post(
        "/v1/webhooks/stripe",
        content=body,
        headers={
            "content-type": "application/json",
            "stripe-signature": stripe_header(body, timestamp),
        },
    )
    assert response.status_code == 202, response.text
    assert "nests deeper than 64" in response.json()["reason"]


# --- finding: the URL Twilio signed ------------------------------------------------------


def twilio_post(url: str) -> tuple[bytes, dict[str, str]]:
    body = urlencode(CALL).encode()
    return body, {
        "content-type": "application/x-www-form-urlencoded",
        "x-twilio-signature": twilio_signature(url, body, WEBHOOK_SECRETS["twilio"]),
    }


async def test_twilio_verifies_against_the_url_the_server_is_bound_to(
    client: httpx.AsyncClient,
) -> None:
    body, headers = twilio_post("http://testserver" + TWILIO_PATH)
    response = await client.post(TWILIO_PATH, content=body, headers=headers)
    assert response.status_code == 200, response.text


async def test_a_twilio_signature_for_another_deployment_does_not_verify(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    """Two deployments of one Twilio account share its auth token: a callback captured on
    one, replayed to the other with its Host, must not verify there."""
    for url, extra in [
        ("http://staging.example.com" + TWILIO_PATH, {"host": "staging.example.com"}),
        (
            "https://staging.example.com" + TWILIO_PATH,
            {"host": "staging.example.com", "x-forwarded-proto": "https"},
        ),
    ]:
        body, headers = twilio_post(url)
        response = await client.post(TWILIO_PATH, content=body, headers=headers | extra)
        assert_problem(response, 401, "X-Twilio-Signature")
    assert await nothing_stored(session)


@pytest.fixture
def behind_proxy(app: FastAPI, settings: Settings) -> FastAPI:
    app.state.settings = settings.model_copy(
        update={"public_base_url": "https://history.example.com/"}
    )
    return app


@pytest.mark.usefixtures("behind_proxy")
async def test_with_a_public_base_url_twilio_verifies_against_it_alone(
    client: httpx.AsyncClient,
) -> None:
    body, headers = twilio_post("https://history.example.com" + TWILIO_PATH)
    response = await client.post(TWILIO_PATH, content=body, headers=headers)
    assert response.status_code == 200, response.text
    body, headers = twilio_post("http://testserver" + TWILIO_PATH)
    assert (await client.post(TWILIO_PATH, content=body, headers=headers)).status_code == 401


async def test_a_captured_mailgun_signature_carries_no_second_body(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    """Mailgun signs its timestamp and token, not the body: whoever saw one delivery could
    post any events under its signature for five minutes (bounces for any address). The
    token is the delivery's id, so a second body under it is a duplicate and stores nothing,
    as Mailgun advises (accept a token once)."""
    timestamp, token = str(int(time.time())), "t" * 50
    signature = {
        "timestamp": timestamp,
        "token": token,
        "signature": mailgun_signature(WEBHOOK_SECRETS["mailgun"], timestamp, token),
    }
    genuine = {"signature": signature, "event-data": mailgun_event_data("delivered")}
    first = await client.post("/v1/webhooks/mailgun", json=genuine)
    assert first.json()["status"] == "accepted", first.text

    forged_data = mailgun_event_data("failed", severity="permanent", recipient="victim@example.com")
    forged = await client.post(
        "/v1/webhooks/mailgun", json={"signature": signature, "event-data": forged_data}
    )

    assert forged.json()["status"] == "duplicate", forged.text
    assert await session.scalar(text("SELECT count(*) FROM webhook_deliveries")) == 1
    named = "SELECT count(*) FROM customer_identifiers WHERE value = 'victim@example.com'"
    assert await session.scalar(text(named)) == 0


async def test_half_a_surrogate_pair_in_a_body_carrying_its_own_proof(
    client: httpx.AsyncClient,
) -> None:
    """Mailgun's JSON and Aircall's bodies carry their proof inside: a genuine one with half
    a surrogate pair elsewhere (which the API refuses as malformed JSON) is verified and
    kept failed with the reason, and one in the proof itself is refused, never a 500."""
    timestamp, token = str(int(time.time())), "s" * 50
    signature = {
        "timestamp": timestamp,
        "token": token,
        "signature": mailgun_signature(WEBHOOK_SECRETS["mailgun"], timestamp, token),
    }
    data = json.dumps({"signature": signature, "event-data": mailgun_event_data("delivered")})
    genuine = data.replace('"delivered"', '"delivered\\ud800"', 1).encode()
    kept = await client.post(
        "/v1/webhooks/mailgun", content=genuine, headers={"content-type": "application/json"}
    )
    assert kept.status_code == 202 and kept.json()["status"] == "failed", kept.text
    assert "surrogate" in kept.json()["reason"]
    forged = data.replace(f'"{token}"', '"\\ud800"').encode()
    refused = await client.post(
        "/v1/webhooks/mailgun", content=forged, headers={"content-type": "application/json"}
    )
    assert refused.status_code == 401, refused.text

    call = json.loads(golden("aircall_call_ended.json"))
    call["token"] = WEBHOOK_SECRETS["aircall"]
    body = json.dumps(call).replace('"call.ended"', '"call.ended\\udfff"', 1).encode()
    aircall = await client.post(
        "/v1/webhooks/aircall", content=body, headers={"content-type": "application/json"}
    )
    assert aircall.status_code == 202 and aircall.json()["status"] == "failed", aircall.text
    call["token"] = "\ud800"
    refused = await client.post(
        "/v1/webhooks/aircall",
        content=json.dumps(call).encode(),
        headers={"content-type": "application/json"},
    )
    assert refused.status_code == 401, refused.text


def mailgun_json(token: str, data: str = "", signature: str | None = None) -> bytes:
    """A Mailgun JSON post signed for ``token`` (as decoded), with ``token`` and the
    signature written as given (escapes kept) and ``data`` inside its event-data."""
    timestamp = str(int(time.time()))
    decoded = json.loads(f'"{token}"')
    signed = (timestamp + decoded).encode("utf-8", "surrogatepass")
    digest = hmac.new(WEBHOOK_SECRETS["mailgun"].encode(), signed, hashlib.sha256).hexdigest()
    return (
        f'{{"signature":{{"timestamp":"{timestamp}","token":"{token}",'
        f'"signature":"{signature or digest}"}},"event-data":{{"event":"delivered"{data}}}}}'
    ).encode()


@pytest.mark.parametrize("token", ["\\ud800abc", "\\ud800" + "a" * 300, "a\\u0000\\ud800"])
async def test_half_a_surrogate_pair_in_a_signed_token_keeps_the_delivery(
    client: httpx.AsyncClient, token: str
) -> None:
    """The token is the delivery's id: the driver could not write it (a 500, the delivery
    lost); it is stored digested, and the same token again is the same delivery."""
    headers = {"content-type": "application/json"}
    answer = await client.post("/v1/webhooks/mailgun", content=mailgun_json(token), headers=headers)
    assert answer.status_code == 202 and answer.json()["status"] == "failed", answer.text
    stored = answer.json()["delivery_id"]
    assert re.fullmatch(r"(a*|abc)~[0-9a-f]{64}|sha256:[0-9a-f]{64}", stored), stored
    again = await client.post("/v1/webhooks/mailgun", content=mailgun_json(token), headers=headers)
    assert (again.json()["status"], again.json()["delivery_id"]) == ("duplicate", stored)


async def test_an_escaped_signature_beside_half_a_surrogate_pair_keeps_the_delivery(
    client: httpx.AsyncClient,
) -> None:
    """Where the signature is not in the body verbatim, the body is kept re-written without
    it: its half pair failed that second reading (a 500)."""
    body = mailgun_json("t" * 20, ',"x":"\\ud800"')
    signature = json.loads(body)["signature"]["signature"]
    at = next(n for n, c in enumerate(signature) if c.isalpha())  # a letter, escaped
    written = signature[:at] + f"\\u{ord(signature[at]):04x}" + signature[at + 1 :]
    answer = await client.post(
        "/v1/webhooks/mailgun",
        content=body.replace(signature.encode(), written.encode()),
        headers={"content-type": "application/json"},
    )
    assert answer.status_code == 202 and answer.json()["status"] == "failed", answer.text
    assert "surrogate" in answer.json()["reason"]


async def test_an_id_shaped_as_a_digested_one_is_another_delivery(
    client: httpx.AsyncClient,
) -> None:
    """A token with a NUL is stored as its start and a digest; a genuine token written as
    that very text was taken for it, a duplicate, its events dropped."""
    headers = {"content-type": "application/json"}
    first = await client.post(
        "/v1/webhooks/mailgun", content=mailgun_json("tok\\u0000en"), headers=headers
    )
    stored = first.json()["delivery_id"]
    assert re.fullmatch(r"token~[0-9a-f]{64}", stored), first.text
    second = await client.post(
        "/v1/webhooks/mailgun", content=mailgun_json(stored), headers=headers
    )
    assert second.json()["status"] != "duplicate", second.text
    assert second.json()["delivery_id"] not in (stored, first.json()["delivery_id"])


# --- finding: a signed delivery with a long id -------------------------------------------


async def test_signed_deliveries_with_ids_past_the_column_are_each_stored_once(
    client: httpx.AsyncClient,
) -> None:
    """A sender's delivery id is its own choice: ids longer than the stored key are neither
    a 500 nor mistaken for one another when they share their first 300 characters."""
    long_id = "msg_" + "7" * 400
    answers = []
    for msg_id in (long_id + "a", long_id + "b", long_id + "a"):
        body = json.dumps(generic_note(email=f"{msg_id[-1]}@example.com")).encode()
        answer = await client.post(
            "/v1/webhooks/generic", content=body, headers=signed_generic(body, msg_id)
        )
        assert answer.status_code == 200, answer.text
        answers.append(answer.json())
    assert [a["status"] for a in answers] == ["accepted", "accepted", "duplicate"]
    assert [a["events"] for a in answers[:2]] == [1, 1]
    assert answers[0]["delivery_id"] == answers[2]["delivery_id"] != answers[1]["delivery_id"]


# --- finding: a signed delivery with a NUL character --------------------------------------


async def test_a_signed_delivery_with_a_nul_character_is_kept_failed_naming_the_field(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    """Genuine but unstorable as events (PostgreSQL text holds no U+0000): kept failed with
    the field named, not refused (the platform would send it again, forever)."""
    body = json.dumps(generic_note(payload={"text": "Asked\u0000 twice"})).encode()
    answer = await client.post(
        "/v1/webhooks/generic", content=body, headers=signed_generic(body, "msg_nul")
    )
    assert answer.status_code == 202, answer.text
    assert answer.json()["status"] == "failed"
    assert "event 0: payload.text" in answer.json()["reason"]
    assert "NUL" in answer.json()["reason"]
    stored = await client.get(
        "/v1/webhook-deliveries", params={"source": "generic", "status": "failed"}, headers=admin
    )
    assert [d["delivery_id"] for d in stored.json()["items"]] == ["msg_nul"]


@pytest.mark.parametrize("instant", ["9999-12-31T23:59:59.999999Z", "0001-01-01T00:00:00-00:00"])
async def test_a_platform_s_time_the_service_cannot_store_keeps_the_delivery_failed(
    client: httpx.AsyncClient, instant: str
) -> None:
    """The first and last instants are stored by the driver as infinities (refused where
    an instant is stored): a platform's order placed at one is kept failed with the
    reason, not a 500 that loses it."""
    order = json.loads(golden("shopify_orders_create.json"))
    order["created_at"] = order["processed_at"] = instant
    raw, headers = shopify_post(order, "orders/create", f"w-extreme-{instant[:4]}")
    answer = await client.post("/v1/webhooks/shopify", content=raw, headers=headers)
    assert answer.status_code == 202, answer.text
    assert answer.json()["status"] == "failed"
    assert "occurred_at" in answer.json()["reason"]


# --- finding: a sender gone mid-body --------------------------------------------------------


@pytest.mark.parametrize("route", ROUTES)
async def test_a_sender_gone_mid_body_is_a_400_not_an_error_of_the_service(
    app: FastAPI, app_log: AppLog, client: httpx.AsyncClient, admin: dict[str, str], route: str
) -> None:
    """Anyone can open a request and hang up mid-body: answered as a body that never
    arrived whole, on every route that reads one, with nothing logged as the service's
    error."""
    request = await body_request(route, client, admin)
    sent = await cut_short(app, request, client_leaves=True)
    assert sent[0]["status"] == 400
    assert [line for line in app_log.lines() if line["level"] == "error"] == []


# --- finding: what a signed delivery holds, no adapter failing on it a 500 ------------------


async def failed_for(
    client: httpx.AsyncClient, source: str, raw: bytes, headers: dict[str, str]
) -> str:
    answer = await client.post(f"/v1/webhooks/{source}", content=raw, headers=headers)
    assert answer.status_code == 202, answer.text
    assert answer.json()["status"] == "failed", answer.text
    return str(answer.json()["reason"])


@pytest.mark.parametrize("customer_id", ["12 34", "9" * 250])
async def test_a_platform_customer_id_no_external_id_holds_keeps_the_delivery_failed(
    client: httpx.AsyncClient, customer_id: str
) -> None:
    """The reference's model refused it outside any handler: a 500, the delivery lost."""
    order = json.loads(golden("shopify_orders_create.json"))
    order["customer"]["id"] = customer_id
    raw, headers = shopify_post(order, "orders/create", f"w-cid-{len(customer_id)}")
    assert "external_id" in await failed_for(client, "shopify", raw, headers)


async def test_a_refund_past_what_an_amount_holds_keeps_the_delivery_failed(
    client: httpx.AsyncClient,
) -> None:
    """1e1000000 is a finite Decimal; summing it overflowed Decimal's context (a 500)."""
    order = json.loads(golden("shopify_orders_create.json"))
    refund = shopify_refund(order, 1)
    refund["transactions"][0]["amount"] = "1e1000000"
    raw, headers = shopify_post(refund, "refunds/create", "w-refund-huge")
    reason = await failed_for(client, "shopify", raw, headers)
    assert "transactions.amount" in reason and "more digits than an amount holds" in reason


async def test_a_quantity_read_as_a_huge_decimal_keeps_the_delivery_failed(
    client: httpx.AsyncClient,
) -> None:
    """WooCommerce's numbers are read as Decimals, and 1e5000 became an integer of 5,001
    digits, which the event's fingerprint could not write: a 500 after the delivery's row."""
    order = json.loads(golden("woocommerce_order_created.json"))
    order["line_items"] = [{"name": "Mug", "quantity": "Q", "price": 1.5}]
    raw = json.dumps(order).replace('"Q"', "1e5000").encode()
    headers = {
        "content-type": "application/json",
        "x-wc-webhook-topic": "order.created",
        "x-wc-webhook-signature": hmac_b64(WEBHOOK_SECRETS["woocommerce"], raw),
    }
    assert "qty: Input should be less than or equal to" in await failed_for(
        client, "woocommerce", raw, headers
    )


async def test_an_adapter_failing_on_a_body_keeps_it_failed_and_logs_no_message(
    client: httpx.AsyncClient, app_log: AppLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever an adapter raises reading a genuine delivery, the delivery is kept failed
    with the exception's type, to be replayed once the adapter reads it; what the
    exception says (it may quote the body) is neither the reason nor logged."""

    def fails(self: object, delivery: object) -> list[object]:
        raise TypeError("Ana Núñez")

    monkeypatch.setattr(ShopifyAdapter, "normalize", fails)
    order = json.loads(golden("shopify_orders_create.json"))
    raw, headers = shopify_post(order, "orders/create", "w-adapter-fault")
    reason = await failed_for(client, "shopify", raw, headers)
    assert reason == "the shopify adapter could not read it (TypeError); kept to be replayed"
    assert "Ana" not in app_log.text()
    logged = [line for line in app_log.lines() if line["event"] == "adapter_failed"]
    assert {(line["source"], line["error"]) for line in logged} == {("shopify", "TypeError")}


async def test_aircall_tags_and_comments_that_are_no_lists_and_a_long_name_are_read(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    call = json.loads(golden("aircall_call_ended.json"))
    call["data"].update(tags=1, comments=True)
    call["data"]["contact"] = {"first_name": "A" * 200, "last_name": "B" * 200}
    answer = await client.post("/v1/webhooks/aircall", json=call)
    assert answer.status_code == 200, answer.text
    found = await client.get(
        "/v1/customers", params={"phone": call["data"]["raw_digits"]}, headers=admin
    )
    [customer] = found.json()["items"]
    assert customer["display_name"] == "A" * 200 + " " + "B" * 99


async def test_a_nul_in_a_delivery_id_or_a_header_stores_the_delivery(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    """No text or JSON column takes a NUL: the delivery was refused (422), so lost. Its id
    is kept as its start and a digest, the header with U+FFFD."""
    body = json.dumps(generic_note()).encode()
    headers = signed_generic(body, msg_id="msg_\x00nul") | {"x-trace": "a\x00b"}
    answer = await client.post("/v1/webhooks/generic", content=body, headers=headers)
    assert answer.status_code == 200, answer.text
    stored = answer.json()["delivery_id"]
    assert stored.startswith("msg_nul~") and "\x00" not in stored
    query = text("SELECT headers->>'x-trace' FROM webhook_deliveries WHERE delivery_id = :id")
    assert await session.scalar(query, {"id": stored}) == "a\ufffdb"
