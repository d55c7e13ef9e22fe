"""API key life cycle and authentication of callers."""

from collections.abc import Sequence
from datetime import datetime, timedelta
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.cache import KeyCache
from app.auth.models import ApiKey, SessionToken
from app.auth.queries import active_key, active_token, key_is_active
from app.auth.repository import ApiKeyRepository, SessionTokenRepository
from app.core.db import Executor
from app.core.errors import Forbidden
from app.core.security import (
    Principal,
    Role,
    generate_api_key,
    generate_session_token,
    hash_api_key,
    is_session_token,
)


async def create_key(
    session: AsyncSession,
    *,
    role: Role,
    name: str,
    agent_id: str | None = None,
    owned_only: bool = False,
    supervisor: bool = False,
) -> tuple[ApiKey, str]:
    """Create a key; returns the stored row and the secret, which is never stored."""
    if owned_only and not agent_id:
        raise ValueError("an owned-only key needs an agent id")
    if owned_only and role is Role.ADMIN:
        raise ValueError("an admin key sees every customer; it cannot be owned-only")
    secret = generate_api_key()
    key = ApiKey(
        name=name,
        role=role,
        agent_id=agent_id,
        owned_only=owned_only,
        supervisor=supervisor,
        key_hash=hash_api_key(secret),
    )
    await ApiKeyRepository(session).add(key)
    return key, secret


async def list_keys(session: AsyncSession) -> Sequence[ApiKey]:
    """Every key, revoked ones included, oldest first."""
    return await ApiKeyRepository(session).list_all()


async def revoke_key(session: AsyncSession, key_id: UUID) -> bool:
    """Revoke a key at once, and forget its session tokens (the key's row refuses them
    already); False when no active key has that id."""
    revoked = await ApiKeyRepository(session).revoke(key_id)
    if revoked:
        await SessionTokenRepository(session).remove_all(key_id)
    return revoked


async def mint_session_token(
    session: AsyncSession, principal: Principal, *, seconds: int, now: datetime
) -> tuple[str, datetime]:
    """A new session token acting as the caller's key for ``seconds``: the secret (never
    stored) and when it expires. Only a key mints: a token cannot prolong itself."""
    if principal.token_expires_at is not None:
        raise Forbidden("A session token cannot mint another; mint it with the API key.")
    repo = SessionTokenRepository(session)
    await repo.remove_expired(principal.key_id, now)
    secret = generate_session_token()
    expires_at = now + timedelta(seconds=seconds)
    await repo.add(
        SessionToken(
            token_hash=hash_api_key(secret), key_id=principal.key_id, expires_at=expires_at
        )
    )
    return secret, expires_at


async def authenticate(
    on: Executor, keys: KeyCache, secret: str, now: datetime
) -> Principal | None:
    """The caller a secret belongs to: an active API key, or a session token unexpired at
    ``now`` whose key is active (the key's role and restrictions, the token's expiry).
    None for anything else. Read once per process (``keys``), until a key changes."""
    digest = hash_api_key(secret)
    principal = await keys.get(digest, lambda: _caller(on, digest, is_session_token(secret), now))
    expires_at = principal.token_expires_at if principal else None
    return None if expires_at is not None and expires_at <= now else principal


async def _caller(
    on: Executor, digest: str, session_token: bool, now: datetime
) -> Principal | None:
    found = await (active_token(on, digest, now) if session_token else active_key(on, digest))
    if found is None:
        return None
    return Principal(
        key_id=found["id"],
        role=Role(found["role"]),
        agent_id=found["agent_id"],
        owned_only=found["owned_only"],
        supervisor=found["supervisor"],
        token_expires_at=found.get("expires_at"),
    )


async def still_active(on: Executor, principal: Principal) -> bool:
    """Whether the key behind ``principal`` has not been revoked since it was checked."""
    return await key_is_active(on, principal.key_id)
