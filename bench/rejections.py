"""How cheaply the service refuses unauthenticated garbage, and whether probes wait for it.

.venv/bin/python -m bench.rejections [--rounds 5]

For each webhook source, the real server (1 worker, every source configured) is sent the
worst ~1 MB delivery an anonymous caller can make for it (forms of 110,000 fields, 15,000
multipart parts, JSON nested 500,000 deep, random bytes), unsigned, plus a 5 MB
Stripe-Signature header; the time to the answer is the median of ``--rounds``. Then four of
the slowest are sent at once, over and over, while ``/healthz`` is asked every 10 ms: its
latency shows how long the event loop stalls. Prints a table and writes
bench/results/rejections.json. Never part of the test pass/fail.
"""

import argparse
import asyncio
import contextlib
import os
import statistics
import time
from collections.abc import Callable

from bench.harness import running_service, write_results
from bench.load import build

MB = 1_000_000
SECRETS = {
    "generic": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    "twilio": "bench-twilio-token",
    "aircall": "bench-aircall-token",
    "sendgrid-inbound": "inbound:bench-pass",
    "sendgrid-events": (
        "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEUekcEzcZ7NpNGPimEYB989uV+hqO5aHJ4IvTAeL1Cl7V"
        "/Z0/pp2tZu/Nn1664S27IkdiZ+1XHLmr00jJte+mZQ=="
    ),
    "mailgun": "bench-mailgun-key",
    "postmark": "postmark:bench-pass",
    "shopify": "bench-shopify-secret",
    "woocommerce": "bench-woocommerce-secret",
    "stripe": "whsec_bench",
}
Garbage = tuple[str, dict[str, str], bytes]  # path, headers, body


def _form(fields: int) -> bytes:
    return b"&".join(b"a%d=1" % n for n in range(fields))[: MB - 16]


def _multipart(parts: int) -> tuple[str, bytes]:
    boundary = "b0undary"
    part = f'--{boundary}\r\nContent-Disposition: form-data; name="f"\r\n\r\nx\r\n'.encode()
    body = (part * parts)[: MB - 64] + f"--{boundary}--\r\n".encode()
    return f"multipart/form-data; boundary={boundary}", body


