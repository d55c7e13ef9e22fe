"""The route dependency that authenticates the caller and checks its role."""

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.auth.service import authenticate
from app.core.db import DriverDep
from app.core.errors import Forbidden, Unauthorized
from app.core.security import ALL_ROLES, Principal, Role

_bearer = HTTPBearer(auto_error=False, description="An API key created with `keys create`.")


def require_roles(*roles: Role) -> Callable[..., Awaitable[Principal]]:
    """A dependency admitting only callers whose key carries one of ``roles``."""
    admitted = frozenset(roles)
    names = ", ".join(sorted(admitted))

    async def dependency(
        connection: DriverDep,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Principal:
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise Unauthorized()
        principal = await authenticate(connection, credentials.credentials)
        if principal is None:
            raise Unauthorized("The API key is unknown or revoked.")
        if principal.role not in admitted:
            raise Forbidden(f"Role '{principal.role}' may not call this operation ({names}).")
        return principal

    return dependency


# The callers most routes admit, named once.
Reader = Annotated[Principal, Depends(require_roles(*ALL_ROLES))]
Writer = Annotated[Principal, Depends(require_roles(Role.ADMIN, Role.INTEGRATION))]
Admin = Annotated[Principal, Depends(require_roles(Role.ADMIN))]
