"""Alembic, driven from the code: the upgrade before serving (`python -m app.core.migrations`
is how `customer-history serve` runs it, in a process of its own). The head that /readyz
expects is read without Alembic, in app/core/migration_head.py."""

import os

from alembic import command
from alembic.config import Config

from app.core.migration_head import PROJECT_ROOT


def alembic_config(database_url: str | None = None) -> Config:
    """The project's Alembic configuration, optionally aimed at ``database_url``."""
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    if database_url:
        config.attributes["database_url"] = database_url
    return config


def upgrade_to_head(database_url: str) -> None:
    """Apply every pending migration (synchronous: call it before the event loop starts)."""
    command.upgrade(alembic_config(database_url), "head")


if __name__ == "__main__":
    upgrade_to_head(os.environ["DATABASE_URL"])
