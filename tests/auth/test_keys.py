"""API keys: hashed at rest, roles enforced, revocation immediate."""

import hashlib

import httpx
import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.models import ApiKey
from app.auth.service import create_key, revoke_key
from app.core.errors import PROBLEM_MEDIA_TYPE
from app.core.security import Role


async def test_key_is_stored_only_as_its_hash(session: AsyncSession) -> None:
    key, secret = await create_key(session, role=Role.SUPPORT, name="desk")
    await session.flush()
    assert len(secret) >= 43  # 32 bytes, URL-safe base64
    stored = await session.execute(text("SELECT * FROM api_keys WHERE id = :id"), {"id": key.id})
    row = stored.mappings().one()
    assert secret not in [str(v) for v in row.values()]
    assert row["key_hash"] == hashlib.sha256(secret.encode()).hexdigest()


async def test_missing_key_is_401_with_bearer_challenge(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/me")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE


async def test_unknown_key_is_401(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/me", headers={"Authorization": "Bearer not-a-key"})
    assert response.status_code == 401
    assert response.json()["detail"] == "The API key is unknown or revoked."
    assert "not-a-key" not in response.text


async def test_valid_key_reaches_the_route(client: httpx.AsyncClient, make_key) -> None:
    headers = await make_key(Role.SUPPORT, agent_id="agent-7", owned_only=True)
    body = (await client.get("/v1/me", headers=headers)).json()
    assert body["role"] == "support"
    assert body["agent_id"] == "agent-7"
    assert body["owned_only"] is True


async def test_revoked_key_stops_at_once(
    client: httpx.AsyncClient, make_key, session: AsyncSession
) -> None:
    headers = await make_key(Role.SALES)
    assert (await client.get("/v1/me", headers=headers)).status_code == 200
    key = (await session.scalars(select(ApiKey).order_by(ApiKey.created_at.desc()))).first()
    assert key is not None
    assert await revoke_key(session, key.id)
    await session.flush()
    assert (await client.get("/v1/me", headers=headers)).status_code == 401
    assert not await revoke_key(session, key.id), "a revoked key cannot be revoked twice"


# The read hot paths authenticate on their bare connection, outside any transaction.
READ_HOT_PATHS = (
    "/v1/fichas/by-phone/612345678?role=support",
    "/v1/customers/00000000-0000-0000-0000-000000000001/ficha?role=support",
    "/v1/routing/by-phone/612345678",
    "/v1/identify?phone=612345678",
)


@pytest.mark.parametrize("path", READ_HOT_PATHS)
async def test_read_hot_paths_need_a_live_key(
    client: httpx.AsyncClient, make_key, session: AsyncSession, path: str
) -> None:
    assert (await client.get(path)).status_code == 401
    unknown = await client.get(path, headers={"Authorization": "Bearer not-a-key"})
    assert unknown.status_code == 401
    headers = await make_key(Role.SUPPORT)
    assert (await client.get(path, headers=headers)).status_code in {200, 404}
    key = (await session.scalars(select(ApiKey).order_by(ApiKey.created_at.desc()))).first()
    assert key is not None and await revoke_key(session, key.id)
    await session.flush()
    assert (await client.get(path, headers=headers)).status_code == 401


async def test_a_job_key_reads_only_its_own_ficha_on_the_read_path(
    client: httpx.AsyncClient, make_key
) -> None:
    sales = await make_key(Role.SALES)
    for path in READ_HOT_PATHS[:2]:
        forbidden = await client.get(path, headers=sales)
        assert forbidden.status_code == 403
        assert forbidden.headers["content-type"] == PROBLEM_MEDIA_TYPE


async def test_a_supervisor_key_says_so(client: httpx.AsyncClient, make_key) -> None:
    plain = (await client.get("/v1/me", headers=await make_key(Role.SUPPORT))).json()
    assert plain["supervisor"] is False
    lead = await make_key(Role.SUPPORT, agent_id="lead-1", supervisor=True)
    assert (await client.get("/v1/me", headers=lead)).json()["supervisor"] is True


async def test_an_admin_key_cannot_be_owned_only(session: AsyncSession) -> None:
    """Admin operations span every customer (reports, raw deliveries): no restriction holds."""
    with pytest.raises(ValueError, match="cannot be owned-only"):
        await create_key(session, role=Role.ADMIN, name="x", agent_id="a", owned_only=True)
    key, _ = await create_key(session, role=Role.ADMIN, name="x")
    await session.flush()
    with pytest.raises(DBAPIError, match="ck_api_keys_admin_sees_all"):
        async with session.begin_nested():
            await session.execute(
                text("UPDATE api_keys SET owned_only = true, agent_id = 'a' WHERE id = :id"),
                {"id": key.id},
            )
