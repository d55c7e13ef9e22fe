"""The route dependencies that authenticate the caller and check its role."""

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyQuery, HTTPAuthorizationCredentials, HTTPBearer

from app.auth.service import authenticate
from app.core.clock import Clock, ClockDep
from app.core.db import DriverDep, Executor
from app.core.errors import Forbidden, Unauthorized
from app.core.security import ALL_ROLES, JOB_ROLES, Principal, Role, is_session_token

_bearer = HTTPBearer(
    auto_error=False,
    description="An API key created with `customer-history keys create`, or a session "
    "token a key minted with `POST /v1/session-tokens` (it acts as its key until it "
    "expires or the key is revoked).",
)
# EventSource cannot send headers: a live stream also takes a session token in the query.
# Logs carry route templates only, never a query string, so the token is never written.
_query_token = APIKeyQuery(
    name="access_token",
    auto_error=False,
    scheme_name="SessionTokenQuery",
    description="A session token (`POST /v1/session-tokens`), for the browser's "
    "EventSource, which cannot send an Authorization header. Live streams only; never an "
    "API key.",
)

BearerCredentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


class RoleCheck:
    """A dependency admitting only callers whose key carries one of the ``admitted`` roles
    (which tests read to know who may call a route)."""

    def __init__(self, roles: tuple[Role, ...]) -> None:
        self.admitted = frozenset(roles)
        self._names = ", ".join(sorted(self.admitted))

    async def __call__(
        self,
        request: Request,
        connection: DriverDep,
        clock: ClockDep,
        credentials: BearerCredentials,
    ) -> Principal:
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise Unauthorized()
        return await self.admit(request, connection, clock, credentials.credentials)

    async def admit(
        self, request: Request, connection: Executor, clock: Clock, secret: str
    ) -> Principal:
        """The caller behind ``secret`` if its role is admitted: 401 when unknown, revoked
        or expired, 403 for a role the route does not admit."""
        keys = request.app.state.keys
        principal = await authenticate(connection, keys, secret, clock.now())
        if principal is None and is_session_token(secret):
            raise Unauthorized("The session token is unknown or expired, or its key revoked.")
        if principal is None:
            raise Unauthorized("The API key is unknown or revoked.")
        if principal.role not in self.admitted:
            raise Forbidden(f"Role '{principal.role}' may not call this operation ({self._names}).")
        return principal


class StreamRoleCheck(RoleCheck):
    """As :class:`RoleCheck`, and a session token may come as ``?access_token=`` instead
    of the Authorization header (which wins when both are sent)."""

    async def __call__(  # type: ignore[override]
        self,
        request: Request,
        connection: DriverDep,
        clock: ClockDep,
        credentials: BearerCredentials,
        access_token: Annotated[str | None, Depends(_query_token)],
    ) -> Principal:
        if credentials is not None and credentials.scheme.lower() == "bearer":
            return await self.admit(request, connection, clock, credentials.credentials)
        if access_token is None:
            raise Unauthorized()
        if not is_session_token(access_token):
            # A key in a URL ends up in browser histories and proxies' logs: never take one.
            raise Unauthorized("access_token takes a session token only; send API keys as Bearer.")
        return await self.admit(request, connection, clock, access_token)


class AgentCheck(RoleCheck):
    """As :class:`RoleCheck` for every role, and a job key must name its agent: what an
    agent writes (notes, wrap-ups, follow-ups) is recorded as that agent."""

    def __init__(self) -> None:
        super().__init__(ALL_ROLES)

    async def admit(
        self, request: Request, connection: Executor, clock: Clock, secret: str
    ) -> Principal:
        principal = await super().admit(request, connection, clock, secret)
        if principal.role in JOB_ROLES and principal.agent_id is None:
            raise Forbidden(
                f"A {principal.role.value} key writes as its agent, and this key names none "
                "(keys create --agent-id)."
            )
        return principal


def require_roles(*roles: Role) -> RoleCheck:
    """A dependency admitting only callers whose key carries one of ``roles``."""
    return RoleCheck(roles)


# The callers most routes admit, named once.
Reader = Annotated[Principal, Depends(require_roles(*ALL_ROLES))]
Writer = Annotated[Principal, Depends(require_roles(Role.ADMIN, Role.INTEGRATION))]
Admin = Annotated[Principal, Depends(require_roles(Role.ADMIN))]
# An agent's own writes (notes, wrap-ups, follow-ups): every role, a job key with its agent.
AgentWriter = Annotated[Principal, Depends(AgentCheck())]
# A live stream's reader: any role, by Authorization header or by ?access_token=.
StreamReader = Annotated[Principal, Depends(StreamRoleCheck(ALL_ROLES))]
