"""Liveness, readiness and metrics."""

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from alembic import command
from sqlalchemy import text

from app.core.config import Settings
from app.core.db import Database
from app.core.migration_head import head_revision
from app.core.migrations import alembic_config
from app.main import create_app


async def test_healthz(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_when_migrated(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["status"] == "ready"


@pytest.mark.parametrize(
    "url",
    ["postgresql://nobody@127.0.0.1:1/none", "postgresql://postgres@/missing?host=/nonexistent"],
)
async def test_readyz_fails_without_database(url: str) -> None:
    app = create_app(Settings(database_url=url))
    app.state.db = Database(url)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.get("/readyz")
    await app.state.db.dispose()
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["retry-after"]


async def test_a_request_that_finds_every_connection_in_use_is_a_503_to_retry(
    settings: Settings,
) -> None:
    """A process whose connections are all in use makes a request wait for one, then
    answers 503 with Retry-After: never a 500."""
    busy = settings.model_copy(update={"db_pool_size": 1, "db_pool_timeout": 0.2})
    app = create_app(busy)
    app.state.db = Database.from_settings(busy)
    transport = httpx.ASGITransport(app=app)
    key = {"Authorization": "Bearer hQOksBmMaQa0O0uoj4lVgeJcxhja8CkD-cXWap9_gkE"}
    try:
        async with (
            httpx.AsyncClient(transport=transport, base_url="http://t") as client,
            app.state.db.engine.connect() as held,
        ):
            await held.execute(text("SELECT 1"))  # the pool's one connection, taken
            response = await client.get(
                "/v1/customers/0190d6a4-0000-7000-8000-000000000001", headers=key
            )
    finally:
        await app.state.db.dispose()
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["retry-after"] == "1"
    assert "connection" in response.json()["detail"]


def sample(exposition: str, series: str) -> float:
    """The value of one series in a Prometheus exposition (0 when absent)."""
    for line in exposition.splitlines():
        if line.startswith(series + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_metrics_count_requests_by_route_template(client: httpx.AsyncClient) -> None:
    """Counted by route template, not raw path, and counted exactly (the registry is the
    process's, so earlier tests' requests are in it: compare before and after)."""
    healthz = 'http_requests_total{method="GET",route="/healthz",status="200"}'
    denied = 'http_requests_total{method="GET",route="/v1/customers/{customer_id}",status="401"}'
    before = (await client.get("/metrics")).text
    await client.get("/healthz")
    await client.get("/healthz")
    await client.get("/v1/customers/0190d6a4-0000-7000-8000-000000000001")
    after = (await client.get("/metrics")).text
    assert sample(after, healthz) - sample(before, healthz) == 2
    assert sample(after, denied) - sample(before, denied) == 1
    assert "0190d6a4" not in after
    assert "http_request_duration_seconds_bucket" in after
    assert "db_pool_connections_in_use" in after


def test_metrics_counted_in_several_processes_add_up(tmp_path: Path) -> None:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    count = (
        "from app.core.metrics import HTTP_REQUESTS; "
        "HTTP_REQUESTS.labels('GET', '/healthz', '200').inc(3)"
    )
    for _ in range(2):  # two workers, each counting its own requests
        subprocess.run([sys.executable, "-c", count], env=env, check=True, timeout=60)
    scrape = "import sys; from app.core.metrics import exposition; print(exposition().decode())"
    answered = subprocess.run(
        [sys.executable, "-c", scrape], env=env, capture_output=True, text=True, timeout=60
    )
    assert 'http_requests_total{method="GET",route="/healthz",status="200"} 6.0' in (
        answered.stdout
    ), answered.stderr


def test_a_dead_workers_connections_leave_the_gauge_when_a_worker_starts(tmp_path: Path) -> None:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    killed = "from app.core.metrics import DB_POOL_IN_USE; DB_POOL_IN_USE.inc(3)"
    subprocess.run([sys.executable, "-c", killed], env=env, check=True, timeout=60)
    scrape = (
        "import sys; from app.core.metrics import exposition, worker_starting; "
        "print(exposition().decode()); worker_starting(); print(exposition().decode())"
    )
    answered = subprocess.run(
        [sys.executable, "-c", scrape], env=env, capture_output=True, text=True, timeout=60
    )
    before, after = answered.stdout.split("# HELP db_pool_connections_in_use")[1:]
    assert "db_pool_connections_in_use 3.0" in before, answered.stderr
    assert "db_pool_connections_in_use 3.0" not in after


def test_readyz_fails_until_the_database_is_at_the_newest_migration(scratch_url: str) -> None:
    """A process that starts beside a database one migration behind is not ready (a
    deployment must not send it traffic), and becomes ready once the migration is applied."""
    config = alembic_config(scratch_url)
    command.upgrade(config, "head")
    command.downgrade(config, "-1")

    async def readyz() -> httpx.Response:
        app = create_app(Settings(database_url=scratch_url))
        app.state.db = Database(scratch_url)
        transport = httpx.ASGITransport(app=app)
        try:
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                return await client.get("/readyz")
        finally:
            await app.state.db.dispose()

    behind = asyncio.run(readyz())
    assert behind.status_code == 503
    assert behind.headers["content-type"] == "application/problem+json"
    assert f"expected {head_revision()}" in behind.json()["detail"]
    command.upgrade(config, "head")
    ready = asyncio.run(readyz())
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "migration": head_revision()}
