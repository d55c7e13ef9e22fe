"""customers.contact_owners: the owners of an organisation's live contact persons

Whether an owned-only key misses one of an organisation's contact persons (and so must not
see what they contribute: its stats, alerts, their follow-ups, an incident's count) was a
probe of ``customers`` by ``organization_id`` inside statements about the organisation,
which Citus refused (``0A000: complex joins ...``: customers are distributed by id). The
organisation's own row now lists the owners of its live contact persons, each once,
sorted, an ownerless one as a NULL last; the service writes it again wherever a contact
person joins or leaves an organisation, changes owner, is merged or unmerged
(``customers.queries.keep_contact_owners``). Existing rows are filled here the same way.

Revision ID: 0037
Revises: 0036
Create Date: 2026-12-01 14:20:00+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0037"
down_revision: str | None = "0036"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("ALTER TABLE customers ADD COLUMN contact_owners text[] NOT NULL DEFAULT '{}'")
    # The aggregate is a sub-plan of its own on Citus, joined to the rows by their id.
    op.execute(
        "WITH counted AS (SELECT organization_id AS id, "
        "array_agg(DISTINCT owner_id ORDER BY owner_id) AS owners FROM customers "
        "WHERE organization_id IS NOT NULL AND merged_into IS NULL GROUP BY organization_id) "
        "UPDATE customers c SET contact_owners = counted.owners FROM counted "
        "WHERE c.id = counted.id"
    )


def downgrade() -> None:
    op.execute("ALTER TABLE customers DROP COLUMN contact_owners")
