"""Fuzzing: schemathesis drives every operation of openapi/openapi.json against the real
server on a fresh embedded PostgreSQL, as several callers (two owned-only support agents
with their own customers, a sales key, an admin), and checks that nothing answers 500,
every answer (status, content type, headers, body) is the documented one, and one
agent's customers are not readable by the other. Then hypothesis posts random deliveries
to every webhook source, half of them signed with the source's real scheme so that they
reach the adapters: none may answer 5xx, every refusal is problem+json, and the server's
log holds no traceback.

Run with `pytest -m fuzz` (CI runs it as its own step). The seed changes per run and is
printed first as `FUZZ_SEED=<n>`: `FUZZ_SEED=<n> pytest -m fuzz` replays a run.
`FUZZ_MAX_EXAMPLES` sets the examples per operation (`make fuzz-long`: 40). The run is
bounded (a time limit) and talks to 127.0.0.1 only; what to check and which seeded
records to aim at is in schemathesis.toml.
"""

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import seed as hypothesis_seed
from standardwebhooks.webhooks import Webhook

from app.core.clock import SYSTEM_CLOCK
from tests.fuzz.webhooks import SECRETS, Post, posts
from tests.support.server import BIN, cli_key, free_port, stop, wait_ready
from tests.support.world import MY_AGENT, THEIR_AGENT, World, build_world

pytestmark = pytest.mark.fuzz

HERE = Path(__file__).resolve().parent
SPEC = HERE.parents[1] / "openapi" / "openapi.json"
ST = Path(sys.executable).parent / "st"
# A new seed per run unless one is given to replay a run.
SEED = int(os.environ.get("FUZZ_SEED") or time.time())
MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES") or 15)  # CI's budget
RUN_SECONDS = 40 * MAX_EXAMPLES  # a run of 15 takes under 2 minutes; past this it has hung
# Every source enabled (tests/fuzz/webhooks.py SECRETS), each delivery on 127.0.0.1.
WEBHOOK_EXAMPLES = 20 * MAX_EXAMPLES  # 300: about 30 s on two cores


@pytest.fixture(scope="module", autouse=True)
def announce_seed(pytestconfig: pytest.Config) -> None:
    """The seed, before anything runs, so that a failing run can be replayed."""
    budget = "" if MAX_EXAMPLES == 15 else f" FUZZ_MAX_EXAMPLES={MAX_EXAMPLES}"
    replay = f"FUZZ_SEED={SEED}{budget} .venv/bin/pytest -m fuzz tests/fuzz"
    line = f"FUZZ_SEED={SEED} (replay: {replay})"
    capture = pytestconfig.pluginmanager.get_plugin("capturemanager")
    with capture.global_and_fixture_disabled():  # shown now, not with the test's output
        print(f"\n{line}", flush=True)


@dataclass
class Service:
    """`customer-history serve` on its own embedded PostgreSQL, and its callers' keys."""

    base: str
    admin: dict[str, str]
    callers: dict[str, dict[str, str]]  # name: Authorization header, in escalation order
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
        # Schemathesis tries the callers in this order and moves on when an operation
        # refuses one (401, 403): the agents' reads stay theirs, campaigns go to sales,
        # and what all three are refused is answered 403.
        keys = {
            "admin": ("--role", "admin"),
            MY_AGENT: ("--role", "support", "--agent-id", MY_AGENT, "--owned-only"),
            THEIR_AGENT: ("--role", "support", "--agent-id", THEIR_AGENT, "--owned-only"),
            "sales": ("--role", "sales", "--agent-id", "sales-1"),
        }

        def make(name: str) -> dict[str, str]:
            return cli_key(env, f"fuzz-{name}", *keys[name])

        with ThreadPoolExecutor() as pool:  # a process each, at once
            made = dict(zip(keys, pool.map(make, keys), strict=True))
        yield Service(base, made.pop("admin"), made, log)
    finally:
        stop(process)


