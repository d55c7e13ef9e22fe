"""session_tokens: short-lived tokens a key mints for a browser session

A browser console must not hold a long-lived API key, and the browser's EventSource cannot
send an Authorization header. A key mints a token (``POST /v1/session-tokens``) that acts
as the key until it expires; it is stored only as its SHA-256 with its key's id, and every
request reads it joined to its key, so revoking the key ends its tokens at once in every
process. Tokens go with their key (``ON DELETE CASCADE``); the service's role reads,
inserts and deletes them through the default privileges of 0014.

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-29 23:45:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "session_tokens",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("key_id", sa.Uuid(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["key_id"],
            ["api_keys.id"],
            name=op.f("fk_session_tokens_key_id_api_keys"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_session_tokens")),
    )
    op.create_index(
        "ix_session_tokens_key_id_expires_at", "session_tokens", ["key_id", "expires_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_session_tokens_key_id_expires_at", table_name="session_tokens")
    op.drop_table("session_tokens")
