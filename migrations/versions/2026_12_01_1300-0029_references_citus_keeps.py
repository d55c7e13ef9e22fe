"""references Citus keeps: the foreign keys between tables that will not share a node go

On Citus (docs/scaling.md) a foreign key holds between two distributed tables joined on
their shard columns, or to a table copied to every node; it refuses the rest. So the
references of this kind are kept by the service's one write path for each instead of by
the database, on one PostgreSQL as on the cluster (one schema):

- ``customers.merged_into`` and ``customers.organization_id`` name other customers, on
  other shards: a merge sets the first on a survivor it holds locked; a profile names an
  organisation only once it is found active (``_check_organization``);
- ``customer_identifiers.customer_id``: identifiers are spread by their value, not their
  customer: they are written beside a customer that exists (its creation, its own
  routes, a merge between two locked customers, the unknown callers' statement that
  creates both);
- ``customer_merges`` (copied to every node) names its survivor and the absorbed customer,
  both locked by the merge that writes it.

No customer is ever deleted but the unknown callers a concurrent writer created first,
which nothing references yet.

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-01 13:00:00+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0029"
down_revision: str | None = "0028"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, column): each references customers (id).
REFERENCES = (
    ("customers", "merged_into"),
    ("customers", "organization_id"),
    ("customer_identifiers", "customer_id"),
    ("customer_merges", "survivor_id"),
    ("customer_merges", "absorbed_id"),
)


def upgrade() -> None:
    for table, column in REFERENCES:
        op.drop_constraint(op.f(f"fk_{table}_{column}_customers"), table, type_="foreignkey")


def downgrade() -> None:
    for table, column in REFERENCES:
        op.create_foreign_key(
            op.f(f"fk_{table}_{column}_customers"), table, "customers", [column], ["id"]
        )
