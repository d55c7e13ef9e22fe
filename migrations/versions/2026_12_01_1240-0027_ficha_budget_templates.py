"""fichas: the built-in templates that keep a rich customer's card to its size budget

Each job's template shows what the job needs once: support its tickets in ``tickets``
only (no more in ``open_items`` nor as ``ticket.*`` interactions), its flags without the
alerts repeated; sales its purchases and quotes; collections its collections; and so on
(docs/api.md, "The size budget"). A template is updated only where it still holds the
previous default: one an admin changed is theirs.

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-01 12:40:00+00:00
"""

import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0027"
down_revision: str | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies: later changes to the defaults in code do not rewrite history.
_BASE = [{"name": "identity"}, {"name": "indicators"}, {"name": "flags"}]
PREVIOUS: dict[str, list[dict[str, Any]]] = {
    "support": [
        *_BASE,
        {"name": "open_items"},
        {"name": "tickets", "limit": 5, "open_only": False},
        {
            "name": "recent_interactions",
            "limit": 10,
            "types": ["call.*", "email.*", "chat.*", "ticket.*"],
        },
        {"name": "preferences"},
        {"name": "pinned_notes", "limit": 5},
        {"name": "alerts", "limit": 5},
    ],
    "sales": [
        *_BASE,
        {"name": "purchases", "limit": 5},
        {"name": "sales_series", "interval": "quarter"},
        {"name": "opportunities_and_quotes", "limit": 5},
        {"name": "preferences"},
        {"name": "contacts", "limit": 10},
    ],
    "collections": [
        *_BASE,
        {"name": "collections", "limit": 10},
        {"name": "open_items"},
        {"name": "preferences"},
    ],
    "tech_support": [
        *_BASE,
        {"name": "tickets", "limit": 10, "open_only": True},
        {"name": "behaviour", "limit": 10},
        {"name": "recent_interactions", "limit": 5, "types": ["ticket.*", "call.*", "chat.*"]},
        {"name": "pinned_notes", "limit": 5},
    ],
    "marketing": [
        *_BASE,
        {"name": "behaviour", "limit": 10},
        {"name": "consents"},
        {"name": "segments"},
        {"name": "preferences"},
    ],
    "community": [
        *_BASE,
        {"name": "recent_interactions", "limit": 10, "types": ["social.*", "survey.*", "chat.*"]},
        {"name": "consents"},
        {"name": "preferences"},
    ],
}
BUDGETED: dict[str, list[dict[str, Any]]] = {
    "support": [
        *_BASE,
        {"name": "tickets", "limit": 5, "open_only": False},
        {"name": "recent_interactions", "limit": 5, "types": ["call.*", "email.*", "chat.*"]},
        {"name": "pinned_notes", "limit": 5},
    ],
    "sales": [
        *_BASE,
        {"name": "purchases", "limit": 5},
        {"name": "opportunities_and_quotes", "limit": 5},
        {"name": "contacts", "limit": 10},
    ],
    "collections": [*_BASE, {"name": "collections", "limit": 10}],
    "tech_support": [
        *_BASE,
        {"name": "tickets", "limit": 10, "open_only": True},
        {"name": "behaviour", "limit": 5},
        {"name": "recent_interactions", "limit": 5, "types": ["call.*", "chat.*"]},
        {"name": "pinned_notes", "limit": 5},
    ],
    "marketing": [
        *_BASE,
        {"name": "behaviour", "limit": 5},
        {"name": "consents"},
        {"name": "segments"},
        {"name": "preferences"},
    ],
    "community": [
        *_BASE,
        {"name": "recent_interactions", "limit": 10, "types": ["social.*", "survey.*", "chat.*"]},
        {"name": "consents"},
    ],
}


def _replace(old: dict[str, list[dict[str, Any]]], new: dict[str, list[dict[str, Any]]]) -> None:
    """Each role's template from ``old`` to ``new``, where it still holds ``old``."""
    for role, sections in new.items():
        op.execute(
            sa.text(
                "UPDATE ficha_templates SET sections = CAST(:new AS jsonb), updated_at = now() "
                "WHERE role = :role AND sections = CAST(:old AS jsonb)"
            ).bindparams(role=role, new=json.dumps(sections), old=json.dumps(old[role]))
        )


def upgrade() -> None:
    _replace(PREVIOUS, BUDGETED)


def downgrade() -> None:
    _replace(BUDGETED, PREVIOUS)
