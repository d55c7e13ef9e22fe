"""Who am I: lets an integrator check a key and see its role."""

from uuid import UUID

from fastapi import APIRouter
from pydantic import BaseModel

from app.auth.dependencies import Reader
from app.core.bounded_json import BoundedJsonRoute
from app.core.errors import problem_responses
from app.core.security import Role

router = APIRouter(prefix="/v1", tags=["auth"], route_class=BoundedJsonRoute)


class Caller(BaseModel):
    key_id: UUID
    role: Role
    agent_id: str | None
    owned_only: bool
    supervisor: bool


@router.get(
    "/me",
    operation_id="get_caller",
    summary="The caller behind the API key",
    responses=problem_responses(401, 403),
)
async def get_caller(principal: Reader) -> Caller:
    return Caller(
        key_id=principal.key_id,
        role=principal.role,
        agent_id=principal.agent_id,
        owned_only=principal.owned_only,
        supervisor=principal.supervisor,
    )
