"""Who am I: lets an integrator check a key and see its role."""

from datetime import datetime
from uuid import UUID

from fastapi import APIRouter, Response, status
from pydantic import BaseModel, ConfigDict, Field

from app.auth import service
from app.auth.dependencies import Reader
from app.core.bounded_json import BoundedJsonRoute
from app.core.clock import ClockDep
from app.core.config import SettingsDep
from app.core.db import SessionDep
from app.core.errors import Forbidden, Unauthorized, problem_responses
from app.core.security import Role

router = APIRouter(prefix="/v1", tags=["auth"], route_class=BoundedJsonRoute)


class Caller(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "key_id": "01933b8e-8a52-7cc2-9d0e-0c6f2b1e3a50",
                    "role": "support",
                    "agent_id": "agent-17",
                    "owned_only": False,
                    "supervisor": False,
                    "token_expires_at": "2026-11-02T09:30:00Z",
                }
            ]
        }
    )

    key_id: UUID
    role: str = Field(
        description="Open set: today " + ", ".join(r.value for r in Role), examples=["support"]
    )
    agent_id: str | None
    owned_only: bool
    supervisor: bool
    token_expires_at: datetime | None = Field(
        description="When the session token sent expires; null for an API key."
    )


class SessionTokenOut(BaseModel):
    """A session token: the secret, shown once, and when it stops working."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "token": "cht.Jx7oF3v0b1Qm1mD1-7rR2Xn4i2n8cYpD0wQ7yK9fA5s",
                    "expires_at": "2026-11-02T09:30:00Z",
                }
            ]
        }
    )

    token: str = Field(
        description="Send as `Authorization: Bearer <token>`, or as `?access_token=` on a "
        "live stream (EventSource). Acts as the key that minted it.",
        examples=["cht.Jx7oF3v0b1Qm1mD1-7rR2Xn4i2n8cYpD0wQ7yK9fA5s"],
    )
    expires_at: datetime = Field(description="After it, the token is refused (401).")


@router.get(
    "/me",
    operation_id="get_caller",
    summary="The caller behind the API key",
    responses=problem_responses(Unauthorized, Forbidden),
)
async def get_caller(principal: Reader) -> Caller:
    return Caller(
        key_id=principal.key_id,
        role=principal.role,
        agent_id=principal.agent_id,
        owned_only=principal.owned_only,
        supervisor=principal.supervisor,
        token_expires_at=principal.token_expires_at,
    )


@router.post(
    "/session-tokens",
    operation_id="create_session_token",
    status_code=status.HTTP_201_CREATED,
    summary="Mint a short-lived token for a browser session",
    responses={
        201: {
            "description": "The token, shown once",
            "headers": {
                "Cache-Control": {
                    "description": "`no-store`: a token is never cached",
                    "schema": {"type": "string"},
                }
            },
        },
        **problem_responses(Unauthorized, Forbidden),
    },
)
async def create_session_token(
    principal: Reader,
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
    response: Response,
) -> SessionTokenOut:
    """For a browser, which should never hold the key itself. The token carries the key's
    role, agent, owned-only restriction and supervisor capability, no more; it works for
    `CH_SESSION_TOKEN_SECONDS` and stops at once when the key is revoked, in every process.
    A token cannot mint another (403): only the key does."""
    token, expires_at = await service.mint_session_token(
        session, principal, seconds=settings.session_token_seconds, now=clock.now()
    )
    response.headers["Cache-Control"] = "no-store"
    return SessionTokenOut(token=token, expires_at=expires_at)
