"""customer stats rows stored as written: no compression below 8 KB

Every batch of events writes a new version of each of its customers' stats rows, whose
state and indicators (two jsonb of about 1.2 KB each as text) passed the 2 KB past which
PostgreSQL compresses a row: each save compressed both with pglz, and each read
decompressed them. With the target at a page's size a row is compressed only past 8 KB:
a fifth less of PostgreSQL's CPU in a 10,000-line bulk batch, for rows about a third
larger (docs/performance.md). Rows are rewritten as stored at their next save.

Revision ID: 0035
Revises: 0034
Create Date: 2026-12-01 14:00:00+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0035"
down_revision: str | None = "0034"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("ALTER TABLE customer_stats SET (toast_tuple_target = 8160)")


def downgrade() -> None:
    op.execute("ALTER TABLE customer_stats RESET (toast_tuple_target)")
