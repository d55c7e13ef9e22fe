"""HTTP routes: where an incoming call goes, and the routing policy."""

from typing import Annotated

from fastapi import APIRouter, Path, Request

from app.auth.dependencies import Admin, Reader
from app.core.bounded_json import BoundedJsonRoute
from app.core.config import SettingsDep
from app.core.db import DriverDep, SessionDep
from app.core.errors import (
    Forbidden,
    Unauthorized,
    ValidationFailed,
    problem_responses,
)
from app.core.fast_route import fast_get
from app.customers.identifiers import caller_readings
from app.customers.schemas import PhoneText
from app.routing import service
from app.routing.schemas import RoutingAnswer, RoutingPolicy

# Listed with the indicators in the API document, as it has always been.
router = APIRouter(prefix="/v1", tags=["indicators"], route_class=BoundedJsonRoute)


@fast_get(
    router,
    "/routing/by-phone/{phone}",
    operation_id="route_by_phone",
    summary="Queue and priority for an incoming call (IVR / ACD)",
    response_model=RoutingAnswer,
    responses=problem_responses(Unauthorized, Forbidden, ValidationFailed),
)
async def route_by_phone(
    phone: Annotated[
        PhoneText,
        Path(
            description="Any common spelling. By hand, the `+` goes as it is or as `%2B`; "
            "a generated client encodes the path itself: give it the number as written",
        ),
    ],
    request: Request,
    connection: DriverDep,
    principal: Reader,
    settings: SettingsDep,
) -> RoutingAnswer:
    readings = caller_readings(phone, settings.default_region, "path.phone")
    state = request.app.state
    return await service.route(
        connection, state.policies, readings, principal, settings, state.clock.now()
    )


@router.get(
    "/routing/policy",
    operation_id="get_routing_policy",
    summary="The routing policy",
    responses=problem_responses(Unauthorized, Forbidden),
)
async def get_routing_policy(session: SessionDep, principal: Reader) -> RoutingPolicy:
    return await service.routing_policy(session)


@router.put(
    "/routing/policy",
    operation_id="put_routing_policy",
    summary="Replace the routing policy",
    responses=problem_responses(Unauthorized, Forbidden, ValidationFailed),
)
async def put_routing_policy(
    body: RoutingPolicy, session: SessionDep, principal: Admin
) -> RoutingPolicy:
    return await service.put_routing_policy(session, body)
