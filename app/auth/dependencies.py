"""The route dependency that authenticates the caller and checks its role."""

from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.auth.service import authenticate
from app.core.db import DriverDep
from app.core.errors import Forbidden, Unauthorized
from app.core.security import ALL_ROLES, Principal, Role

_bearer = HTTPBearer(auto_error=False, description="An API key created with `keys create`.")


class RoleCheck:
    """A dependency admitting only callers whose key carries one of the ``admitted`` roles
    (which tests read to know who may call a route)."""

    def __init__(self, roles: tuple[Role, ...]) -> None:
        self.admitted = frozenset(roles)
        self._names = ", ".join(sorted(self.admitted))

    async def __call__(
        self,
        connection: DriverDep,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Principal:
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise Unauthorized()
        principal = await authenticate(connection, credentials.credentials)
        if principal is None:
            raise Unauthorized("The API key is unknown or revoked.")
        if principal.role not in self.admitted:
            raise Forbidden(f"Role '{principal.role}' may not call this operation ({self._names}).")
        return principal


def require_roles(*roles: Role) -> RoleCheck:
    """A dependency admitting only callers whose key carries one of ``roles``."""
    return RoleCheck(roles)


# The callers most routes admit, named once.
Reader = Annotated[Principal, Depends(require_roles(*ALL_ROLES))]
Writer = Annotated[Principal, Depends(require_roles(Role.ADMIN, Role.INTEGRATION))]
Admin = Annotated[Principal, Depends(require_roles(Role.ADMIN))]
