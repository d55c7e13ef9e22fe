"""The access log: every read of a customer's data, by whom, in which role, through what."""

from collections.abc import Sequence
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.models import AccessLog
from app.auth.repository import AccessLogRepository
from app.core.security import Principal


async def record_access(
    session: AsyncSession, principal: Principal, customer_id: UUID, what: str
) -> None:
    """Log one read of a customer's data, in the reading request's transaction."""
    await AccessLogRepository(session).add(
        customer_id, principal.key_id, principal.agent_id, principal.role.value, what[:100]
    )


async def access_log(
    session: AsyncSession, customer_id: UUID, *, limit: int, before: UUID | None
) -> Sequence[AccessLog]:
    """A customer's access log, newest first."""
    return await AccessLogRepository(session).page(customer_id, limit=limit, before=before)
