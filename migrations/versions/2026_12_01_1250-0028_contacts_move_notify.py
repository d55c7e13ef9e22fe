"""an organisation's contact persons joining or leaving it are notified, so its open
streams re-check what they carry

An organisation's live stream carries its contact persons' events: a contact person
created in it, or moved into or out of it, changes that, so `ch_access` hears
`customer:<organisation>` (each organisation concerned) on commit, as it hears a change of
owner, status or merge, and the organisation's open streams check their view again.

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-01 12:50:00+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0028"
down_revision: str | None = "0027"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        """
        CREATE FUNCTION ch_contact_moved() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'UPDATE' AND OLD.organization_id IS NOT NULL THEN
                PERFORM pg_notify('ch_access', 'customer:' || OLD.organization_id::text);
            END IF;
            IF NEW.organization_id IS NOT NULL THEN
                PERFORM pg_notify('ch_access', 'customer:' || NEW.organization_id::text);
            END IF;
            RETURN NULL;
        END $$;
        """
    )
    op.execute(
        "CREATE TRIGGER customers_contact_moved "
        "AFTER UPDATE OF organization_id ON customers FOR EACH ROW "
        "WHEN (OLD.organization_id IS DISTINCT FROM NEW.organization_id) "
        "EXECUTE FUNCTION ch_contact_moved()"
    )
    op.execute(
        "CREATE TRIGGER customers_contact_created "
        "AFTER INSERT ON customers FOR EACH ROW "
        "WHEN (NEW.organization_id IS NOT NULL) "
        "EXECUTE FUNCTION ch_contact_moved()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER customers_contact_created ON customers")
    op.execute("DROP TRIGGER customers_contact_moved ON customers")
    op.execute("DROP FUNCTION ch_contact_moved()")
