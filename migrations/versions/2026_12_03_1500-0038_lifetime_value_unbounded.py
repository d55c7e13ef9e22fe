"""customer_stats.lifetime_value_base as an unbounded numeric

An order's total holds up to 14 digits before the point (an amount: 18 digits, 4 decimals),
and a customer's lifetime value is the sum of its orders in the base currency: the 101st
order of 99,999,999,999,999.99 passed numeric(18,2)'s 16 digits, and every write that
saved the customer's stats was a 500 (an append, a whole bulk batch, a signed delivery,
which was then lost). The sum is exact, so the column is as wide as it is.

Revision ID: 0038
Revises: 0037
Create Date: 2026-12-03 15:00:00+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0038"
down_revision: str | None = "0037"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("ALTER TABLE customer_stats ALTER COLUMN lifetime_value_base TYPE numeric")


def downgrade() -> None:
    op.execute("ALTER TABLE customer_stats ALTER COLUMN lifetime_value_base TYPE numeric(18, 2)")
