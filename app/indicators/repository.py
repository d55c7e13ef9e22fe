"""ORM queries on policies."""

from typing import Any

from sqlalchemy import func
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.notify import notify_on_commit
from app.indicators.models import Policy
from app.indicators.queries import POLICIES_CHANNEL


class PolicyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def put_policy(self, name: str, config: dict[str, Any]) -> None:
        # When the change was stored, not a decision: the database's time, taken by the
        # row inserted (Citus evaluates no now() in DO UPDATE SET on a placed table).
        statement = insert(Policy).values(name=name, config=config, updated_at=func.now())
        await self.session.execute(
            statement.on_conflict_do_update(
                index_elements=[Policy.name],
                set_={"config": config, "updated_at": statement.excluded.updated_at},
            )
        )
        await notify_on_commit(self.session, POLICIES_CHANNEL)
