"""ficha templates: every committed change is notified, so processes drop their cached copies

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-24 04:00:00+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A trigger rather than a NOTIFY next to each write: whoever changes the table (the
    # API, a migration, someone in psql), the notification goes out when it commits.
    op.execute(
        """
        CREATE FUNCTION ch_ficha_templates_changed() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('ch_ficha_templates', '');
            RETURN NULL;
        END $$;
        """
    )
    op.execute(
        "CREATE TRIGGER ficha_templates_changed "
        "AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON ficha_templates "
        "FOR EACH STATEMENT EXECUTE FUNCTION ch_ficha_templates_changed()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER ficha_templates_changed ON ficha_templates")
    op.execute("DROP FUNCTION ch_ficha_templates_changed()")
