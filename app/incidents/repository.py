"""ORM queries on incidents."""

from uuid import UUID

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.security import Principal
from app.customers.models import Customer
from app.customers.visibility import visible_to
from app.incidents.models import Incident, IncidentCustomer


class IncidentRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, incident: Incident) -> Incident:
        self.session.add(incident)
        await self.session.flush()
        return incident

    async def get_locked(self, incident_id: UUID) -> Incident | None:
        return await self.session.get(Incident, incident_id, with_for_update=True)

    async def every_one(self, principal: Principal) -> list[tuple[Incident, int]]:
        """Every incident, newest first, with how many of its customers ``principal`` sees."""
        seen = (
            select(func.count())
            .select_from(IncidentCustomer)
            .join(Customer, Customer.id == IncidentCustomer.customer_id)
            .where(IncidentCustomer.incident_id == Incident.id, visible_to(principal))
            .scalar_subquery()
        )
        rows = await self.session.execute(
            select(Incident, seen).order_by(Incident.declared_at.desc())
        )
        return [(incident, count) for incident, count in rows]
