"""Migrations go up, down and up again, and agree with the models."""

from alembic import command

from app.core.migrations import alembic_config


def test_upgrade_downgrade_upgrade_and_check(scratch_url: str) -> None:
    config = alembic_config(scratch_url)
    command.upgrade(config, "head")
    command.downgrade(config, "base")
    command.upgrade(config, "head")
    command.check(config)  # raises when the models and the migrations disagree
