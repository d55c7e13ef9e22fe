"""Follow-up task bodies of the API."""

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.core.timestamps import StoredTimestamp


class TaskStatus(StrEnum):
    OPEN = "open"
    SNOOZED = "snoozed"
    DONE = "done"


AgentId = Annotated[str, Field(min_length=1, max_length=200)]

TASK_EXAMPLE: dict[str, Any] = {
    "id": "01933b8e-8a52-7cc2-9d0e-0c6f2b1e3a40",
    "customer_id": "01933b8e-8a52-7cc2-9d0e-0c6f2b1e3a10",
    "title": "Call back about the late parcel",
    "assignee": "agent-7",
    "due_at": "2026-11-03T09:00:00Z",
    "status": "open",
    "snoozed_until": None,
    "alert_id": None,
    "created_by": "agent-7",
    "created_at": "2026-11-02T09:31:00Z",
    "completed_at": None,
    "completed_by": None,
    "version": 1,
}


class TaskIn(BaseModel):
    """A follow-up written by hand; assigned to the caller's agent unless it names another."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "customer_id": "01933b8e-8a52-7cc2-9d0e-0c6f2b1e3a10",
                    "title": "Call back about the late parcel",
                    "due_at": "2026-11-03T10:00:00+01:00",
                }
            ]
        },
    )

    customer_id: UUID
    title: Annotated[str, Field(min_length=1, max_length=300)]
    assignee: AgentId | None = Field(default=None, description="The caller's agent if omitted")
    due_at: StoredTimestamp | None = None


class TaskPatch(BaseModel):
    """Snooze (`snoozed` with `snoozed_until`), complete (`done`), reopen (`open`),
    reassign (`assignee`) or move the due time; omitted fields stay as they are."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"status": "snoozed", "snoozed_until": "2026-11-04T09:00:00+01:00"},
                {"status": "done"},
                {"assignee": "agent-9"},
            ]
        },
    )

    status: Literal[TaskStatus.OPEN, TaskStatus.SNOOZED, TaskStatus.DONE] | None = None
    snoozed_until: StoredTimestamp | None = Field(
        default=None, description="Required with status snoozed, refused otherwise"
    )
    assignee: AgentId | None = None
    due_at: StoredTimestamp | None = None

    @model_validator(mode="after")
    def _snooze_has_its_time(self) -> "TaskPatch":
        if (self.status == TaskStatus.SNOOZED) != (self.snoozed_until is not None):
            raise ValueError("snoozed_until goes with status snoozed, and only with it")
        return self


class TaskOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [TASK_EXAMPLE]})

    id: UUID
    customer_id: UUID
    title: str
    assignee: str | None
    due_at: datetime | None
    status: Literal[TaskStatus.OPEN, TaskStatus.SNOOZED, TaskStatus.DONE] = Field(
        description="A snooze whose time has come reads open"
    )
    snoozed_until: datetime | None
    alert_id: UUID | None = Field(description="The alert it was created from")
    created_by: str | None = Field(description="The agent; null when the service created it")
    created_at: datetime
    completed_at: datetime | None
    completed_by: str | None
    version: int = Field(description="Its ETag's value, for If-Match")


class TaskPage(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"items": [TASK_EXAMPLE], "next_cursor": None}]}
    )

    items: list[TaskOut]
    next_cursor: str | None
