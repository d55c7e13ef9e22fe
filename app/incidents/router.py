"""HTTP routes: declare, list and close incidents."""

from uuid import UUID

from fastapi import APIRouter, status

from app.auth.dependencies import Admin, Reader
from app.core.bounded_json import BoundedJsonRoute
from app.core.clock import ClockDep
from app.core.config import SettingsDep
from app.core.db import SessionDep
from app.core.errors import Forbidden, Unauthorized, ValidationFailed, problem_responses
from app.incidents import service
from app.incidents.schemas import IncidentIn, IncidentList, IncidentOut

# Listed with the indicators in the API document, as it has always been.
router = APIRouter(prefix="/v1", tags=["indicators"], route_class=BoundedJsonRoute)


@router.post(
    "/incidents",
    operation_id="declare_incident",
    status_code=status.HTTP_201_CREATED,
    summary="Declare an incident: matching customers are flagged and routed to its queue",
    responses=problem_responses(Unauthorized, Forbidden, ValidationFailed),
)
async def declare_incident(
    body: IncidentIn,
    session: SessionDep,
    principal: Admin,
    settings: SettingsDep,
    clock: ClockDep,
) -> IncidentOut:
    return await service.declare_incident(session, body, principal, settings, clock)


@router.get(
    "/incidents",
    operation_id="list_incidents",
    summary="Incidents, newest first",
    responses=problem_responses(Unauthorized, Forbidden),
)
async def list_incidents(session: SessionDep, principal: Reader) -> IncidentList:
    return await service.list_incidents(session, principal)


@router.post(
    "/incidents/{incident_id}/close",
    operation_id="close_incident",
    summary="Close an incident: its flags and routing end",
    responses=problem_responses(
        Unauthorized, Forbidden, service.IncidentNotFound, ValidationFailed
    ),
)
async def close_incident(
    incident_id: UUID,
    session: SessionDep,
    principal: Admin,
    settings: SettingsDep,
    clock: ClockDep,
) -> IncidentOut:
    return await service.close_incident(session, incident_id, principal, settings, clock)
