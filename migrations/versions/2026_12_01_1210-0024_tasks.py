"""tasks: follow-ups on customers, by agents and from alerts

One row per task, keyed by customer as every history table is; at most one task per
alert (the follow-up action runs at every maintenance pass). The service's role reads and
writes it through the default privileges of 0014.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-01 11:10:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "tasks",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("assignee", sa.String(length=200), nullable=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=16), server_default="open", nullable=False),
        sa.Column("snoozed_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("alert_id", sa.Uuid(), nullable=True),
        sa.Column("created_by", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_by", sa.String(length=200), nullable=True),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.CheckConstraint(
            "status IN ('open', 'snoozed', 'done')", name=op.f("ck_tasks_status")
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_tasks_customer_id_customers")
        ),
        sa.PrimaryKeyConstraint("customer_id", "id", name=op.f("pk_tasks")),
    )
    op.create_index("ix_tasks_id", "tasks", ["id"])
    op.create_index(
        "ix_tasks_assignee_status_due_at", "tasks", ["assignee", "status", "due_at"]
    )
    op.create_index(
        "uq_tasks_alert_id",
        "tasks",
        ["customer_id", "alert_id"],
        unique=True,
        postgresql_where=sa.text("alert_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_table("tasks")
