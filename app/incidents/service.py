"""Incidents: declared by an admin, they flag every customer a matcher finds (their
calls go to the incident's queue) until closed."""

from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.clock import Clock
from app.core.config import Settings
from app.core.errors import EXAMPLE_ID, NotFound
from app.core.security import Principal
from app.incidents import queries
from app.incidents.models import Incident
from app.incidents.repository import IncidentRepository
from app.incidents.schemas import IncidentIn, IncidentList, IncidentOut, IncidentStatus
from app.indicators import service as indicators
from app.messages import journeys
from app.outbox import queries as outbox


def _incident_out(incident: Incident) -> IncidentOut:
    return IncidentOut.model_validate({**incident.__dict__, "queue": f"incident:{incident.id}"})


async def declare_incident(
    session: AsyncSession, data: IncidentIn, settings: Settings, clock: Clock
) -> IncidentOut:
    """Flag every customer the matcher finds and route their calls to the incident's queue."""
    repo = IncidentRepository(session)
    matcher = data.matcher
    members = await queries.match_shipments(
        session, matcher.carrier, matcher.shipped_from, matcher.shipped_to
    )
    incident = await repo.add(
        Incident(
            title=data.title,
            matcher=matcher.model_dump(mode="json"),
            affected=len(members),
            declared_at=clock.now(),
        )
    )
    await queries.add_incident_members(session, incident.id, members)
    await outbox.announce(session, _membership(incident, members, affected=True))
    await indicators.reevaluate(session, members, settings, clock)
    queued = 0
    if data.message is not None:
        queued = await journeys.message_affected(
            session, incident.id, incident.title, members, data.message.template, clock
        )
    await session.refresh(incident)
    return _incident_out(incident).model_copy(update={"messages_queued": queued})


def _membership(incident: Incident, members: list[UUID], *, affected: bool) -> list[outbox.Fact]:
    """``incident.membership`` facts: each member now affected by the incident, or no
    longer (it closed)."""
    data = {"incident_id": str(incident.id), "title": incident.title, "affected": affected}
    return [
        outbox.Fact(
            "incident.membership", member, incident.id, {**data, "customer_id": str(member)}
        )
        for member in members
    ]


class IncidentNotFound(NotFound):
    """No incident with this id."""

    code = "incident-not-found"
    title = "Incident not found"
    example = (f"Incident {EXAMPLE_ID} not found.", {})


async def close_incident(
    session: AsyncSession, incident_id: UUID, settings: Settings, clock: Clock
) -> IncidentOut:
    incident = await IncidentRepository(session).get_locked(incident_id)
    if incident is None:
        raise IncidentNotFound(f"Incident {incident_id} not found.")
    if incident.status == IncidentStatus.OPEN:
        incident.status = IncidentStatus.CLOSED
        incident.closed_at = clock.now()
        await session.flush()
        members = await queries.incident_members(session, incident.id)
        await outbox.announce(session, _membership(incident, members, affected=False))
        await indicators.reevaluate(session, members, settings, clock)
    return _incident_out(incident)


async def list_incidents(session: AsyncSession, principal: Principal) -> IncidentList:
    """Every incident; ``affected`` counts the customers the caller may see."""
    return IncidentList(
        items=[
            _incident_out(incident).model_copy(update={"affected": seen})
            for incident, seen in await IncidentRepository(session).every_one(principal)
        ]
    )