def _deep_json() -> bytes:
    return b'{"token":' + b"[" * (MB // 2 - 16) + b"]" * (MB // 2 - 16) + b"}"


def _short_lines() -> tuple[str, bytes]:
    head = b'--b\r\nContent-Disposition: form-data; name="f"\r\n\r\n'
    return "multipart/form-data; boundary=b", head + b"x\r\n" * 330_000 + b"\r\n--b--\r\n"


NOISE = os.urandom(MB - 1024)
SHORT_LINES = _short_lines()
FORM = _form(110_000)
MULTIPART = _multipart(15_000)
DEEP = _deep_json()

# Per source: the worst unsigned delivery an anonymous caller can send it.
GARBAGE: dict[str, Callable[[], Garbage]] = {
    "twilio (110,000 form fields)": lambda: (
        "/v1/webhooks/twilio",
        {"content-type": "application/x-www-form-urlencoded", "x-twilio-signature": "x" * 28},
        FORM,
    ),
    "mailgun (15,000 multipart parts)": lambda: (
        "/v1/webhooks/mailgun",
        {"content-type": MULTIPART[0]},
        MULTIPART[1],
    ),
    "mailgun (one part of 330,000 short lines)": lambda: (
        "/v1/webhooks/mailgun",
        {"content-type": SHORT_LINES[0]},
        SHORT_LINES[1],
    ),
    "mailgun (JSON nested 500,000 deep)": lambda: (
        "/v1/webhooks/mailgun",
        {"content-type": "application/json"},
        DEEP,
    ),
    "aircall (JSON nested 500,000 deep)": lambda: (
        "/v1/webhooks/aircall",
        {"content-type": "application/json"},
        DEEP,
    ),
    "stripe (5 MB Stripe-Signature header)": lambda: (
        "/v1/webhooks/stripe",
        {"content-type": "application/json", "stripe-signature": "v1=" + "0," * 2_500_000},
        b"{}",
    ),
    "stripe (1 MB random body)": lambda: (
        "/v1/webhooks/stripe",
        {"content-type": "application/json", "stripe-signature": "t=1,v1=00"},
        NOISE,
    ),
    "shopify (1 MB random body)": lambda: (
        "/v1/webhooks/shopify",
        {"content-type": "application/json", "x-shopify-hmac-sha256": "AAAA"},
        NOISE,
    ),
    "woocommerce (1 MB random body)": lambda: (
        "/v1/webhooks/woocommerce",
        {"content-type": "application/json", "x-wc-webhook-signature": "AAAA"},
        NOISE,
    ),
    "generic (1 MB random body)": lambda: (
        "/v1/webhooks/generic",
        {"webhook-id": "m", "webhook-timestamp": "1", "webhook-signature": "v1,AAAA"},
        NOISE,
    ),
    "sendgrid-events (1 MB random body)": lambda: (
        "/v1/webhooks/sendgrid-events",
        {
            "x-twilio-email-event-webhook-signature": "AAAA",
            "x-twilio-email-event-webhook-timestamp": str(int(time.time())),
        },
        NOISE,
    ),
    "sendgrid-inbound (15,000 multipart parts)": lambda: (
        "/v1/webhooks/sendgrid-inbound",
        {"content-type": MULTIPART[0]},
        MULTIPART[1],
    ),
    "postmark (1 MB random body)": lambda: (
        "/v1/webhooks/postmark",
        {"content-type": "application/json"},
        NOISE,
    ),
}
# The four sent at once while /healthz is timed.
PARALLEL = (
    "twilio (110,000 form fields)",
    "mailgun (15,000 multipart parts)",
    "stripe (5 MB Stripe-Signature header)",
    "aircall (JSON nested 500,000 deep)",
)


async def _send(base: str, request: bytes) -> tuple[int, float]:
    """One request on its own connection: its status (0 when the server closed it
    without an answer) and seconds to the answer."""
    host, port = base.removeprefix("http://").split(":")
    started = time.perf_counter()
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(request)
        with contextlib.suppress(ConnectionError):  # refused before it was all sent
            await writer.drain()
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
        except (ConnectionError, asyncio.IncompleteReadError):
            status = 0  # closed (or reset, the refusal lost) without an answer
        return status, time.perf_counter() - started
    finally:
        writer.close()


def _request(base: str, name: str) -> bytes:
    path, headers, body = GARBAGE[name]()
    return build(base, "POST", path, headers, body)


async def _healthz_while(base: str, requests: list[bytes], rounds: int) -> list[float]:
    """/healthz latencies, asked every 10 ms while ``requests`` are sent at once (``rounds``
    times over)."""
    latencies: list[float] = []
    probe = build(base, "GET", "/healthz", {})
    for _ in range(rounds):
        flood = asyncio.gather(*(_send(base, r) for r in requests))
        while not flood.done():
            latencies.append((await _send(base, probe))[1])
            await asyncio.sleep(0.01)
        await flood
    return latencies


async def run(rounds: int) -> dict[str, object]:
    env = {f"CH_WEBHOOK_{k.upper().replace('-', '_')}_SECRETS": v for k, v in SECRETS.items()}
    figures: dict[str, object] = {}
    with running_service(extra_env=env) as service:
        base = service.base_url
        for name in GARBAGE:
            request = _request(base, name)
            outcomes = [await _send(base, request) for _ in range(rounds)]
            statuses = sorted({status for status, _ in outcomes})
            median = statistics.median(seconds for _, seconds in outcomes)
            figures[name] = {"ms": round(median * 1000, 1), "statuses": statuses}
        idle = [(await _send(base, build(base, "GET", "/healthz", {})))[1] for _ in range(20)]
        busy = await _healthz_while(base, [_request(base, n) for n in PARALLEL], rounds)
        figures["/healthz idle"] = {"p50_ms": round(statistics.median(idle) * 1000, 1)}
        figures["/healthz during 4 parallel"] = {
            "p50_ms": round(statistics.median(busy) * 1000, 1),
            "max_ms": round(max(busy) * 1000, 1),
            "probes": len(busy),
        }
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    figures = asyncio.run(run(args.rounds))
    print(f"{'unauthenticated delivery':<44} answer")
    for name, value in figures.items():
        print(f"{name:<44} {value}")
    print(f"written to {write_results('rejections', figures)}")


if __name__ == "__main__":
    main()
