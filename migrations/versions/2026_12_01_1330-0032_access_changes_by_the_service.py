"""a customer's change of owner, status or merge is followed and notified by the service,
not by a trigger

``customers_access_changed`` (migration 0011) gave a new owner to the customers merged
into the changed one and to its open alerts, and notified ``ch_access``. On Citus it
cannot run: it changes other customers' rows, which live on other shards, and its
notification would be sent on the worker that holds the shard, where nobody listens
(docs/scaling.md). The service's changes of a customer (a profile's owner, a merge, an
unmerge, an erasure) now do both in the change's transaction
(``app/customers/queries.py``, ``access_changed``); a change made by hand is no longer
followed nor notified.

Revision ID: 0032
Revises: 0031
Create Date: 2026-12-01 13:30:00+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0032"
down_revision: str | None = "0031"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("DROP TRIGGER customers_access_changed ON customers")
    op.execute("DROP FUNCTION ch_customer_access_changed()")


def downgrade() -> None:
    # As migration 0011 made them.
    op.execute(
        """
        CREATE FUNCTION ch_customer_access_changed() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            IF OLD.owner_id IS DISTINCT FROM NEW.owner_id THEN
                -- customers merged into this one follow it (each one's own trigger
                -- carries it down the chain), and so do its alerts still open
                UPDATE customers SET owner_id = NEW.owner_id
                WHERE merged_into = NEW.id AND owner_id IS DISTINCT FROM NEW.owner_id;
                UPDATE alerts SET owner_id = NEW.owner_id
                WHERE customer_id = NEW.id AND cleared_at IS NULL;
            END IF;
            PERFORM pg_notify('ch_access', 'customer:' || NEW.id::text);
            RETURN NULL;
        END $$;
        """
    )
    op.execute(
        "CREATE TRIGGER customers_access_changed "
        "AFTER UPDATE OF owner_id, status, merged_into ON customers FOR EACH ROW "
        "WHEN (OLD.owner_id IS DISTINCT FROM NEW.owner_id OR OLD.status IS DISTINCT FROM "
        "NEW.status OR OLD.merged_into IS DISTINCT FROM NEW.merged_into) "
        "EXECUTE FUNCTION ch_customer_access_changed()"
    )
