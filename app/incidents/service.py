"""Incidents: declared by an admin, they flag every customer a matcher finds (their
calls go to the incident's queue) while it finds them, until closed."""

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


def _incident_out(incident: Incident, affected: int) -> IncidentOut:
    return IncidentOut.model_validate(
        {**incident.__dict__, "queue": f"incident:{incident.id}", "affected": affected}
    )


async def declare_incident(
    session: AsyncSession, data: IncidentIn, principal: Principal, settings: Settings, clock: Clock
) -> IncidentOut:
    """Flag every customer the matcher finds and route their calls to the incident's queue;
    from then on each customer's orders move them in and out (the rules evaluate the
    matcher whenever they run for a customer)."""
    matcher = data.matcher
    template = None
    if data.message is not None:
        template = await journeys.incident_template(session, data.message.template)
    incident = await IncidentRepository(session).add(
        Incident(
            title=data.title,
            matcher=matcher.model_dump(mode="json"),
            declared_at=clock.now(),
            message_template=template,
        )
    )
    candidates = await queries.shipped_in_window(
        session, matcher.carrier, matcher.shipped_from, matcher.shipped_to
    )
    await indicators.reevaluate(session, candidates, settings, clock)
    members = await queries.members(session, incident.id)
    queued = 0
    if template is not None:
        queued = await journeys.message_affected(
            session, incident.id, incident.title, members, template, clock
        )
    await session.refresh(incident)
    affected = (await queries.affected(session, [incident.id], principal))[incident.id]
    return _incident_out(incident, affected).model_copy(update={"messages_queued": queued})


async def message_new_members(session: AsyncSession, clock: Clock) -> int:
    """Queue an incident's message for the customers who joined it since it was declared
    (each customer gets it once); how many were queued."""
    queued = 0
    for incident in await IncidentRepository(session).open_with_message():
        assert incident.message_template is not None
        members = await queries.members(session, incident.id)
        queued += await journeys.message_affected(
            session, incident.id, incident.title, members, incident.message_template, clock
        )
    return queued


class IncidentNotFound(NotFound):
    """No incident with this id."""

    code = "incident-not-found"
    title = "Incident not found"
    example = (f"Incident {EXAMPLE_ID} not found.", {})


async def close_incident(
    session: AsyncSession,
    incident_id: UUID,
    principal: Principal,
    settings: Settings,
    clock: Clock,
) -> IncidentOut:
    """Close the incident: the rules no longer evaluate its matcher, so its flags, alerts
    and routing end for every customer it affected."""
    incident = await IncidentRepository(session).get_locked(incident_id)
    if incident is None:
        raise IncidentNotFound(f"Incident {incident_id} not found.")
    if incident.status == IncidentStatus.OPEN:
        incident.status = IncidentStatus.CLOSED
        incident.closed_at = clock.now()
        await session.flush()
        members = await queries.members(session, incident.id)
        await indicators.reevaluate(session, members, settings, clock)
    affected = (await queries.affected(session, [incident.id], principal))[incident.id]
    return _incident_out(incident, affected)


async def list_incidents(session: AsyncSession, principal: Principal) -> IncidentList:
    """Every incident; ``affected`` counts the customers it affects now that the caller
    may see."""
    incidents = await IncidentRepository(session).every_one()
    affected = await queries.affected(session, [i.id for i in incidents], principal)
    return IncidentList(items=[_incident_out(i, affected[i.id]) for i in incidents])
