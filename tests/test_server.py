"""End to end: the real `customer-history serve` process."""

import asyncio
import contextlib
import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from app.core.db import plain_url
from app.fichas.templates import DEFAULT_TEMPLATES
from tests.support.databases import scratch_database
from tests.support.server import admin_key, run_cli, start, stop, wait_ready

pytestmark = pytest.mark.e2e


@pytest.fixture
def server(database_url: str) -> Iterator[str]:
    env = {**os.environ, "DATABASE_URL": database_url}
    process, base = start(env)
    try:
        wait_ready(base, process, 30)
        yield base
    finally:
        stop(process)


def test_served_process_is_ready_and_checks_keys(server: str) -> None:
    assert httpx.get(f"{server}/readyz").json()["status"] == "ready"
    denied = httpx.get(f"{server}/v1/me", headers={"Authorization": "Bearer wrong"})
    assert denied.status_code == 401
    assert denied.headers["content-type"] == "application/problem+json"
    too_big = httpx.post(f"{server}/v1/me", content=b"x" * (2 * 1024 * 1024))
    assert too_big.status_code == 413


def test_embedded_postgres_when_no_database_url(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "CH_DATABASE_URL"}}
    env["CH_DATA_DIR"] = str(tmp_path / "data")
    process, base = start(env)
    try:
        wait_ready(base, process, 60)
    finally:
        stop(process)
    assert process.returncode == 0
    pid_file = tmp_path / "data" / "pg" / "postmaster.pid"
    deadline = time.monotonic() + 15
    while pid_file.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not pid_file.exists(), "the embedded PostgreSQL kept running after the service stopped"


def test_a_template_edit_reaches_both_workers(scratch_url: str) -> None:
    """Each worker keeps the templates it read; an admin's edit, committed through one of
    them, drops every copy (NOTIFY), so both answer with the new template at once."""
    env = {**os.environ, "DATABASE_URL": scratch_url}
    process, base = start(env, "--workers", "2")
    try:
        wait_ready(base, process, 60)
        admin = admin_key(env, "e2e")
        customer = {"display_name": "Ana", "identifiers": [{"kind": "phone", "value": "611000001"}]}
        assert httpx.post(f"{base}/v1/customers", json=customer, headers=admin).is_success

        async def sections_answered() -> set[tuple[str, ...]]:
            # A new connection per request, so that both workers answer some of them.
            limits = httpx.Limits(max_keepalive_connections=0)
            async with httpx.AsyncClient(base_url=base, headers=admin, limits=limits) as client:
                pops = await asyncio.gather(
                    *(
                        client.get("/v1/fichas/by-phone/611000001", params={"role": "support"})
                        for _ in range(24)
                    )
                )
            assert {p.status_code for p in pops} == {200}
            return {tuple(p.json()["sections"]) for p in pops}

        # A customer without a history: the sections with nothing to show are left out.
        shown = {"identity", "indicators", "flags", "preferences"}
        default = tuple(s["name"] for s in DEFAULT_TEMPLATES["support"] if s["name"] in shown)
        for _ in range(3):  # both workers read it and keep it
            assert asyncio.run(sections_answered()) == {default}
        short = [{"name": "identity"}, {"name": "indicators"}, {"name": "flags"}]
        put = httpx.put(
            f"{base}/v1/ficha-templates/support", json={"sections": short}, headers=admin
        )
        assert put.status_code == 200
        time.sleep(0.5)  # the notification delay, generously
        for _ in range(3):
            assert asyncio.run(sections_answered()) == {("identity", "indicators", "flags")}
    finally:
        stop(process)


