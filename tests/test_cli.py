"""The `customer-history` command line, run as a real process."""

import hashlib
import os
import re
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx

from app.core.db import plain_url
from tests.support.clock import ControlledClock
from tests.support.server import BIN, run_cli


async def test_keys_create_list_revoke(database_url: str) -> None:
    created = run_cli(
        database_url,
        "keys",
        "create",
        "--role",
        "support",
        "--name",
        "cli-test",
        "--agent-id",
        "agent-9",
        "--owned-only",
    )
    assert created.returncode == 0, created.stderr
    secret = created.stdout.strip().splitlines()[-1]
    assert len(secret) >= 43

    conn = await asyncpg.connect(plain_url(database_url))
    try:
        row = await conn.fetchrow(
            "SELECT id, role, agent_id, owned_only FROM api_keys WHERE key_hash = $1",
            hashlib.sha256(secret.encode()).hexdigest(),
        )
        assert row is not None
        assert (row["role"], row["agent_id"], row["owned_only"]) == ("support", "agent-9", True)

        listed = run_cli(database_url, "keys", "list")
        assert str(row["id"]) in listed.stdout
        assert secret not in listed.stdout

        assert run_cli(database_url, "keys", "revoke", str(row["id"])).returncode == 0
        revoked = await conn.fetchval("SELECT revoked_at FROM api_keys WHERE id = $1", row["id"])
        assert revoked is not None
        assert run_cli(database_url, "keys", "revoke", str(row["id"])).returncode == 1
    finally:
        await conn.execute("DELETE FROM api_keys WHERE name = 'cli-test'")
        await conn.close()


def test_unknown_role_is_refused(database_url: str) -> None:
    result = run_cli(database_url, "keys", "create", "--role", "janitor")
    assert result.returncode != 0
    assert "janitor" in result.stderr


def test_owned_only_needs_an_agent(database_url: str) -> None:
    result = run_cli(database_url, "keys", "create", "--role", "sales", "--owned-only")
    assert result.returncode != 0


def test_stats_rebuild_rules_sweep_and_text_reanalyze_run(database_url: str) -> None:
    rebuilt = run_cli(database_url, "stats", "rebuild")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert rebuilt.stdout.strip().startswith("rebuilt ")
    swept = run_cli(database_url, "rules", "sweep")
    assert swept.returncode == 0, swept.stderr
    assert swept.stdout.strip().startswith("evaluated ")
    reanalysed = run_cli(database_url, "text", "reanalyze", "--since", "2026-01-01")
    assert reanalysed.returncode == 0, reanalysed.stderr
    assert re.fullmatch(
        r"analysed \d+ messages with 2\+rules\.2026-11-29", reanalysed.stdout.strip()
    )


async def test_retention_run_deletes_expired_access_log_rows_in_batches(
    database_url: str,
) -> None:
    conn = await asyncpg.connect(plain_url(database_url))
    try:
        customer = await conn.fetchval(
            "INSERT INTO customers (id, kind, display_name) "
            "VALUES (gen_random_uuid(), 'person', 'Old reader') RETURNING id"
        )
        await conn.execute(
            "INSERT INTO access_log (id, customer_id, key_id, role, what, at) "
            "SELECT gen_random_uuid(), $1, gen_random_uuid(), 'support', 'ficha:support', "
            "now() - make_interval(days => 400 - n % 2 * 399) FROM generate_series(1, 5) AS n",
            customer,
        )
        done = run_cli(database_url, "retention", "run", "--batch", "2")
        assert done.returncode == 0, done.stderr
        # Its totals count whatever else expired in the database: this test's rows decide.
        assert re.match(r"removed \d+ raw deliveries, \d+ access-log rows", done.stdout)
        assert (
            await conn.fetchval("SELECT count(*) FROM access_log WHERE customer_id = $1", customer)
            == 3
        )
    finally:
        await conn.execute(
            "DELETE FROM access_log WHERE what = 'ficha:support' AND role = 'support'"
        )
        await conn.execute("DELETE FROM customers WHERE display_name = 'Old reader'")
        await conn.close()


async def test_keys_create_supervisor_and_no_owned_only_admin(database_url: str) -> None:
    created = run_cli(
        database_url,
        "keys",
        "create",
        "--role",
        "support",
        "--name",
        "cli-supervisor",
        "--agent-id",
        "lead-1",
        "--supervisor",
    )
    assert created.returncode == 0, created.stderr
    secret = created.stdout.strip().splitlines()[-1]
    conn = await asyncpg.connect(plain_url(database_url))
    try:
        row = await conn.fetchrow(
            "SELECT id, supervisor FROM api_keys WHERE key_hash = $1",
            hashlib.sha256(secret.encode()).hexdigest(),
        )
        assert row is not None and row["supervisor"] is True
        listed = run_cli(database_url, "keys", "list").stdout.splitlines()
        [line] = [line for line in listed if line.startswith(str(row["id"]))]
        assert "\tsupervisor\t" in line

        refused = run_cli(
            database_url,
            "keys",
            "create",
            "--role",
            "admin",
            "--name",
            "cli-supervisor",
            "--agent-id",
            "agent-1",
            "--owned-only",
        )
        assert refused.returncode == 2, "a usage error"  # the message is boxed by the terminal
        admins = await conn.fetchval(
            "SELECT count(*) FROM api_keys WHERE name = 'cli-supervisor' AND role = 'admin'"
        )
        assert admins == 0
    finally:
        await conn.execute("DELETE FROM api_keys WHERE name = 'cli-supervisor'")
        await conn.close()


def test_keys_create_on_the_embedded_database(tmp_path: Path) -> None:
    """Without DATABASE_URL the commands start the embedded PostgreSQL and give the
    service its own login: `migrate` then `keys create`, as the README's tour does."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "CH_DATABASE_URL", "CH_SERVICE_DATABASE_URL"}
    }
    env["CH_DATA_DIR"] = str(tmp_path / "data")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BIN), *args], env=env, capture_output=True, text=True, timeout=120, check=False
        )

    migrated = run("migrate")
    assert migrated.returncode == 0, migrated.stderr
    created = run("keys", "create", "--role", "admin", "--name", "tour")
    assert created.returncode == 0, created.stderr
    assert len(created.stdout.strip().splitlines()[-1]) >= 43
    listed = run("keys", "list")
    assert listed.returncode == 0 and "tour" in listed.stdout, listed.stderr


async def test_rules_sweep_clears_an_alert_whose_window_the_real_clock_has_passed(
    database_url: str, live: tuple[httpx.AsyncClient, dict[str, str]], clock: ControlledClock
) -> None:
    """The command runs on the system clock: calls committed five hours in the past raise
    the alert as of then, and the sweep, as of now, finds them out of the 4-hour window."""
    client, admin = live
    clock.set(datetime.now(UTC) - timedelta(hours=5))
    created = await client.post(
        "/v1/customers", json={"display_name": "Swept", "tier": "vip"}, headers=admin
    )
    customer = created.json()["id"]
    for minutes_ago in (30, 20, 10, 0):
        call = {"type": "call.abandoned", "occurred_at": clock.ago(minutes=minutes_ago).isoformat()}
        appended = await client.post(f"/v1/customers/{customer}/events", json=call, headers=admin)
        assert appended.status_code == 201, appended.text

    async def status() -> str:
        found = await client.get("/v1/alerts", params={"customer_id": customer}, headers=admin)
        [alert] = found.json()["items"]
        return str(alert["status"])

    assert await status() == "open"
    swept = run_cli(database_url, "rules", "sweep")
    assert swept.returncode == 0, swept.stderr
    assert await status() == "cleared"
