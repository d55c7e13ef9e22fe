"""Follow-up tasks: written by agents on the customers they see, or created from an alert
by a rule's ``create_follow_up`` action; snoozed, reassigned and completed; each one's
creation and completion recorded on the customer's timeline."""

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from app.alerts import service as alerts
from app.core.clock import Clock
from app.core.config import Settings
from app.core.db import Executor
from app.core.errors import EXAMPLE_ID, NotFound
from app.core.pagination import cursor_id, cursor_time, decode_cursor, keyset_page
from app.core.preconditions import check_if_match
from app.core.security import Principal
from app.customers.resolution import writable_target
from app.indicators import service as indicators
from app.tasks import queries
from app.tasks.models import Task
from app.tasks.repository import TaskRepository
from app.tasks.schemas import TaskIn, TaskOut, TaskPage, TaskPatch, TaskStatus
from app.timeline import service as timeline


class TaskNotFound(NotFound):
    """No task with this id on a customer the key may see."""

    code = "task-not-found"
    title = "Task not found"
    example = (f"Task {EXAMPLE_ID} not found.", {})


def task_out(task: Task, now: datetime) -> TaskOut:
    woken = task.status == TaskStatus.SNOOZED and task.snoozed_until and task.snoozed_until <= now
    status = TaskStatus.OPEN if woken else task.status
    fields = {name: getattr(task, name) for name in TaskOut.model_fields}
    return TaskOut.model_validate({**fields, "status": status})


async def _record(
    session: AsyncSession,
    task: Task,
    type_name: str,
    actor: str | None,
    settings: Settings,
    clock: Clock,
) -> None:
    payload: dict[str, Any] = {
        "task_id": str(task.id),
        "title": task.title,
        "assignee": task.assignee,
        "due_at": task.due_at.isoformat() if task.due_at else None,
        "alert_id": str(task.alert_id) if task.alert_id else None,
    }
    verb = "Follow-up" if type_name == "task.created" else "Follow-up done"
    await timeline.append_system_event(
        session,
        task.customer_id,
        type_name,
        {k: v for k, v in payload.items() if v is not None},
        f"{verb}: {task.title}",
        actor,
        settings,
        clock,
    )


async def create_task(
    session: AsyncSession, data: TaskIn, principal: Principal, settings: Settings, clock: Clock
) -> TaskOut:
    """A follow-up on a customer the key sees (on its survivor if it was merged), written by
    the key's agent and assigned to it unless the body names another."""
    customer_id = await writable_target(session, data.customer_id, principal)
    task = await TaskRepository(session).add(
        Task(
            customer_id=customer_id,
            title=data.title,
            assignee=data.assignee or principal.agent_id,
            due_at=data.due_at,
            created_by=principal.agent_id,
            created_at=clock.now(),
        )
    )
    await _record(session, task, "task.created", principal.agent_id, settings, clock)
    return task_out(task, clock.now())


def _after(cursor: str | None) -> tuple[datetime | None, UUID] | None:
    """The position a page's cursor resumes after: its last task's due time (None: an
    undated task, after every dated one) and id."""
    if not cursor:
        return None
    undated = decode_cursor(cursor).get("due") == "infinity"
    due = None if undated else cursor_time(cursor, "due")
    after = cursor_id(cursor, "after")
    assert after is not None
    return due, after


def _position(task: Task) -> dict[str, Any]:
    due = task.due_at.isoformat() if task.due_at else "infinity"
    return {"due": due, "after": str(task.id)}


async def list_tasks(
    session: AsyncSession,
    principal: Principal,
    clock: Clock,
    *,
    assignee: str | None,
    status: TaskStatus | None,
    customer_id: UUID | None,
    due_before: datetime | None,
    limit: int,
    cursor: str | None,
) -> TaskPage:
    """Tasks of the customers the key sees, soonest due first (undated last)."""
    now = clock.now()
    rows = await TaskRepository(session).page(
        principal,
        now=now,
        assignee=assignee,
        status=status,
        customer_id=customer_id,
        due_before=due_before,
        after=_after(cursor),
        limit=limit + 1,
    )
    page, next_cursor = keyset_page(rows, limit, _position)
    return TaskPage(items=[task_out(t, now) for t in page], next_cursor=next_cursor)


