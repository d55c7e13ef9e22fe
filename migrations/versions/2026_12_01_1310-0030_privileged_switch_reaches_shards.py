"""the erasure and retention say they may change events with SET LOCAL, which Citus
carries to the workers

The append-only guard on ``events`` lets a change through when the table's owner said so
for its transaction (``ch.privileged_maintenance``, migration 0014). ``set_config`` said
it on the server that runs the function only; on Citus the guard runs on the worker that
holds each shard, which never heard it and refused. ``SET LOCAL`` after ``SET LOCAL
citus.propagate_set_commands = 'local'`` is sent to the workers with the statements that
follow, switching off included (docs/scaling.md); on one PostgreSQL the Citus setting is
a placeholder nobody reads.

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-01 13:10:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0030"
down_revision: str | None = "0029"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FUNCTIONS = ("ch_erase_customer", "ch_expire_events")
# (as 0007-0015 wrote it, as it is now)
SWITCHES = (
    (
        "PERFORM set_config('ch.privileged_maintenance', 'on', true);",
        "SET LOCAL citus.propagate_set_commands = 'local'; "
        "SET LOCAL ch.privileged_maintenance = on;",
    ),
    (
        "PERFORM set_config('ch.privileged_maintenance', 'off', true);",
        "SET LOCAL ch.privileged_maintenance = off;",
    ),
)


def _rewrite(function: str, pairs: Sequence[tuple[str, str]]) -> None:
    definition = op.get_bind().scalar(
        sa.text("SELECT pg_get_functiondef(CAST(:f AS regproc))").bindparams(f=function)
    )
    for old, new in pairs:
        if old not in definition:
            raise RuntimeError(f"{function} is not the function this migration rewrites")
        definition = definition.replace(old, new)
    op.execute(sa.text(definition).execution_options(no_parameters=True))


def upgrade() -> None:
    for function in FUNCTIONS:
        _rewrite(function, SWITCHES)


def downgrade() -> None:
    for function in FUNCTIONS:
        _rewrite(function, [(new, old) for old, new in SWITCHES])
