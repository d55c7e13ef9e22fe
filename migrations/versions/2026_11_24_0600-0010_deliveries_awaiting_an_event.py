"""webhook deliveries: the event a failed delivery waits for

A delivery that names an event not recorded yet (a Shopify refund before its order, a
Stripe dispute before its payment) fails and keeps the key of that event; when a later
delivery stores it, the waiting delivery is replayed in the same transaction.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-24 06:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("webhook_deliveries", sa.Column("awaits_scope", sa.String(200)))
    op.add_column("webhook_deliveries", sa.Column("awaits_key", sa.String(300)))
    # Built without blocking the deliveries that keep arriving while the service migrates.
    with op.get_context().autocommit_block():
        op.create_index(
            "ix_webhook_deliveries_awaits",
            "webhook_deliveries",
            ["awaits_scope", "awaits_key"],
            postgresql_where=sa.text("awaits_key IS NOT NULL"),
            postgresql_concurrently=True,
        )


def downgrade() -> None:
    op.drop_index("ix_webhook_deliveries_awaits", table_name="webhook_deliveries")
    op.drop_column("webhook_deliveries", "awaits_key")
    op.drop_column("webhook_deliveries", "awaits_scope")
