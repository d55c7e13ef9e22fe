"""event keys are unique by their digest, which an erasure keeps

A key may spell an email, so an erasure replaces it by its hash, ``ch_erased_key`` (0013),
and claims and look-ups compared both forms: a claim checked, beside its own key, that
the erased form was not taken (a sub-query Citus refuses in an INSERT ... SELECT), and
the erasure rewrote the column the table was to be spread by on Citus (refused:
``modifying the partition value of rows is not allowed``). Each key now keeps that hash
from the start, ``digest``, unique with the scope: a claim of a key or of a key erased
since meets the same row (ON CONFLICT), a look-up reads one row by it, and on Citus the
table is spread by it, so that each is one shard's (docs/scaling.md). ``key`` stays as
given until an erasure replaces it.

Revision ID: 0033
Revises: 0032
Create Date: 2026-12-01 13:40:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0033"
down_revision: str | None = "0032"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("event_keys", sa.Column("digest", sa.String(80)))
    op.execute(
        "UPDATE event_keys SET digest = CASE WHEN key LIKE 'erased:%' THEN key "
        "ELSE ch_erased_key(key) END"
    )
    op.alter_column("event_keys", "digest", nullable=False)
    op.drop_constraint("pk_event_keys", "event_keys", type_="primary")
    op.create_primary_key("pk_event_keys", "event_keys", ["scope", "digest"])


def downgrade() -> None:
    op.drop_constraint("pk_event_keys", "event_keys", type_="primary")
    op.create_primary_key("pk_event_keys", "event_keys", ["scope", "key"])
    op.drop_column("event_keys", "digest")
