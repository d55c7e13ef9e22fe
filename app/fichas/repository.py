"""ORM queries on ficha templates."""

from collections.abc import Sequence

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.notify import notify_on_commit
from app.fichas.models import FichaTemplate
from app.fichas.queries import NOTIFY_CHANNEL
from app.fichas.templates import Section


class TemplateRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, role: str) -> FichaTemplate | None:
        return await self.session.get(FichaTemplate, role, populate_existing=True)

    async def all(self) -> Sequence[FichaTemplate]:
        return (
            await self.session.scalars(select(FichaTemplate).order_by(FichaTemplate.role))
        ).all()

    async def put(
        self, role: str, sections: Sequence[Section], labels: dict[str, dict[str, str]]
    ) -> None:
        statement = insert(FichaTemplate).values(role=role, sections=sections, labels=labels)
        await self.session.execute(
            statement.on_conflict_do_update(
                index_elements=[FichaTemplate.role],
                # The row proposed takes now() by its default: Citus refuses now() here
                # (a function in DO UPDATE SET on a reference table must be IMMUTABLE).
                set_={
                    "sections": sections,
                    "labels": labels,
                    "updated_at": statement.excluded.updated_at,
                },
            )
        )
        await notify_on_commit(self.session, NOTIFY_CHANNEL)

    async def delete(self, role: str) -> bool:
        result = await self.session.execute(
            delete(FichaTemplate).where(FichaTemplate.role == role).returning(FichaTemplate.role)
        )
        if result.first() is None:
            return False
        await notify_on_commit(self.session, NOTIFY_CHANNEL)
        return True
