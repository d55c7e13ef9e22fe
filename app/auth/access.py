"""The access log: every read of a customer's data, by whom, in which role, through what."""

from collections.abc import Sequence
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.models import AccessLog
from app.auth.queries import add_access
from app.auth.repository import AccessLogRepository
from app.core.db import Executor
from app.core.security import Principal


async def record_access(on: Executor, principal: Principal, customer_id: UUID, what: str) -> None:
    """Log one read of a customer's data: in the reading request's transaction, or on its
    bare connection as one statement that commits before the data is answered."""
    await add_access(on, customer_id, *access_entry(principal, what))


def access_entry(principal: Principal, what: str) -> tuple[UUID, str | None, str, str]:
    """Who read and through what, as an access-log row takes them after the customer: the
    key, the agent, the role and what was read. For a statement that logs a read with the
    reading (a ficha's, a timeline page's)."""
    return principal.key_id, principal.agent_id, principal.role.value, what[:100]


async def access_log(
    session: AsyncSession, customer_id: UUID, *, limit: int, before: UUID | None
) -> Sequence[AccessLog]:
    """A customer's access log, newest first."""
    return await AccessLogRepository(session).page(customer_id, limit=limit, before=before)
