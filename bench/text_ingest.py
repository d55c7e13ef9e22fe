"""Webhook ingest with and without text analysis, on one server in one run: signed
generic deliveries of e-mails carrying 1 KB of customer text, alternately received
(analysed at ingestion) and sent (the same bytes stored, not analysed), in interleaved
rounds so that both see the same machine load. ``make bench`` takes the same two kinds of
delivery in each of its rounds (``bench/suite.py``).

.venv/bin/python -m bench.text_ingest [--deliveries 1200] [--rounds 3] [--concurrency 16]
"""

import argparse
import asyncio
import json
from datetime import UTC, datetime

import asyncpg
from standardwebhooks.webhooks import Webhook

from app.core.db import plain_url
from bench.harness import running_service, write_results
from bench.load import build, fire

SECRET = "whsec_YmVuY2gtdGV4dC1pbmdlc3Qtc2VjcmV0LTAwMDA="
# The customers who write: each delivery is one of theirs.
WRITERS = 2000
# About 1 KB each, as customers write: angry, urgent, a question, thanks.
TEXTS = [
    "Hola, es la tercera vez que escribo por el pedido que hice hace dos semanas y sigue sin "
    "llegar. El seguimiento no se mueve desde el lunes y nadie me responde. Necesito el "
    "paquete antes del viernes porque es un regalo. Si no lo solucionáis hoy mismo pediré el "
    "reembolso y me daré de baja. Estoy muy enfadada, es inaceptable el trato que recibo. ",
    "Hello, I am writing about my invoice for last month: I was charged twice for the same "
    "subscription and I would like to know when the duplicate charge will be refunded. I have "
    "attached the bank statement. Could you also tell me how to change my payment method? "
    "Thanks in advance for your help, I hope this can be sorted out soon. ",
    "Bom dia, a internet está fora do ar desde ontem à noite e trabalho de casa. Já reiniciei "
    "o router várias vezes e continua sem funcionar. Preciso que enviem um técnico urgente, "
    "não posso ficar mais um dia sem ligação. Obrigado. ",
    "Bonjour, je voulais simplement vous remercier : le technicien est venu à l'heure, il a "
    "été très aimable et tout fonctionne parfaitement maintenant. Service excellent, je "
    "recommanderai votre entreprise à mes amis. ",
]


def _text(n: int) -> str:
    base = TEXTS[n % len(TEXTS)]
    return (base * (1 + 1000 // len(base)))[:1000]


def delivery(base_url: str, n: int, analysed: bool) -> bytes:
    event = {
        "customer": {"email": f"writer{n % WRITERS}@bench.example"},
        "type": "email.received" if analysed else "email.sent",
        "occurred_at": "2026-04-14T10:05:14Z",
        "source_event_id": f"text-{n}",
        "payload": {"subject": "Mi pedido", "excerpt": _text(n)},
    }
    body = json.dumps(event).encode()
    msg_id = f"text-{n}"
    # One instant for the signature and its header: read twice, a second can turn between.
    signed_at = datetime.now(UTC).replace(microsecond=0)
    signature = Webhook(SECRET).sign(msg_id, signed_at, body.decode())
    headers = {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(signed_at.timestamp())),
        "webhook-signature": signature,
    }
    return build(base_url, "POST", "/v1/webhooks/generic", headers, body)


def deliveries(base_url: str, first: int, count: int, *, analysed: bool) -> list[bytes]:
    """Deliveries ``first`` .. ``first + count``, each new: e-mails received (analysed at
    ingestion) or sent (stored, not analysed)."""
    return [delivery(base_url, n, analysed) for n in range(first, first + count)]


async def run(count: int, rounds: int, concurrency: int) -> dict[str, object]:
    env = {"CH_WEBHOOK_GENERIC_SECRETS": SECRET, "CH_DB_POOL_SIZE": str(max(10, concurrency))}
    seconds = {True: 0.0, False: 0.0}
    failures: dict[int, int] = {}
    with running_service(extra_env=env) as service:
        # A warm-up of each kind: every writer created, statements prepared, rules
        # compiled. Then the tables' statistics, as autovacuum takes them within its first
        # minute and `make bench` after seeding: planned on the empty tables of a fresh
        # database, each statement's one plan read every stats row in turn (a sequential
        # scan of customer_stats on every delivery, costlier the larger its rows).
        for analysed in (True, False):
            warm = deliveries(
                service.base_url, 10**7 + analysed * 10**6, WRITERS, analysed=analysed
            )
            await fire(service.base_url, warm, concurrency)
        conn = await asyncpg.connect(plain_url(service.database_url))
        try:
            await conn.execute("ANALYZE")
        finally:
            await conn.close()
        first = 0
        for _ in range(rounds):
            for analysed in (False, True):
                batch = deliveries(service.base_url, first, count, analysed=analysed)
                first += count
                outcome = await fire(service.base_url, batch, concurrency)
                seconds[analysed] += outcome.seconds
                for status, n in outcome.statuses.items():
                    if status != 200:
                        failures[status] = failures.get(status, 0) + n
    without = rounds * count / seconds[False]
    with_analysis = rounds * count / seconds[True]
    return {
        "deliveries_each": rounds * count,
        "rounds": rounds,
        "concurrency": concurrency,
        "text_bytes": 1000,
        "without_analysis_per_s": round(without, 1),
        "with_analysis_per_s": round(with_analysis, 1),
        "with_over_without": round(with_analysis / without, 3),
        "non_200": failures or 0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--deliveries", type=int, default=1200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    figures = asyncio.run(run(args.deliveries, args.rounds, args.concurrency))
    print(f"{'metric':<24} value")
    for name, value in figures.items():
        print(f"{name:<24} {value}")
    print(f"written to {write_results('text_ingest', figures)}")


if __name__ == "__main__":
    main()
