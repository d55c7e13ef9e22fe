"""incidents: membership is the ``incident:<id>`` flag the rules keep on each customer's
stats, so the table of members frozen at declaration and the stored count go; the
template an incident messages is kept, for the customers who join it later

Members of open incidents keep their flags; the next evaluation of each (the maintenance
pass evaluates every flagged customer) moves them by the matcher. Downgrade rebuilds the
members table from the flags.

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-01 12:30:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_table("incident_customers")
    op.drop_column("incidents", "affected")
    op.add_column("incidents", sa.Column("message_template", sa.String(length=80), nullable=True))


def downgrade() -> None:
    op.drop_column("incidents", "message_template")
    op.add_column(
        "incidents", sa.Column("affected", sa.Integer(), server_default="0", nullable=False)
    )
    op.create_table(
        "incident_customers",
        sa.Column("incident_id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_incident_customers_customer_id_customers"),
        ),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_incident_customers_incident_id_incidents"),
        ),
        sa.PrimaryKeyConstraint("incident_id", "customer_id", name=op.f("pk_incident_customers")),
    )
    op.execute(
        "INSERT INTO incident_customers (incident_id, customer_id) "
        "SELECT i.id, s.customer_id FROM incidents i JOIN customer_stats s "
        "ON s.flags @> ARRAY['incident:' || i.id::text]"
    )
    op.execute(
        "UPDATE incidents i SET affected = "
        "(SELECT count(*) FROM incident_customers m WHERE m.incident_id = i.id)"
    )
