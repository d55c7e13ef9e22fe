"""Signed webhook deliveries per second through the real server: a Shopify and Twilio mix.

.venv/bin/python -m bench.webhooks [--deliveries 6000] [--concurrency 32] [--workers 1]
"""

import argparse
import asyncio
import base64
import hashlib
import hmac
import json
from urllib.parse import parse_qsl, urlencode

from bench.harness import running_service, write_results
from bench.load import build, fire

SHOPIFY_SECRET = "bench-shopify-secret"
TWILIO_TOKEN = "bench-twilio-token"


def shopify(n: int) -> tuple[str, bytes, dict[str, str]]:
    order = {
        "id": 9_000_000 + n,
        "name": f"#{n}",
        "email": f"buyer{n % 5000}@bench.example",
        "created_at": "2026-04-14T11:05:12+01:00",
        "processed_at": "2026-04-14T11:05:11+01:00",
        "currency": "EUR",
        "total_price": "47.00",
        "customer": {
            "id": 7_000_000 + n % 5000,
            "email": f"buyer{n % 5000}@bench.example",
            "first_name": "Ana",
            "last_name": "Ruiz",
        },
        "line_items": [{"sku": "MUG-1", "title": "Mug", "quantity": 2, "price": "23.50"}],
    }
    body = json.dumps(order).encode()
    signature = base64.b64encode(hmac.new(SHOPIFY_SECRET.encode(), body, hashlib.sha256).digest())
    return (
        "/v1/webhooks/shopify",
        body,
        {
            "content-type": "application/json",
            "x-shopify-topic": "orders/create",
            "x-shopify-webhook-id": f"bench-{n}",
            "x-shopify-hmac-sha256": signature.decode(),
        },
    )


def twilio(n: int, base: str) -> tuple[str, bytes, dict[str, str]]:
    params = {
        "CallSid": f"CA{n:032d}",
        "CallStatus": "completed" if n % 4 else "no-answer",
        "Direction": "inbound",
        "From": f"+3461{n % 5000:07d}",
        "To": "+34910000000",
        "CallDuration": str(n % 600),
        "Timestamp": "Tue, 14 Apr 2026 10:15:42 +0000",
        "AccountSid": "AC" + "a" * 32,
    }
    body = urlencode(params).encode()
    url = f"{base}/v1/webhooks/twilio"
    signed = url + "".join(k + v for k, v in sorted(params.items()))
    signature = base64.b64encode(
        hmac.new(TWILIO_TOKEN.encode(), signed.encode(), hashlib.sha1).digest()
    )
    return (
        "/v1/webhooks/twilio",
        body,
        {
            "content-type": "application/x-www-form-urlencoded",
            "x-twilio-signature": signature.decode(),
        },
    )


# What the service needs to verify the deliveries above.
SECRETS = {"CH_WEBHOOK_SHOPIFY_SECRETS": SHOPIFY_SECRET, "CH_WEBHOOK_TWILIO_SECRETS": TWILIO_TOKEN}


def deliveries(base_url: str, first: int, count: int) -> list[bytes]:
    """Signed deliveries ``first`` .. ``first + count``, alternately Twilio and Shopify,
    each new (its own webhook id or call sid)."""
    requests = []
    for n in range(first, first + count):
        path, body, headers = shopify(n) if n % 2 else twilio(n, base_url)
        requests.append(build(base_url, "POST", path, headers, body))
    return requests


def bare_deliveries(base_url: str, first: int, count: int) -> list[bytes]:
    """The same deliveries as the bare insert endpoint takes them (``bench/ceiling_app.py``):
    source, delivery id and payload as one JSON body, unsigned."""
    requests = []
    for n in range(first, first + count):
        if n % 2:
            _, body, headers = shopify(n)
            payload = json.loads(body)
            delivery = {"source": "shopify", "delivery_id": headers["x-shopify-webhook-id"]}
        else:
            _, body, _ = twilio(n, base_url)
            payload = dict(parse_qsl(body.decode()))
            delivery = {"source": "twilio", "delivery_id": payload["CallSid"]}
        body = json.dumps({**delivery, "payload": payload}).encode()
        headers = {"content-type": "application/json"}
        requests.append(build(base_url, "POST", "/deliveries", headers, body))
    return requests


async def run(count: int, concurrency: int, workers: int) -> dict[str, object]:
    env = {**SECRETS, "CH_DB_POOL_SIZE": str(max(10, concurrency // workers))}
    with running_service(workers=workers, extra_env=env) as service:
        outcome = await fire(service.base_url, deliveries(service.base_url, 0, count), concurrency)
    return {
        "deliveries": count,
        "workers": workers,
        "concurrency": concurrency,
        **outcome.summary(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--deliveries", type=int, default=6000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    figures = asyncio.run(run(args.deliveries, args.concurrency, args.workers))
    print(f"{'metric':<24} value")
    for name, value in figures.items():
        print(f"{name:<24} {value}")
    print(f"written to {write_results(f'webhooks_{args.workers}w', figures)}")


if __name__ == "__main__":
    main()
