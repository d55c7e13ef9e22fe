"""ORM queries on incidents."""

from collections.abc import Sequence
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.incidents.models import Incident
from app.incidents.schemas import IncidentStatus


class IncidentRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, incident: Incident) -> Incident:
        self.session.add(incident)
        await self.session.flush()
        return incident

    async def get_locked(self, incident_id: UUID) -> Incident | None:
        return await self.session.get(Incident, incident_id, with_for_update=True)

    async def every_one(self) -> Sequence[Incident]:
        """Every incident, newest first."""
        return (
            await self.session.scalars(select(Incident).order_by(Incident.declared_at.desc()))
        ).all()

    async def open_with_message(self) -> Sequence[Incident]:
        """The open incidents declared with a message for the customers they affect."""
        return (
            await self.session.scalars(
                select(Incident).where(
                    Incident.status == IncidentStatus.OPEN,
                    Incident.message_template.is_not(None),
                )
            )
        ).all()
