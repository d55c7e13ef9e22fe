"""ORM queries on policies, alerts and incidents."""

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.security import Principal
from app.customers.models import Customer
from app.customers.visibility import visible_to
from app.indicators.models import Alert, Incident, IncidentCustomer, Policy


class IndicatorsRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def put_policy(self, name: str, config: dict[str, Any]) -> None:
        statement = insert(Policy).values(name=name, config=config)
        await self.session.execute(
            statement.on_conflict_do_update(
                index_elements=[Policy.name],
                # When the change was stored, not a decision: the database's time.
                set_={"config": config, "updated_at": func.now()},
            )
        )

    async def alerts(
        self,
        principal: Principal,
        *,
        status: str | None,
        owner_id: str | None,
        customer_id: UUID | None,
        limit: int,
        before: UUID | None,
    ) -> Sequence[Alert]:
        """A page of the alerts of customers ``principal`` may see, newest first."""
        statement = (
            select(Alert)
            .join(Customer, Customer.id == Alert.customer_id)
            .where(visible_to(principal))
            .order_by(Alert.id.desc())
            .limit(limit)
        )
        if status == "open":
            statement = statement.where(Alert.cleared_at.is_(None), Alert.status == "open")
        elif status == "acknowledged":
            statement = statement.where(Alert.cleared_at.is_(None), Alert.status == "acknowledged")
        elif status == "cleared":
            statement = statement.where(Alert.cleared_at.is_not(None))
        if owner_id is not None:
            statement = statement.where(Alert.owner_id == owner_id)
        if customer_id is not None:
            statement = statement.where(Alert.customer_id == customer_id)
        if before is not None:
            statement = statement.where(Alert.id < before)
        return (await self.session.scalars(statement)).all()

    async def alert(self, alert_id: UUID, principal: Principal) -> Alert | None:
        """An alert of a customer ``principal`` may see, locked."""
        statement = (
            select(Alert)
            .join(Customer, Customer.id == Alert.customer_id)
            .where(Alert.id == alert_id, visible_to(principal))
            .with_for_update(of=Alert)
        )
        return (await self.session.scalars(statement)).first()

    async def add_incident(self, incident: Incident) -> Incident:
        self.session.add(incident)
        await self.session.flush()
        return incident

    async def incident(self, incident_id: UUID) -> Incident | None:
        return await self.session.get(Incident, incident_id, with_for_update=True)

    async def incidents(self, principal: Principal) -> list[tuple[Incident, int]]:
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
