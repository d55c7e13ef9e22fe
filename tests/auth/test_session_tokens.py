"""Session tokens: a key mints a short-lived token for a browser; the token acts as the key,
no more, until it expires or the key is revoked."""

import hashlib
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import ValidationError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.cache import KeyCache
from app.auth.service import revoke_key
from app.core.config import Settings
from app.core.security import Role
from app.main import create_app
from tests.support.clock import ControlledClock
from tests.support.fixtures import AppLog, MakeKey

MINT = "/v1/session-tokens"


async def mint(client: httpx.AsyncClient, key: dict[str, str]) -> dict[str, str]:
    """A token minted with ``key``, as an Authorization header."""
    response = await client.post(MINT, headers=key)
    assert response.status_code == 201, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


async def test_a_token_carries_what_its_key_carries(
    client: httpx.AsyncClient, make_key: MakeKey, clock: ControlledClock
) -> None:
    key = await make_key(Role.SUPPORT, agent_id="agent-7", owned_only=True, supervisor=True)
    minted = await client.post(MINT, headers=key)
    assert minted.status_code == 201, minted.text
    assert minted.headers["cache-control"] == "no-store"
    body = minted.json()
    assert set(body) == {"token", "expires_at"}
    assert datetime.fromisoformat(body["expires_at"]) == clock.now() + timedelta(seconds=900)

    as_key = (await client.get("/v1/me", headers=key)).json()
    as_token = await client.get("/v1/me", headers={"Authorization": f"Bearer {body['token']}"})
    assert as_token.status_code == 200
    assert as_key["token_expires_at"] is None
    assert datetime.fromisoformat(as_token.json()["token_expires_at"]) == clock.now() + timedelta(
        seconds=900
    )
    assert {k: v for k, v in as_token.json().items() if k != "token_expires_at"} == {
        "key_id": as_key["key_id"],
        "role": "support",
        "agent_id": "agent-7",
        "owned_only": True,
        "supervisor": True,
    }


async def test_a_token_is_stored_only_as_its_hash(
    client: httpx.AsyncClient, admin: dict[str, str], session: AsyncSession
) -> None:
    token = (await client.post(MINT, headers=admin)).json()["token"]
    rows = (await session.execute(text("SELECT * FROM session_tokens"))).mappings().all()
    assert [row["token_hash"] for row in rows] == [hashlib.sha256(token.encode()).hexdigest()]
    assert token not in str([dict(row) for row in rows])


async def test_a_token_expires(
    client: httpx.AsyncClient, admin: dict[str, str], clock: ControlledClock
) -> None:
    token = await mint(client, admin)
    clock.advance(timedelta(seconds=899))
    assert (await client.get("/v1/me", headers=token)).status_code == 200
    clock.advance(timedelta(seconds=1))
    expired = await client.get("/v1/me", headers=token)
    assert expired.status_code == 401
    assert expired.headers["www-authenticate"] == "Bearer"
    assert (
        expired.json()["detail"] == "The session token is unknown or expired, or its key revoked."
    )


class KeepingCache(KeyCache):
    """Keeps every caller it reads, as a process whose LISTEN connection is up does."""

    def __init__(self) -> None:
        super().__init__(None)
        self.kept: dict[str, Any] = {}

    async def get(self, key: str, load: Callable[[], Awaitable[Any]]) -> Any:
        if key not in self.kept:
            self.kept[key] = await load()
        return self.kept[key]


async def test_a_kept_token_expires_too(
    app: FastAPI, client: httpx.AsyncClient, admin: dict[str, str], clock: ControlledClock
) -> None:
    """A process keeps the caller behind a token it authenticated; the expiry still holds."""
    app.state.keys = KeepingCache()
    token = await mint(client, admin)
    clock.advance(timedelta(seconds=899))
    assert (await client.get("/v1/me", headers=token)).status_code == 200
    assert len(app.state.keys.kept) == 2  # the key and the token
    clock.advance(timedelta(seconds=1))
    assert (await client.get("/v1/me", headers=token)).status_code == 401


async def test_the_lifetime_is_configurable_and_bounded(
    client: httpx.AsyncClient, admin: dict[str, str], settings: Settings, clock: ControlledClock
) -> None:
    settings.session_token_seconds = 120
    body = (await client.post(MINT, headers=admin)).json()
    assert datetime.fromisoformat(body["expires_at"]) == clock.now() + timedelta(seconds=120)
    for wrong in (59, 86_401):
        with pytest.raises(ValidationError, match="session_token_seconds"):
            Settings(session_token_seconds=wrong)


async def test_revoking_the_key_ends_its_tokens_at_once(
    client: httpx.AsyncClient, make_key: MakeKey, session: AsyncSession
) -> None:
    key = await make_key(Role.SALES)
    token = await mint(client, key)
    key_id = (await client.get("/v1/me", headers=token)).json()["key_id"]
    assert await revoke_key(session, key_id)
    await session.flush()
    assert (await client.get("/v1/me", headers=token)).status_code == 401
    assert (await client.post(MINT, headers=key)).status_code == 401
    assert await session.scalar(text("SELECT count(*) FROM session_tokens")) == 0, "forgotten"