def test_a_revoked_key_is_refused_by_every_process_within_a_second(scratch_url: str) -> None:
    """Two servers (as two replicas) keep the callers they authenticated; a revocation
    committed anywhere (here the command line) reaches both within a second. That they
    keep them is shown first: a revocation whose notification is suppressed (triggers off
    for that commit) goes unseen until the next notified change drops every copy."""
    env = {**os.environ, "DATABASE_URL": scratch_url}
    servers = [start(env)]
    try:
        wait_ready(servers[0][1], servers[0][0], 60)  # the first migrates the database
        servers.append(start(env))
        wait_ready(servers[1][1], servers[1][0], 60)
        silent, notified = key_with_id(env, "silent"), key_with_id(env, "notified")

        def answers(headers: dict[str, str]) -> list[int]:
            return [httpx.get(f"{base}/v1/me", headers=headers).status_code for _, base in servers]

        for _ in range(3):  # each process authenticates both keys, then keeps them
            assert answers(silent[1]) == answers(notified[1]) == [200, 200]
        asyncio.run(revoke_without_notifying(scratch_url, silent[0]))
        assert answers(silent[1]) == [200, 200]  # kept: no statement asked the database

        revoked = run_cli(scratch_url, "keys", "revoke", notified[0])
        assert revoked.returncode == 0, revoked.stderr
        committed = time.monotonic()
        while (seen := answers(notified[1])) != [401, 401]:
            assert time.monotonic() - committed < 1.0, f"still {seen} after a second"
            time.sleep(0.02)
        assert answers(silent[1]) == [401, 401]  # every copy went with the notification
    finally:
        for process, _ in servers:
            stop(process)


def key_with_id(env: dict[str, str], name: str) -> tuple[str, dict[str, str]]:
    """A new admin key made with `keys create`: its id and its Authorization header."""
    created = run_cli(env["DATABASE_URL"], "keys", "create", "--role", "admin", "--name", name)
    assert created.returncode == 0, created.stderr
    key_id = created.stderr.split("created key ")[1].split()[0]
    return key_id, {"Authorization": f"Bearer {created.stdout.strip().splitlines()[-1]}"}


async def revoke_without_notifying(url: str, key_id: str) -> None:
    conn = await asyncpg.connect(plain_url(url))
    try:
        # By hand, past the repository that notifies the change.
        await conn.execute("UPDATE api_keys SET revoked_at = now() WHERE id = $1", key_id)
    finally:
        await conn.close()


def healthz_answered_per_worker(metrics_dir: Path) -> list[float]:
    """Each worker's own count of GET /healthz, read from its samples file."""
    from prometheus_client.mmap_dict import MmapedDict

    counts = []
    for path in sorted(metrics_dir.glob("counter_*.db")):
        if path.stat().st_size < 8:
            continue  # a worker still creating its file has counted nothing yet
        total = 0.0
        for key, value, _timestamp, _position in MmapedDict.read_all_values_from_file(str(path)):
            _metric, name, labels, _help = json.loads(key)
            if name == "http_requests_total" and labels.get("route") == "/healthz":
                total += value
        counts.append(total)
    return counts


def test_metrics_add_up_every_worker(database_url: str, tmp_path: Path) -> None:
    """Two workers answer one port, each answered some of the probes, and any of them
    answers /metrics for both."""
    env = {**os.environ, "DATABASE_URL": database_url}
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    process, base = start(env, "--workers", "2")
    try:
        wait_ready(base, process, 60)

        async def probes(n: int) -> None:
            # A new connection per request, so that both workers may answer some of them.
            limits = httpx.Limits(max_keepalive_connections=0)
            async with httpx.AsyncClient(base_url=base, limits=limits) as client:
                answers = await asyncio.gather(*(client.get("/healthz") for _ in range(n)))
            assert {a.status_code for a in answers} == {200}

        # Which worker accepts a connection is the kernel's choice, and the second may
        # still be starting when the first answers /readyz: probe until both answered.
        sent, deadline = 0, time.monotonic() + 60

        def workers_that_answered() -> int:
            return sum(1 for n in healthz_answered_per_worker(metrics_dir) if n > 0)

        while time.monotonic() < deadline and workers_that_answered() < 2:
            asyncio.run(probes(50))
            sent += 50
            time.sleep(0.2)
        per_worker = healthz_answered_per_worker(metrics_dir)
        assert len(per_worker) == 2 and all(n > 0 for n in per_worker), per_worker
        assert sum(per_worker) == sent
        scraped = httpx.get(f"{base}/metrics").text
        counted = [
            float(line.rsplit(" ", 1)[1])
            for line in scraped.splitlines()
            if line.startswith('http_requests_total{method="GET",route="/healthz",status="200"}')
        ]
        assert counted == [float(sent)]
        # The answer comes from the workers' shared files (multiprocess mode), which hold
        # no collector of a single process such as python_info.
        assert "python_info" not in scraped
    finally:
        stop(process)


