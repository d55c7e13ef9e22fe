"""ORM queries on api_keys, session tokens and the access log."""

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from sqlalchemy import Delete, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.models import AccessLog, ApiKey, SessionToken
from app.auth.queries import NOTIFY_CHANNEL
from app.core.notify import notify_on_commit
from app.core.security import ACCESS_CHANNEL


class ApiKeyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, key: ApiKey) -> ApiKey:
        self.session.add(key)
        await self.session.flush()
        await notify_on_commit(self.session, NOTIFY_CHANNEL)
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
        if result.first() is None:
            return False
        await notify_on_commit(self.session, NOTIFY_CHANNEL)
        await notify_on_commit(self.session, ACCESS_CHANNEL, f"key:{key_id}")
        return True


class SessionTokenRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, token: SessionToken) -> SessionToken:
        self.session.add(token)
        await self.session.flush()
        await notify_on_commit(self.session, NOTIFY_CHANNEL)
        return token

    async def remove_all(self, key_id: UUID) -> None:
        """Forget every token of the key."""
        await self._removed(delete(SessionToken).where(SessionToken.key_id == key_id))

    async def remove_expired(self, key_id: UUID, now: datetime) -> None:
        """Forget the key's tokens that have expired (an index range of that key)."""
        await self._removed(
            delete(SessionToken).where(
                SessionToken.key_id == key_id, SessionToken.expires_at <= now
            )
        )

    async def _removed(self, statement: Delete) -> None:
        """Remove tokens; the processes that know them are told when there were some."""
        result = await self.session.execute(statement)
        if result.rowcount:  # type: ignore[attr-defined]
            await notify_on_commit(self.session, NOTIFY_CHANNEL)


class AccessLogRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def page(
        self, customer_id: UUID, *, limit: int, before: UUID | None
    ) -> Sequence[AccessLog]:
        statement = (
            select(AccessLog)
            .where(AccessLog.customer_id == customer_id)
            .order_by(AccessLog.id.desc())
            .limit(limit)
        )
        if before is not None:
            statement = statement.where(AccessLog.id < before)
        return (await self.session.scalars(statement)).all()
