"""customers: the aggregate, identifiers and consents

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 00:35:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SEARCH_TEXT_SQL = (
    "ch_unaccent(lower(coalesce(display_name, '') || ' ' || coalesce(given_name, '') || ' ' "
    "|| coalesce(family_name, '') || ' ' || coalesce(legal_name, '')))"
)


def upgrade() -> None:
    # unaccent() is STABLE (its dictionary could change); pinning the dictionary makes an
    # IMMUTABLE wrapper that a generated column and an index may use.
    op.execute(
        """
        CREATE FUNCTION ch_unaccent(text) RETURNS text
        LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
        AS $$ SELECT public.unaccent('public.unaccent'::regdictionary, $1) $$
        """
    )
    op.create_table(
        "customers",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("display_name", sa.String(length=300), nullable=False),
        sa.Column("given_name", sa.String(length=200), nullable=True),
        sa.Column("family_name", sa.String(length=200), nullable=True),
        sa.Column("job_title", sa.String(length=200), nullable=True),
        sa.Column("organization_id", sa.Uuid(), nullable=True),
        sa.Column("legal_name", sa.String(length=300), nullable=True),
        sa.Column("sector", sa.String(length=100), nullable=True),
        sa.Column("size_band", sa.String(length=20), nullable=True),
        sa.Column("revenue_band", sa.String(length=50), nullable=True),
        sa.Column("website", sa.String(length=500), nullable=True),
        sa.Column("address", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("preferred_language", sa.String(length=35), nullable=True),
        sa.Column("tier", sa.String(length=16), server_default="standard", nullable=False),
        sa.Column("owner_id", sa.String(length=200), nullable=True),
        sa.Column("tags", postgresql.ARRAY(sa.Text()), server_default="{}", nullable=False),
        sa.Column(
            "attributes", postgresql.JSONB(astext_type=sa.Text()), server_default="{}",
            nullable=False,
        ),
        sa.Column("preferences", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("status", sa.String(length=16), server_default="active", nullable=False),
        sa.Column("unverified", sa.Boolean(), server_default="false", nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.Column(
            "search_text", sa.Text(), sa.Computed(SEARCH_TEXT_SQL, persisted=True), nullable=False
        ),
        sa.CheckConstraint("kind IN ('person', 'organization')", name=op.f("ck_customers_kind")),
        sa.CheckConstraint("tier IN ('standard', 'premium', 'vip')", name=op.f("ck_customers_tier")),
        sa.CheckConstraint(
            "status IN ('active', 'merged', 'erased')", name=op.f("ck_customers_status")
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"], ["customers.id"],
            name=op.f("fk_customers_organization_id_customers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customers")),
    )
    op.create_index(
        "ix_customers_search_text_trgm", "customers", ["search_text"], postgresql_using="gin",
        postgresql_ops={"search_text": "gin_trgm_ops"},
    )
    op.create_index("ix_customers_owner_id", "customers", ["owner_id"])
    op.create_index("ix_customers_organization_id", "customers", ["organization_id"])
    op.create_index("ix_customers_tags", "customers", ["tags"], postgresql_using="gin")

    op.create_table(
        "customer_identifiers",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("value", sa.String(length=320), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint(
            "kind IN ('phone', 'email', 'external')", name=op.f("ck_customer_identifiers_kind")
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"],
            name=op.f("fk_customer_identifiers_customer_id_customers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_identifiers")),
        sa.UniqueConstraint("kind", "value", name="uq_customer_identifiers_kind_value"),
    )
    op.create_index(
        "ix_customer_identifiers_customer_id", "customer_identifiers", ["customer_id"]
    )

    op.create_table(
        "customer_consents",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("granted", sa.Boolean(), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("evidence", sa.Text(), nullable=True),
        sa.Column(
            "recorded_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint(
            "channel IN ('email', 'phone', 'sms', 'whatsapp', 'post')",
            name=op.f("ck_customer_consents_channel"),
        ),
        sa.CheckConstraint(
            "purpose IN ('marketing', 'service', 'profiling')",
            name=op.f("ck_customer_consents_purpose"),
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"],
            name=op.f("fk_customer_consents_customer_id_customers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_consents")),
    )
    op.create_index(
        "ix_customer_consents_customer_id_recorded_at", "customer_consents",
        ["customer_id", "recorded_at"],
    )


def downgrade() -> None:
    op.drop_table("customer_consents")
    op.drop_table("customer_identifiers")
    op.drop_table("customers")
    op.execute("DROP FUNCTION ch_unaccent(text)")
