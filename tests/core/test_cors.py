"""CORS: pages of the origins in CH_CORS_ORIGINS may call the API from a browser; others,
and every origin while the setting is empty, get no CORS headers."""

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from pydantic import ValidationError

from app.core.config import Settings
from app.core.cors import parse_origins
from app.core.errors import PROBLEM_MEDIA_TYPE
from app.main import create_app

CONSOLE = "https://console.example.com"
OTHER = "https://evil.example.net"


@pytest.fixture
async def cors_client(app: FastAPI, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The test app built again with CH_CORS_ORIGINS set to the console's origin (and a
    local one), on the same rolled-back connection."""
    configured = settings.model_copy(update={"cors_origins": f"{CONSOLE}, http://127.0.0.1:8080"})
    cors_app = create_app(configured, app.state.clock)
    cors_app.state.db = app.state.db
    cors_app.state.feed = app.state.feed
    cors_app.state.templates = app.state.templates
    cors_app.dependency_overrides = app.dependency_overrides
    transport = httpx.ASGITransport(app=cors_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


def preflight(origin: str, method: str = "GET", headers: str = "authorization") -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": headers,
    }


async def test_a_preflight_from_an_allowed_origin_needs_no_key(
    cors_client: httpx.AsyncClient,
) -> None:
    answer = await cors_client.options(
        "/v1/customers/x/ficha", headers=preflight(CONSOLE, "PATCH", "authorization, if-match")
    )
    assert answer.status_code == 200
    assert answer.headers["access-control-allow-origin"] == CONSOLE
    assert "PATCH" in answer.headers["access-control-allow-methods"]
    allowed = answer.headers["access-control-allow-headers"].lower()
    for header in ("authorization", "if-match", "if-none-match", "last-event-id"):
        assert header in allowed
    assert "access-control-allow-credentials" not in answer.headers, "bearer tokens, no cookies"


async def test_a_preflight_from_another_origin_is_refused(cors_client: httpx.AsyncClient) -> None:
    answer = await cors_client.options("/v1/me", headers=preflight(OTHER))
    assert answer.status_code == 400
    assert answer.headers["content-type"] == PROBLEM_MEDIA_TYPE
    assert answer.json()["detail"] == "Disallowed CORS origin"
    assert "access-control-allow-origin" not in answer.headers


async def test_a_preflight_for_an_unlisted_header_is_refused(
    cors_client: httpx.AsyncClient,
) -> None:
    answer = await cors_client.options("/v1/me", headers=preflight(CONSOLE, "GET", "x-secret"))
    assert answer.status_code == 400 and answer.json()["detail"] == "Disallowed CORS headers"


async def test_an_actual_request_from_an_allowed_origin_exposes_the_headers(
    cors_client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    created = await cors_client.post(
        "/v1/customers", json={"display_name": "Ana"}, headers={**admin, "Origin": CONSOLE}
    )
    assert created.status_code == 201
    assert created.headers["access-control-allow-origin"] == CONSOLE
    exposed = {
        h.strip().lower() for h in created.headers["access-control-expose-headers"].split(",")
    }
    assert exposed == {"etag", "location", "retry-after", "x-request-id"}
    assert "origin" in created.headers["vary"].lower()
    # an error is readable too, or the page could not tell why it failed
    refused = await cors_client.get("/v1/me", headers={"Origin": CONSOLE})
    assert refused.status_code == 401
    assert refused.headers["access-control-allow-origin"] == CONSOLE


async def test_a_card_read_by_a_page_varies_on_its_language_and_its_origin(
    cors_client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    created = await cors_client.post("/v1/customers", json={"display_name": "Ana"}, headers=admin)
    card = await cors_client.get(
        f"/v1/customers/{created.json()['id']}/ficha",
        params={"role": "support"},
        headers={**admin, "Origin": CONSOLE},
    )
    assert card.status_code == 200
    assert {"accept-language", "origin"} <= {
        name.strip().lower() for name in card.headers["vary"].split(",")
    }


async def test_an_actual_request_from_another_origin_gets_no_cors_headers(
    cors_client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    answer = await cors_client.get("/v1/me", headers={**admin, "Origin": OTHER})
    assert answer.status_code == 200, "the browser, not the server, withholds the answer"
    assert "access-control-allow-origin" not in answer.headers


async def test_a_body_too_large_is_readable_by_an_allowed_page(
    cors_client: httpx.AsyncClient, admin: dict[str, str], settings: Settings
) -> None:
    """CORS is the outermost layer: the body limit's 413 carries its headers too."""
    answer = await cors_client.post(
        "/v1/customers",
        content=b"x" * (settings.max_body_bytes + 1),
        headers={**admin, "Origin": CONSOLE, "content-type": "application/json"},
    )
    assert answer.status_code == 413
    assert answer.headers["access-control-allow-origin"] == CONSOLE


async def test_without_the_setting_nothing_changes(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    answer = await client.options("/v1/me", headers=preflight(CONSOLE))
    assert answer.status_code == 405
    plain = await client.get("/v1/me", headers={**admin, "Origin": CONSOLE})
    assert "access-control-allow-origin" not in plain.headers


def test_origins_are_exact_and_spelt_as_browsers_send_them() -> None:
    assert parse_origins(" https://Console.Example.com:443 ,http://127.0.0.1:8080/") == [
        "https://console.example.com",
        "http://127.0.0.1:8080",
    ]
    assert parse_origins("http://[::1]:3000") == ["http://[::1]:3000"]
    assert parse_origins("") == []
    for wrong in (
        "*",
        "https://*.example.com",
        "console.example.com",
        "https://a.com/app",
        "ftp://a.com",
        "https://user@a.com",
        "https://a.com?x=1",
        "https://a.com:99999",
    ):
        with pytest.raises(ValueError, match="CH_CORS_ORIGINS"):
            parse_origins(wrong)
    with pytest.raises(ValidationError, match="CH_CORS_ORIGINS"):
        Settings(cors_origins="*")
