"""keys, session tokens and policies: every committed change is notified, so processes
drop the callers and policies they keep

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-01 11:00:00+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (channel, tables): a trigger per table, as 0008 did for the ficha templates.
NOTIFIED = (
    ("ch_api_keys", ("api_keys", "session_tokens")),
    ("ch_policies", ("policies",)),
)


def upgrade() -> None:
    for channel, tables in NOTIFIED:
        op.execute(
            f"""
            CREATE FUNCTION {channel}_changed() RETURNS trigger
            LANGUAGE plpgsql AS $$
            BEGIN
                PERFORM pg_notify('{channel}', '');
                RETURN NULL;
            END $$;
            """
        )
        for table in tables:
            op.execute(
                f"CREATE TRIGGER {table}_changed "
                "AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON " + table + " "
                f"FOR EACH STATEMENT EXECUTE FUNCTION {channel}_changed()"
            )


def downgrade() -> None:
    for channel, tables in NOTIFIED:
        for table in tables:
            op.execute(f"DROP TRIGGER {table}_changed ON {table}")
        op.execute(f"DROP FUNCTION {channel}_changed()")