async def test_a_token_cannot_mint_another(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    token = await mint(client, admin)
    again = await client.post(MINT, headers=token)
    assert again.status_code == 403
    assert (
        again.json()["detail"] == "A session token cannot mint another; mint it with the API key."
    )


async def test_a_token_may_do_nothing_its_key_may_not(
    client: httpx.AsyncClient, make_key: MakeKey, admin: dict[str, str]
) -> None:
    """Same role, same owner restriction: a support token is refused what a support key is
    refused, and does not see another agent's customer."""
    theirs = await client.post(
        "/v1/customers", json={"display_name": "Ana", "owner_id": "agent-b"}, headers=admin
    )
    mine = await client.post(
        "/v1/customers", json={"display_name": "Eva", "owner_id": "agent-a"}, headers=admin
    )
    key = await make_key(Role.SUPPORT, agent_id="agent-a", owned_only=True)
    token = await mint(client, key)
    assert (await client.post("/v1/customers", json={}, headers=token)).status_code == 403
    assert (await client.get("/v1/retention-policy", headers=token)).status_code == 403
    hidden = await client.get(f"/v1/customers/{theirs.json()['id']}", headers=token)
    assert hidden.status_code == 404
    assert "Ana" not in hidden.text and "agent-b" not in hidden.text
    assert (
        await client.get(f"/v1/customers/{mine.json()['id']}", headers=token)
    ).status_code == 200


async def test_a_token_in_the_query_counts_on_streams_only(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    token = (await mint(client, admin))["Authorization"].removeprefix("Bearer ")
    ignored = await client.get("/v1/me", params={"access_token": token})
    assert ignored.status_code == 401, "only the live stream reads access_token"


async def test_a_key_is_never_taken_from_a_url(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    key = admin["Authorization"].removeprefix("Bearer ")
    customer = await client.post("/v1/customers", json={"display_name": "Ana"}, headers=admin)
    refused = await client.get(
        f"/v1/customers/{customer.json()['id']}/timeline/stream", params={"access_token": key}
    )
    assert refused.status_code == 401
    assert refused.json()["detail"] == (
        "access_token takes a session token only; send API keys as Bearer."
    )
    assert key not in refused.text


async def test_expired_tokens_of_a_key_are_forgotten_when_it_mints(
    client: httpx.AsyncClient, admin: dict[str, str], clock: ControlledClock, session: AsyncSession
) -> None:
    await mint(client, admin)
    await mint(client, admin)
    clock.advance(timedelta(seconds=901))
    await mint(client, admin)
    count = await session.scalar(text("SELECT count(*) FROM session_tokens"))
    assert count == 1


async def test_a_token_in_the_query_never_reaches_the_logs(
    client: httpx.AsyncClient, admin: dict[str, str], app_log: AppLog, clock: ControlledClock
) -> None:
    """Logs carry the route template, never the path's query string (the real server's own
    log is read for it too, in tests/browser)."""
    token = (await mint(client, admin))["Authorization"].removeprefix("Bearer ")
    path = "/v1/customers/01a20ae6-6c63-76ee-b495-bd9894832cd9/timeline/stream"
    assert (await client.get(path, params={"access_token": token})).status_code == 404
    clock.advance(timedelta(seconds=900))
    assert (await client.get(path, params={"access_token": token})).status_code == 401
    lines = app_log.lines()
    assert [line["route"] for line in lines if line.get("event") == "request"][-2:] == [
        "/v1/customers/{customer_id}/timeline/stream"
    ] * 2
    assert token not in app_log.text() and "access_token" not in app_log.text()


def test_the_spec_documents_both_ways_in() -> None:
    spec = create_app().openapi()
    schemes = spec["components"]["securitySchemes"]
    assert "session token" in schemes["HTTPBearer"]["description"]
    assert schemes["SessionTokenQuery"] == {
        "type": "apiKey",
        "in": "query",
        "name": "access_token",
        "description": schemes["SessionTokenQuery"]["description"],
    }
    stream = spec["paths"]["/v1/customers/{customer_id}/timeline/stream"]["get"]
    assert stream["security"] == [{"HTTPBearer": []}, {"SessionTokenQuery": []}]
    others = [
        operation["security"]
        for path, operations in spec["paths"].items()
        for operation in operations.values()
        if path.startswith("/v1/") and "stream" not in path and operation.get("security")
    ]
    assert others and all(security == [{"HTTPBearer": []}] for security in others)
    minted = spec["paths"]["/v1/session-tokens"]["post"]["responses"]["201"]
    assert "Cache-Control" in minted["headers"]


async def test_a_token_is_refused_once_its_key_is_revoked_by_any_means(
    client: httpx.AsyncClient, make_key: MakeKey, session: AsyncSession
) -> None:
    """Revoked from psql, say, with the token's row left in place: the key's row is read
    with the token on every request, so the token is refused all the same."""
    key = await make_key(Role.SUPPORT)
    token = await mint(client, key)
    key_id = (await client.get("/v1/me", headers=token)).json()["key_id"]
    await session.execute(
        text("UPDATE api_keys SET revoked_at = now() WHERE id = :id"), {"id": key_id}
    )
    assert await session.scalar(text("SELECT count(*) FROM session_tokens")) == 1
    assert (await client.get("/v1/me", headers=token)).status_code == 401