@pytest.fixture(scope="module")
def records(service: Service) -> dict[str, str]:
    """Real records for the path parameters: two agents' customers side by side
    (tests/support/world.py: persons with identifiers, orders, alerts, merged
    duplicates, organisations with contacts), an incident and a signed webhook delivery.
    Returns the ids schemathesis.toml aims at (agent A's) as its FUZZ_* variables."""
    now = datetime.now(UTC)

    async def build() -> World:
        async with httpx.AsyncClient(base_url=service.base, timeout=10) as client:
            return await build_world(client, service.admin, SYSTEM_CLOCK)

    world = asyncio.run(build())
    mine = world.mine
    with httpx.Client(base_url=service.base, headers=service.admin, timeout=10) as api:

        def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
            response = api.post(path, json=body)
            assert response.status_code in (200, 201), response.text
            return dict(response.json())

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
                "customer": {"email": mine.email},
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
        [delivery] = api.get("/v1/webhook-deliveries").json()["items"]
    return {
        "FUZZ_CUSTOMER_ID": mine.person,
        "FUZZ_ORGANIZATION_ID": mine.organization,
        "FUZZ_IDENTIFIER_ID": mine.identifier,
        "FUZZ_PHONE": mine.phone,
        "FUZZ_ALERT_ID": mine.alert,
        "FUZZ_INCIDENT_ID": incident["id"],
        "FUZZ_DELIVERY_ID": delivery["id"],
    }


def schemathesis(
    service: Service,
    records: dict[str, str],
    directory: Path,
    callers: dict[str, Any],
    *options: str,
) -> None:
    """`st run` over openapi.json with ``callers`` (a Web Fuzzing Commons auth document, the
    form schemathesis reads: name and Authorization header); fails on any problem found."""
    document = directory / "callers.json"
    document.write_text(
        json.dumps(
            {
                "auth": [
                    {"name": name, "fixedHeaders": [{"name": k, "value": v} for k, v in h.items()]}
                    for name, h in callers.items()
                ]
            }
        )
    )
    env = {
        **os.environ,
        **records,
        "FUZZ_BASE_URL": service.base,
        "FUZZ_CALLERS": str(document),
        "SCHEMATHESIS_HOOKS": str(HERE / "hooks.py"),
    }
    command = [str(ST), "--config-file", str(HERE / "schemathesis.toml"), "--no-color", "run"]
    command += ["--seed", str(SEED), "--max-examples", str(MAX_EXAMPLES), *options, str(SPEC)]
    # Run from a scratch directory: schemathesis keeps a cache in the working directory.
    run = subprocess.run(
        command, env=env, cwd=directory, capture_output=True, text=True, timeout=RUN_SECONDS
    )
    output = run.stdout + run.stderr
    print(output)
    assert run.returncode == 0, (
        f"schemathesis found problems with FUZZ_SEED={SEED} (server log: {service.log}):\n{output}"
    )


def test_callers_get_what_their_role_and_owner_allow(
    service: Service, records: dict[str, str], tmp_path: Path
) -> None:
    """Every operation as agent A, an owned-only support key (refused: agent B, another,
    then a sales key). What A reads is asked again as B, who must get a 404; refusals are
    documented 403s. Webhooks take no key. The coverage phase (each constraint's edge
    cases) is the admin run's: here it would spend a minute on refusals. Run first: the
    agents barely write (an alert acknowledged, a session token), the admin changes the
    records they read."""
    schemathesis(
        service,
        records,
        tmp_path,
        service.callers,
        "--exclude-path-regex",
        "^/v1/webhooks/",
        "--phases",
        "examples,fuzzing,stateful",
    )


def test_every_operation_answers_as_documented(
    service: Service, records: dict[str, str], tmp_path: Path
) -> None:
    """Every operation as the admin, whom every /v1 route admits."""
    callers = service.callers | {"admin": service.admin}  # the peers must be listed
    schemathesis(service, records, tmp_path, callers, "--auth-wfc-user", "admin")


def test_webhooks_answer_any_delivery_without_a_server_error(service: Service) -> None:
    seen: dict[str, int] = {}
    logged_before = service.log.stat().st_size  # what the schemathesis runs left is theirs

    @settings(
        max_examples=WEBHOOK_EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @hypothesis_seed(SEED)
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
    with service.log.open("rb") as server_log:
        server_log.seek(logged_before)
        log = server_log.read().decode(errors="replace")
    assert "Traceback" not in log and "unhandled_error" not in log, f"see {service.log}"
