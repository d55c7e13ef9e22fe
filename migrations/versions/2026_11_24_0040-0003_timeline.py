"""timeline: append-only events, idempotency keys, merges

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 00:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("customers", sa.Column("merged_into", sa.Uuid(), nullable=True))
    op.create_foreign_key(
        op.f("fk_customers_merged_into_customers"), "customers", "customers", ["merged_into"], ["id"]
    )
    op.create_index("ix_customers_merged_into", "customers", ["merged_into"])

    op.create_table(
        "events",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("type", sa.String(length=100), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "recorded_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("direction", sa.String(length=16), nullable=True),
        sa.Column("source", sa.String(length=100), nullable=False),
        sa.Column("source_event_id", sa.String(length=300), nullable=True),
        sa.Column("actor", sa.String(length=200), nullable=True),
        sa.Column("summary", sa.String(length=280), nullable=False),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("corrects_id", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_events_customer_id_customers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
    )
    op.create_index(
        "ix_events_customer_timeline",
        "events",
        ["customer_id", sa.text("occurred_at DESC"), sa.text("id DESC")],
    )
    op.create_index("ix_events_customer_recorded", "events", ["customer_id", "recorded_at"])
    op.create_index(
        "ix_events_corrects_id", "events", ["corrects_id"],
        postgresql_where=sa.text("corrects_id IS NOT NULL"),
    )
    # The history is append-only: the database itself refuses UPDATE, DELETE and TRUNCATE.
    # Only privileged maintenance (privacy erasure, retention) may pass, by setting
    # ch.privileged_maintenance for its own transaction.
    op.execute(
        """
        CREATE FUNCTION events_are_append_only() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            IF current_setting('ch.privileged_maintenance', true) = 'on' THEN
                IF TG_LEVEL = 'STATEMENT' THEN RETURN NULL; END IF;
                IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
                RETURN NEW;
            END IF;
            RAISE EXCEPTION 'events are append-only: % on % refused', TG_OP, TG_TABLE_NAME
                USING ERRCODE = 'insufficient_privilege',
                      HINT = 'Append an event.corrected event instead.';
        END
        $$
        """
    )
    op.execute(
        "CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events "
        "FOR EACH ROW EXECUTE FUNCTION events_are_append_only()"
    )
    op.execute(
        "CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events "
        "FOR EACH STATEMENT EXECUTE FUNCTION events_are_append_only()"
    )

    op.create_table(
        "event_keys",
        sa.Column("scope", sa.String(length=200), nullable=False),
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("scope", "key", name=op.f("pk_event_keys")),
    )

    op.create_table(
        "customer_merges",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("survivor_id", sa.Uuid(), nullable=False),
        sa.Column("absorbed_id", sa.Uuid(), nullable=False),
        sa.Column("identifier_ids", postgresql.ARRAY(sa.Uuid()), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=True),
        sa.Column(
            "merged_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("unmerged_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["absorbed_id"], ["customers.id"], name=op.f("fk_customer_merges_absorbed_id_customers")
        ),
        sa.ForeignKeyConstraint(
            ["survivor_id"], ["customers.id"], name=op.f("fk_customer_merges_survivor_id_customers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_merges")),
    )
    op.create_index(
        "ix_customer_merges_survivor_absorbed", "customer_merges", ["survivor_id", "absorbed_id"]
    )


def downgrade() -> None:
    op.drop_table("customer_merges")
    op.drop_table("event_keys")
    op.execute("DROP TABLE events")
    op.execute("DROP FUNCTION events_are_append_only()")
    op.drop_index("ix_customers_merged_into", table_name="customers")
    op.drop_constraint(op.f("fk_customers_merged_into_customers"), "customers", type_="foreignkey")
    op.drop_column("customers", "merged_into")