def _raw_request(base: str, request: bytes) -> bytes:
    """Send ``request`` on its own connection; whatever the server answers before closing."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        # The server may answer and close before reading it all.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            conn.sendall(request)
        answer = b""
        while b"\r\n\r\n" not in answer:
            try:
                chunk = conn.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            answer += chunk
        return answer


@pytest.fixture(scope="module")
def twilio_server(database_url: str) -> Iterator[str]:
    """A served process on a database of its own (the deliveries it accepts commit)."""
    with scratch_database(database_url) as url:
        env = {**os.environ, "DATABASE_URL": url, "CH_WEBHOOK_TWILIO_SECRETS": "tw-token"}
        process, base = start(env)
        try:
            wait_ready(base, process, 60)
            yield base
        finally:
            stop(process)


@pytest.mark.parametrize(
    "headers",
    [
        [("X-Pad", "a" * 40_000)],
        [("Stripe-Signature", "v1=" + "0," * 2_500_000)],
        [(f"X-H{n}", "1") for n in range(150)],
    ],
    ids=["40 KB", "5 MB", "150 headers"],
)
def test_oversized_request_heads_get_431_from_the_server(
    twilio_server: str, headers: list[tuple[str, str]]
) -> None:
    head = "".join(f"{name}: {value}\r\n" for name, value in headers)
    request = f"POST /v1/webhooks/stripe HTTP/1.1\r\nHost: x\r\n{head}Content-Length: 2\r\n\r\n{{}}"
    answer = _raw_request(twilio_server, request.encode())
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]
    assert b"application/problem+json" in answer
    assert httpx.get(f"{twilio_server}/healthz").status_code == 200


def test_a_twilio_signature_for_a_forwarded_url_does_not_verify(twilio_server: str) -> None:
    """Without CH_PUBLIC_BASE_URL or CH_TRUSTED_PROXIES, X-Forwarded-Proto and Host sent
    from 127.0.0.1 do not choose the URL the signature is checked against."""
    import base64
    import hashlib
    import hmac
    from urllib.parse import urlencode

    params = {"CallSid": "CA" + "2" * 32, "CallStatus": "completed", "Direction": "inbound"}
    params |= {"From": "+34612345678", "To": "+34910000000"}
    body = urlencode(params)

    def signature(url: str) -> str:
        message = url + "".join(k + v for k, v in sorted(params.items()))
        digest = hmac.new(b"tw-token", message.encode(), hashlib.sha1).digest()
        return base64.b64encode(digest).decode()

    forged = httpx.post(
        f"{twilio_server}/v1/webhooks/twilio",
        content=body,
        headers={
            "content-type": "application/x-www-form-urlencoded",
            "host": "other.example.com",
            "x-forwarded-proto": "https",
            "x-twilio-signature": signature("https://other.example.com/v1/webhooks/twilio"),
        },
    )
    assert forged.status_code == 401, forged.text
    bound = httpx.post(
        f"{twilio_server}/v1/webhooks/twilio",
        content=body,
        headers={
            "content-type": "application/x-www-form-urlencoded",
            "x-twilio-signature": signature(f"{twilio_server}/v1/webhooks/twilio"),
        },
    )
    assert bound.status_code == 200, bound.text
