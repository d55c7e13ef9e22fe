"""text analyses beside their events, and the text rules an admin edits

``text_analyses``: one row per event whose customer text was analysed (an e-mail
received, a chat, a mention, a survey comment, a ticket, a call's notes or transcript),
keyed like its event and deleted with it (retention); the event itself never changes.
``terms`` holds the words that matched (personal text: an erasure sets it to null).

``text_rules``: the one rules document the service analyses with, seeded with the rules
of 2026-11-29 (a frozen copy, ``migrations/data/text_rules_2026-11-29.json``: later
changes to the code's defaults do not rewrite a deployment's rules). A trigger notifies
every committed change on ``ch_text_rules``, so that processes drop their compiled
copies, as for the ficha templates (0008).

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-01 10:00:00+00:00
"""

from collections.abc import Sequence
from pathlib import Path

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SEED = Path(__file__).parent.parent / "data" / "text_rules_2026-11-29.json"


def upgrade() -> None:
    op.create_table(
        "text_rules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("document", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("id = 1", name=op.f("ck_text_rules_one_document")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_text_rules")),
    )
    op.execute(
        sa.text(
            "INSERT INTO text_rules (id, document) VALUES (1, CAST(:document AS jsonb))"
        ).bindparams(document=SEED.read_text(encoding="utf-8"))
    )
    op.execute(
        """
        CREATE FUNCTION ch_text_rules_changed() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('ch_text_rules', '');
            RETURN NULL;
        END $$;
        """
    )
    op.execute(
        "CREATE TRIGGER text_rules_changed "
        "AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON text_rules "
        "FOR EACH STATEMENT EXECUTE FUNCTION ch_text_rules_changed()"
    )
    op.create_table(
        "text_analyses",
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("analyser_version", sa.String(length=100), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=True),
        sa.Column("sentiment", sa.String(length=10), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("urgency", sa.String(length=10), nullable=False),
        sa.Column("reasons", postgresql.ARRAY(sa.String(length=40)), nullable=False),
        sa.Column("intents", postgresql.ARRAY(sa.String(length=40)), nullable=False),
        sa.Column("abusive", sa.Boolean(), nullable=False),
        sa.Column("terms", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column(
            "analysed_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["customer_id", "occurred_at", "event_id"],
            ["events.customer_id", "events.occurred_at", "events.id"],
            name=op.f("fk_text_analyses_customer_id_events"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "customer_id", "occurred_at", "event_id", name=op.f("pk_text_analyses")
        ),
    )
    op.create_index("ix_text_analyses_occurred_at", "text_analyses", ["occurred_at"])
    op.create_index("ix_text_analyses_event_id", "text_analyses", ["event_id"])


def downgrade() -> None:
    op.drop_index("ix_text_analyses_event_id", table_name="text_analyses")
    op.drop_index("ix_text_analyses_occurred_at", table_name="text_analyses")
    op.drop_table("text_analyses")
    op.execute("DROP TRIGGER text_rules_changed ON text_rules")
    op.execute("DROP FUNCTION ch_text_rules_changed()")
    op.drop_table("text_rules")
