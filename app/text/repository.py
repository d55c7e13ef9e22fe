"""ORM queries on the stored text rules (the admin's reads and edits)."""

from typing import Any

from sqlalchemy import func
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.notify import notify_on_commit
from app.text.models import StoredTextRules
from app.text.queries import NOTIFY_CHANNEL


class RulesRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self) -> StoredTextRules | None:
        return await self.session.get(StoredTextRules, 1, populate_existing=True)

    async def put(self, document: dict[str, Any]) -> None:
        # The time of the row inserted: Citus evaluates no now() in DO UPDATE SET.
        statement = insert(StoredTextRules).values(id=1, document=document, updated_at=func.now())
        await self.session.execute(
            statement.on_conflict_do_update(
                index_elements=[StoredTextRules.id],
                set_={"document": document, "updated_at": statement.excluded.updated_at},
            )
        )
        await notify_on_commit(self.session, NOTIFY_CHANNEL)
