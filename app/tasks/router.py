"""HTTP routes: follow-up tasks, written, listed and changed."""

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Request, Response, status

from app.auth.dependencies import AgentWriter, Reader
from app.core.bounded_json import BoundedJsonRoute
from app.core.clock import ClockDep
from app.core.config import SettingsDep
from app.core.db import SessionDep
from app.core.errors import (
    Forbidden,
    PreconditionFailed,
    PreconditionRequired,
    Unauthorized,
    ValidationFailed,
    problem_responses,
)
from app.core.openapi import headers
from app.core.pagination import InvalidCursor, Limit
from app.core.preconditions import IfMatch, etag
from app.core.timestamps import Timestamp
from app.customers.service import CustomerNotActive, CustomerNotFound
from app.tasks import service
from app.tasks.schemas import TaskIn, TaskOut, TaskPage, TaskPatch, TaskStatus
from app.tasks.service import TaskNotFound

router = APIRouter(prefix="/v1", tags=["tasks"], route_class=BoundedJsonRoute)


@router.post(
    "/tasks",
    operation_id="create_task",
    status_code=status.HTTP_201_CREATED,
    summary="Write a follow-up task on a customer, as the key's agent",
    responses={
        201: {"description": "The task", "headers": headers("Location", "ETag")},
        **problem_responses(
            Unauthorized, Forbidden, CustomerNotFound, CustomerNotActive, ValidationFailed
        ),
    },
)
async def create_task(
    body: TaskIn,
    request: Request,
    response: Response,
    session: SessionDep,
    principal: AgentWriter,
    settings: SettingsDep,
    clock: ClockDep,
) -> TaskOut:
    """Every role writes follow-ups on the customers it sees (a job key must name its
    agent, who is its author and, unless `assignee` names another, its assignee).
    Records `task.created` on the customer's timeline."""
    task = await service.create_task(session, body, principal, settings, clock)
    response.headers["Location"] = str(request.url_for("get_task", task_id=task.id))
    response.headers["ETag"] = etag(task.version)
    return task


@router.get(
    "/tasks",
    operation_id="list_tasks",
    summary="Follow-up tasks, soonest due first",
    responses=problem_responses(InvalidCursor, Unauthorized, Forbidden, ValidationFailed),
)
async def list_tasks(
    session: SessionDep,
    principal: Reader,
    clock: ClockDep,
    assignee: Annotated[str | None, Query(max_length=200)] = None,
    task_status: Annotated[TaskStatus | None, Query(alias="status")] = None,
    customer_id: UUID | None = None,
    due_before: Annotated[Timestamp | None, Query()] = None,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    limit: Limit = 50,
) -> TaskPage:
    """Of the customers the key sees; `status=open` includes snoozes whose time has come."""
    return await service.list_tasks(
        session,
        principal,
        clock,
        assignee=assignee,
        status=task_status,
        customer_id=customer_id,
        due_before=due_before,
        limit=limit,
        cursor=cursor,
    )


@router.get(
    "/tasks/{task_id}",
    operation_id="get_task",
    summary="One follow-up task",
    responses={
        200: {"description": "The task", "headers": headers("ETag")},
        **problem_responses(Unauthorized, Forbidden, TaskNotFound, ValidationFailed),
    },
)
async def get_task(
    task_id: UUID, response: Response, session: SessionDep, principal: Reader, clock: ClockDep
) -> TaskOut:
    task = await service.get_task(session, task_id, principal, clock)
    response.headers["ETag"] = etag(task.version)
    return task


@router.patch(
    "/tasks/{task_id}",
    operation_id="change_task",
    summary="Snooze, complete, reopen or reassign a follow-up task (If-Match required)",
    responses={
        200: {"description": "The task changed", "headers": headers("ETag")},
        **problem_responses(
            Unauthorized,
            Forbidden,
            TaskNotFound,
            PreconditionFailed,
            ValidationFailed,
            PreconditionRequired,
        ),
    },
)
async def change_task(
    task_id: UUID,
    body: TaskPatch,
    response: Response,
    session: SessionDep,
    principal: AgentWriter,
    settings: SettingsDep,
    clock: ClockDep,
    if_match: IfMatch = None,
) -> TaskOut:
    """Completing records `task.completed` on the customer's timeline, as the key's agent."""
    task = await service.change_task(session, task_id, body, if_match, principal, settings, clock)
    response.headers["ETag"] = etag(task.version)
    return task