async def get_task(
    session: AsyncSession, task_id: UUID, principal: Principal, clock: Clock
) -> TaskOut:
    task = await TaskRepository(session).get(task_id, principal, lock=False)
    if task is None:
        raise TaskNotFound(f"Task {task_id} not found.")
    return task_out(task, clock.now())


async def change_task(
    session: AsyncSession,
    task_id: UUID,
    patch: TaskPatch,
    if_match: str | None,
    principal: Principal,
    settings: Settings,
    clock: Clock,
) -> TaskOut:
    """Snooze, complete, reopen, reassign or move a task, at the version If-Match names;
    completing it records ``task.completed`` as the key's agent."""
    task = await TaskRepository(session).get(task_id, principal, lock=True)
    if task is None:
        raise TaskNotFound(f"Task {task_id} not found.")
    check_if_match(if_match, task.version, required=True)
    now = clock.now()
    completed = patch.status == TaskStatus.DONE and task.status != TaskStatus.DONE
    fields = patch.model_fields_set
    if patch.status is not None:
        if completed:
            task.completed_at, task.completed_by = now, principal.agent_id
        elif patch.status != TaskStatus.DONE:  # reopened or snoozed: no longer done
            task.completed_at, task.completed_by = None, None
        task.status = patch.status
        task.snoozed_until = patch.snoozed_until
    if "assignee" in fields:
        task.assignee = patch.assignee
    if "due_at" in fields:
        task.due_at = patch.due_at
    task.version += 1
    await session.flush()
    if completed:
        await _record(session, task, "task.completed", principal.agent_id, settings, clock)
    return task_out(task, now)


async def follow_up_alerts(session: AsyncSession, settings: Settings, clock: Clock) -> int:
    """Create the task of every rule's ``create_follow_up`` action for each open alert of
    the rule that has none yet (assigned to the action's agent, else the customer's owner,
    due ``due_minutes`` after the alert was raised); how many were created."""
    actions = {
        rule.rule: [
            a for a in rule.config.get("actions", []) if a.get("kind") == "create_follow_up"
        ]
        for rule in await indicators.rules(session)
    }
    actions = {rule: found for rule, found in actions.items() if found}
    if not actions:
        return 0
    open_alerts = await alerts.open_of_rules(session, list(actions))
    repo = TaskRepository(session)
    followed = await repo.alerts_followed([(a["customer_id"], a["id"]) for a in open_alerts])
    created = 0
    for alert in open_alerts:
        if (alert["customer_id"], alert["id"]) in followed:
            continue
        action = actions[alert["rule"]][0]  # one task per alert
        task = await repo.add(
            Task(
                customer_id=alert["customer_id"],
                title=action.get("title") or alert["title"],
                assignee=action.get("assignee") or alert["owner_id"],
                due_at=alert["raised_at"] + timedelta(minutes=action.get("due_minutes", 0)),
                alert_id=alert["id"],
                created_at=clock.now(),
            )
        )
        await _record(session, task, "task.created", None, settings, clock)
        created += 1
    return created


async def open_for_ficha(
    on: Executor, customer_id: UUID, now: datetime, limit: int, alerts_seen: bool
) -> list[dict[str, Any]]:
    """A customer's open follow-ups (snoozes whose time has come included), soonest due
    first: what a ficha's ``follow_ups`` section shows; those of its alerts only to a
    reader that sees them (``alerts_seen``, see ``visibility.py``)."""
    return [
        {
            "id": str(r["id"]),
            "title": r["title"],
            "assignee": r["assignee"],
            "due_at": r["due_at"],
            "overdue": r["due_at"] is not None and r["due_at"] < now,
            "alert_id": str(r["alert_id"]) if r["alert_id"] else None,
        }
        for r in await queries.open_tasks(on, customer_id, now, limit, alerts_seen)
    ]
