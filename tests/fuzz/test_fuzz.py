"""Fuzzing: schemathesis drives every operation of openapi/openapi.json against the real
server on a fresh embedded PostgreSQL, with an admin key, and checks that nothing answers
500 and every answer (status, content type, headers, body) is the documented one. Then
hypothesis posts random deliveries to every webhook source, half of them signed with the
source's real scheme so that they reach the adapters: none may answer 5xx, every refusal
is problem+json, and the server's log holds no traceback.

Run with `pytest -m fuzz` (CI runs it as its own step). The run is bounded (a fixed
number of examples per operation, a fixed seed, a time limit) and talks to 127.0.0.1
only; what to check and which seeded records to aim at is in schemathesis.toml.
"""

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from standardwebhooks.webhooks import Webhook

from tests.fuzz.webhooks import SECRETS, Post, posts
from tests.support.server import BIN, admin_key, free_port, stop, wait_ready

pytestmark = pytest.mark.fuzz

HERE = Path(__file__).resolve().parent
SPEC = HERE.parents[1] / "openapi" / "openapi.json"
ST = Path(sys.executable).parent / "st"
RUN_SECONDS = 420  # the run takes 70 to 90 s; past this it has hung


@dataclass
class Service:
    """`customer-history serve` on its own embedded PostgreSQL, and an admin key."""

    base: str
    admin: dict[str, str]
    log: Path


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    data_dir = tmp_path_factory.mktemp("fuzz")
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env |= {"CH_DATA_DIR": str(data_dir), "CH_LOG_LEVEL": "WARNING"}
    env |= {
        f"CH_WEBHOOK_{source.upper().replace('-', '_')}_SECRETS": secrets
        for source, secrets in SECRETS.items()
    }
    log = data_dir / "service.log"  # kept for a failing run
    port = free_port()
    with log.open("ab") as out:
        process = subprocess.Popen(
            [str(BIN), "serve", "--port", str(port)], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_ready(base, process, 90)
        yield Service(base, admin_key(env, "fuzz"), log)
    finally:
        stop(process)


def seed(service: Service) -> dict[str, str]:
    """Real records for the path parameters: a vip caller with an alert, an incident and a
    stored webhook delivery. Returns their ids as the FUZZ_* variables of schemathesis.toml."""
    now = datetime.now(UTC)
    with httpx.Client(base_url=service.base, headers=service.admin, timeout=10) as api:

        def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
            response = api.post(path, json=body)
            assert response.status_code in (200, 201), response.text
            return dict(response.json())

        customer = post(
            "/v1/customers",
            {
                "given_name": "Lucía",
                "family_name": "Núñez",
                "tier": "vip",
                "identifiers": [
                    {"kind": "phone", "value": "+34 612 345 678"},
                    {"kind": "email", "value": "lucia@example.com"},
                ],
            },
        )
        events = f"/v1/customers/{customer['id']}/events"
        for hours_ago in (3, 2.5, 2, 1.5):  # four missed calls in 4 hours: an urgent alert
            at = (now - timedelta(hours=hours_ago)).isoformat()
            post(events, {"type": "call.missed", "occurred_at": at, "payload": {}})
        post(
            events,
            {
                "type": "order.placed",
                "occurred_at": (now - timedelta(days=2)).isoformat(),
                "source": "shop",
                "source_event_id": "SO-1",
                "payload": {
                    "order_id": "SO-1",
                    "items": [{"sku": "BOOT-42", "name": "Boot", "qty": 1, "unit_price": "129.90"}],
                    "total": "129.90",
                    "currency": "EUR",
                },
            },
        )
        incident = post(
            "/v1/incidents",
            {
                "title": "Carrier strike",
                "matcher": {
                    "shipped_from": (now - timedelta(days=3)).isoformat(),
                    "shipped_to": now.isoformat(),
                },
            },
        )
        secret = SECRETS["generic"].split(",")[0]
        body = json.dumps(
            {
                "customer": {"email": "lucia@example.com"},
                "type": "note.added",
                "occurred_at": now.isoformat(),
                "source": "crm",
                "source_event_id": "note-1",
                "payload": {"text": "Asked for a call back"},
            }
        )
        delivered = api.post(
            "/v1/webhooks/generic",
            content=body,
            headers={
                "content-type": "application/json",
                "webhook-id": "msg-1",
                "webhook-timestamp": str(int(now.timestamp())),
                "webhook-signature": Webhook(secret).sign("msg-1", now, body),
            },
        )
        assert delivered.status_code == 200, delivered.text
        [alert] = api.get("/v1/alerts", params={"customer_id": customer["id"]}).json()["items"]
        [delivery] = api.get("/v1/webhook-deliveries").json()["items"]
    email = next(i for i in customer["identifiers"] if i["kind"] == "email")
    return {
        "FUZZ_CUSTOMER_ID": customer["id"],
        "FUZZ_IDENTIFIER_ID": email["id"],
        "FUZZ_PHONE": "+34612345678",
        "FUZZ_ALERT_ID": alert["id"],
        "FUZZ_INCIDENT_ID": incident["id"],
        "FUZZ_DELIVERY_ID": delivery["id"],
    }


def test_every_operation_answers_as_documented(service: Service, tmp_path: Path) -> None:
    env = {
        **os.environ,
        **seed(service),
        "FUZZ_BASE_URL": service.base,
        "FUZZ_API_KEY": service.admin["Authorization"].removeprefix("Bearer "),
        "SCHEMATHESIS_HOOKS": str(HERE / "hooks.py"),
    }
    # Run from a scratch directory: schemathesis keeps a cache in the working directory.
    run = subprocess.run(
        [str(ST), "--config-file", str(HERE / "schemathesis.toml"), "--no-color", "run", str(SPEC)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=RUN_SECONDS,
    )
    output = run.stdout + run.stderr
    print(output)
    assert run.returncode == 0, (
        f"schemathesis found problems (server log: {service.log}):\n{output}"
    )


# Every source enabled (tests/fuzz/webhooks.py SECRETS), each delivery on 127.0.0.1.
WEBHOOK_EXAMPLES = 300  # about 30 s on two cores


def test_webhooks_answer_any_delivery_without_a_server_error(service: Service) -> None:
    seen: dict[str, int] = {}

    @settings(
        max_examples=WEBHOOK_EXAMPLES,
        deadline=None,
        derandomize=True,  # the same deliveries on every run
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(post=posts(service.base))
    def deliver(post: Post) -> None:
        with httpx.Client(base_url=service.base, timeout=30) as api:
            headers = {k: v.encode("latin-1") for k, v in post.headers.items()}  # as sent
            response = api.post(post.path, content=post.body, headers=headers)
        outcome = f"{post.source} {'signed' if post.signed else 'unsigned'} {response.status_code}"
        seen[outcome] = seen.get(outcome, 0) + 1
        assert response.status_code < 500, f"{outcome}: {response.text}"
        if response.status_code >= 400:
            assert response.headers["content-type"] == "application/problem+json", outcome

    deliver()
    print(json.dumps(dict(sorted(seen.items())), indent=1))
    reached = {o.split()[0] for o in seen if o.endswith((" 200", " 202"))}
    assert len(reached) >= 8, f"signed deliveries reached too few adapters: {sorted(reached)}"
    log = service.log.read_text(errors="replace")
    assert "Traceback" not in log and "unhandled_error" not in log, f"see {service.log}"
