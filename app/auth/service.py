"""API key life cycle and authentication of callers."""

from collections.abc import Sequence
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.models import ApiKey
from app.auth.repository import ApiKeyRepository, active_key, key_is_active
from app.core.db import Executor
from app.core.security import Principal, Role, generate_api_key, hash_api_key


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
        role=role.value,
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
    """Revoke a key at once; False when no active key has that id."""
    return await ApiKeyRepository(session).revoke(key_id)


async def authenticate(on: Executor, secret: str) -> Principal | None:
    """The caller a secret belongs to, or None for an unknown or revoked key."""
    found = await active_key(on, hash_api_key(secret))
    if found is None:
        return None
    return Principal(
        key_id=found["id"],
        role=Role(found["role"]),
        agent_id=found["agent_id"],
        owned_only=found["owned_only"],
        supervisor=found["supervisor"],
    )


async def still_active(on: Executor, principal: Principal) -> bool:
    """Whether the key behind ``principal`` has not been revoked since it was checked."""
    return await key_is_active(on, principal.key_id)
