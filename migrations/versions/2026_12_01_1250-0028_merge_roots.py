"""merge roots: a merged customer keeps the root of its family, where its history lives now

A merge family was found by walking ``merged_into`` (recursive queries), down from a
survivor for its history and up from a merged customer for its survivor. Each merged
customer now holds the end of its chain in ``merge_root`` (null for a customer not
merged, which is its own root), kept by merges and unmerges: a family is the root and
the customers whose ``merge_root`` it is, and a survivor one lookup. Citus does not plan
recursive queries over distributed tables; these are simple filters (docs/scaling.md).
The backfill walks the chains in Python, so that it runs on a distributed ``customers``
as well. The erasure reads its family so too.

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-01 12:50:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0028"
down_revision: str | None = "0027"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The erasure's family, as 0015 wrote it and as it is now.
WALKED_FAMILY = """    WITH RECURSIVE f(id) AS (
        SELECT p_customer
        UNION SELECT c.id FROM customers c JOIN f ON c.merged_into = f.id
    ) SELECT array_agg(id) INTO family FROM f;"""
ROOTED_FAMILY = """    SELECT p_customer || array_agg(id) INTO family FROM customers
     WHERE merge_root = p_customer;"""


def _roots() -> dict[object, object]:
    """Each merged customer and the end of its chain of merges."""
    survivors = dict(
        op.get_bind()
        .execute(sa.text("SELECT id, merged_into FROM customers WHERE merged_into IS NOT NULL"))
        .all()
    )
    roots = {}
    for customer in survivors:
        root, steps = survivors[customer], 0
        while root in survivors and steps < len(survivors):
            root, steps = survivors[root], steps + 1
        roots[customer] = root
    return roots


def _replace_in_erasure(old: str, new: str) -> None:
    definition = op.get_bind().scalar(
        sa.text("SELECT pg_get_functiondef('ch_erase_customer'::regproc)")
    )
    if old not in definition:
        raise RuntimeError("ch_erase_customer is not the function this migration rewrites")
    op.execute(sa.text(definition.replace(old, new)).execution_options(no_parameters=True))


def upgrade() -> None:
    op.add_column("customers", sa.Column("merge_root", sa.Uuid(), nullable=True))
    roots = _roots()
    if roots:
        op.get_bind().execute(
            sa.text(
                "UPDATE customers c SET merge_root = r.root "
                "FROM unnest(:ids, :roots) AS r(id, root) WHERE c.id = r.id"
            ).bindparams(
                sa.bindparam("ids", list(roots), type_=postgresql.ARRAY(sa.Uuid())),
                sa.bindparam("roots", list(roots.values()), type_=postgresql.ARRAY(sa.Uuid())),
            )
        )
    op.create_check_constraint(
        op.f("ck_customers_merge_root"), "customers", "(merge_root IS NULL) = (merged_into IS NULL)"
    )
    op.create_index(
        "ix_customers_merge_root",
        "customers",
        ["merge_root"],
        postgresql_where=sa.text("merge_root IS NOT NULL"),
    )
    _replace_in_erasure(WALKED_FAMILY, ROOTED_FAMILY)


def downgrade() -> None:
    _replace_in_erasure(ROOTED_FAMILY, WALKED_FAMILY)
    op.drop_index("ix_customers_merge_root", table_name="customers")
    op.drop_constraint(op.f("ck_customers_merge_root"), "customers", type_="check")
    op.drop_column("customers", "merge_root")
