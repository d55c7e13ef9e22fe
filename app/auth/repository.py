"""Queries on api_keys."""

from collections.abc import Sequence
from uuid import UUID

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.models import ApiKey
from app.core.db import driver_connection

# Runs on every request: a prepared statement on the driver connection, one index lookup.
_ACTIVE_KEY_SQL = (
    "SELECT id, role, agent_id, owned_only FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL"
)


class ApiKeyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def find_active(self, key_hash: str) -> tuple[UUID, str, str | None, bool] | None:
        conn = await driver_connection(self.session)
        row = await conn.fetchrow(_ACTIVE_KEY_SQL, key_hash)
        if row is None:
            return None
        return row["id"], row["role"], row["agent_id"], row["owned_only"]

    async def add(self, key: ApiKey) -> ApiKey:
        self.session.add(key)
        await self.session.flush()
        return key

    async def list_all(self) -> Sequence[ApiKey]:
        result = await self.session.scalars(select(ApiKey).order_by(ApiKey.created_at))
        return result.all()

    async def revoke(self, key_id: UUID) -> bool:
        result = await self.session.execute(
            update(ApiKey)
            .where(ApiKey.id == key_id, ApiKey.revoked_at.is_(None))
            .values(revoked_at=func.now())
            .returning(ApiKey.id)
        )
        return result.first() is not None
