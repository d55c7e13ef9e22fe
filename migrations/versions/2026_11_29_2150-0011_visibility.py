"""visibility: supervisors, who acknowledged an alert, merged customers follow their survivor's
owner, and every change of who may see what is notified

A merged customer is part of its survivor's history, so it belongs to the survivor's
owner (the merge remembers its own, which an unmerge gives back): an owned-only key then
sees a merged customer exactly when it sees where it was merged, and never follows a merge
to a customer it cannot see. Open alerts go with their customer to a new owner. Streams
re-check their access when a key is revoked or a customer's owner, status or merge changes:
triggers notify `ch_access` on commit, whoever makes the change.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-29 22:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "api_keys",
        sa.Column("supervisor", sa.Boolean(), server_default="false", nullable=False),
    )
    # An admin key reaches operations that span every customer (reports, raw deliveries,
    # incidents): it cannot be restricted to some, so such a key is refused, and any
    # created before is revoked rather than left seeing everything.
    op.execute(
        "UPDATE api_keys SET revoked_at = now() "
        "WHERE role = 'admin' AND owned_only AND revoked_at IS NULL"
    )
    op.create_check_constraint(
        op.f("ck_api_keys_admin_sees_all"),
        "api_keys",
        "revoked_at IS NOT NULL OR NOT (owned_only AND role = 'admin')",
    )
    op.add_column("alerts", sa.Column("acknowledged_by_key_id", sa.Uuid()))
    op.add_column("customer_merges", sa.Column("absorbed_owner_id", sa.String(200)))
    op.execute(
        "UPDATE customer_merges m SET absorbed_owner_id = c.owner_id FROM customers c "
        "WHERE c.id = m.absorbed_id AND m.unmerged_at IS NULL"
    )
    op.execute(
        """
        WITH RECURSIVE chain(id, survivor, depth) AS (
            SELECT id, merged_into, 1 FROM customers WHERE merged_into IS NOT NULL
            UNION ALL
            SELECT chain.id, c.merged_into, chain.depth + 1
            FROM chain JOIN customers c ON c.id = chain.survivor
            WHERE c.merged_into IS NOT NULL AND chain.depth < 100
        ), ends AS (
            SELECT DISTINCT ON (id) id, survivor FROM chain ORDER BY id, depth DESC
        )
        UPDATE customers c SET owner_id = s.owner_id
        FROM ends JOIN customers s ON s.id = ends.survivor
        WHERE c.id = ends.id AND c.owner_id IS DISTINCT FROM s.owner_id
        """
    )
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
    op.execute(
        """
        CREATE FUNCTION ch_api_key_access_changed() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('ch_access', 'key:' || OLD.id::text);
            RETURN NULL;
        END $$;
        """
    )
    op.execute(
        "CREATE TRIGGER api_keys_access_changed "
        "AFTER UPDATE OF revoked_at, role, owned_only, agent_id OR DELETE ON api_keys "
        "FOR EACH ROW EXECUTE FUNCTION ch_api_key_access_changed()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER api_keys_access_changed ON api_keys")
    op.execute("DROP FUNCTION ch_api_key_access_changed()")
    op.execute("DROP TRIGGER customers_access_changed ON customers")
    op.execute("DROP FUNCTION ch_customer_access_changed()")
    # Merged customers get back the owners they had when they were merged.
    op.execute(
        "UPDATE customers c SET owner_id = m.absorbed_owner_id FROM customer_merges m "
        "WHERE m.absorbed_id = c.id AND m.unmerged_at IS NULL AND c.status = 'merged'"
    )
    op.drop_column("customer_merges", "absorbed_owner_id")
    op.drop_column("alerts", "acknowledged_by_key_id")
    op.drop_constraint(op.f("ck_api_keys_admin_sees_all"), "api_keys", type_="check")
    op.drop_column("api_keys", "supervisor")
