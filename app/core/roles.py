"""The database roles: the owner migrates, the service connects as a login of its own.

The tables, the append-only guard and the erasure and retention functions belong to the
role that runs the migrations. The service's login is a member of ``ch_service``, which
the migrations grant what the service needs (no UPDATE, DELETE or TRUNCATE on events):
no session setting can then turn the guard off, and the history changes only through
the owner's SECURITY DEFINER functions.
"""

import re

import asyncpg
from sqlalchemy.engine import make_url

from app.core.db import plain_url

SERVICE_GROUP = "ch_service"
# The login the embedded server (and the test suite) gives the service.
SERVICE_LOGIN = "ch_app"
_PLAIN_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")

# Roles are cluster-wide: another database of the same server (another deployment, a
# concurrent test run) may be creating them at the same moment, hence the exception.
_ENSURE_ROLE = """
DO $$ BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{name}') THEN
        CREATE ROLE {name} {options};
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
END $$
"""


def login_of(url: str) -> str | None:
    """The user a database URL logs in as (None when the URL leaves it to the driver)."""
    return make_url(plain_url(url)).username


def as_login(url: str, login: str = SERVICE_LOGIN) -> str:
    """The same database reached as ``login`` without a password (trust authentication,
    as on the embedded server)."""
    return make_url(plain_url(url)).set(username=login, password=None).render_as_string(False)


async def provision_service_login(owner_url: str, service_url: str) -> None:
    """Create the service's login (and its group) if missing, and make it a member of
    ``ch_service``; a password in ``service_url`` is set on it. Run as the owner, after
    the migrations; idempotent."""
    url = make_url(plain_url(service_url))
    login = url.username
    if login is None or not _PLAIN_NAME.match(login):
        raise ValueError("the service's database URL must name a plain lower-case user")
    conn = await asyncpg.connect(plain_url(owner_url))
    try:
        await conn.execute(_ENSURE_ROLE.format(name=SERVICE_GROUP, options="NOLOGIN"))
        await conn.execute(
            _ENSURE_ROLE.format(
                name=login, options="LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE INHERIT"
            )
        )
        await conn.execute(f"GRANT {SERVICE_GROUP} TO {login}")
        if url.password:
            statement = await conn.fetchval(
                "SELECT format('ALTER ROLE %I PASSWORD %L', $1::text, $2::text)",
                login,
                url.password,
            )
            await conn.execute(statement)
    finally:
        await conn.close()
