"""customer_stats.reevaluate_at: when time alone next changes a customer's indicators

Stored indicators (the value segment and churn risk that segment queries filter on, the
flags routing reads) are derived as of the instant of the last evaluation; some change
with time alone (a purchase growing old enough to make the customer `at_risk`, a contact
leaving the 90 days). Each evaluation now stores the next such instant, and the
maintenance pass evaluates again the customers whose instant has come. Rows stored
before are due at once, so that the first pass after the upgrade brings every stored
segment up to date (in transactions of 500 customers).

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-29 23:30:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "customer_stats", sa.Column("reevaluate_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.execute("UPDATE customer_stats SET reevaluate_at = now() WHERE state <> '{}'::jsonb")
    op.create_index(
        "ix_customer_stats_reevaluate_at",
        "customer_stats",
        ["reevaluate_at"],
        unique=False,
        postgresql_where=sa.text("reevaluate_at IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index(
        "ix_customer_stats_reevaluate_at",
        table_name="customer_stats",
        postgresql_where=sa.text("reevaluate_at IS NOT NULL"),
    )
    op.drop_column("customer_stats", "reevaluate_at")
