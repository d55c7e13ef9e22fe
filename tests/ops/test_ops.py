"""Liveness, readiness and metrics."""

import httpx
import pytest

from app.core.config import Settings
from app.core.db import Database
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


async def test_metrics_count_requests_by_route_template(client: httpx.AsyncClient) -> None:
    await client.get("/healthz")
    await client.get("/v1/me")
    text = (await client.get("/metrics")).text
    assert 'http_requests_total{method="GET",route="/healthz",status="200"}' in text
    assert 'http_requests_total{method="GET",route="/v1/me",status="401"}' in text
    assert "http_request_duration_seconds_bucket" in text
    assert "db_pool_connections_in_use" in text
