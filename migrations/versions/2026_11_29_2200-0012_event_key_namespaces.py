"""event keys: each writer has its own namespace

Until now an event key's scope was the event's free-text ``source``, so any writer could
claim a platform's keys first, and owned-only keys met other owners' keys. From now on
(``app.timeline.sources``): a platform's webhook source and unrestricted API keys keep
bare ``<source>`` scopes (API keys may no longer name a platform), the generic webhook
source writes under ``generic/<source>``, an owned-only key under
``owner/<sha256 of agent id>/<source>``, and the ``Idempotency-Key`` header under
``key/<API key id>`` (was ``idempotency-key:<API key id>``, a scope any source name could
reach). The rows already stored move where their writer now looks, so that a retry after
the upgrade is still a duplicate:

- header keys are renamed (not rows whose own event is named like the scope: those were
  written under that source name by an API key, and stay);
- the keys of events that came from a webhook delivery under a name that is not a
  platform's were the generic source's: they move to ``generic/``, and so does the key a
  failed generic delivery awaits;
- the keys of other API events on a customer with an owner are copied into that owner's
  namespace (who wrote them is not recorded: an owned-only key of that owner may have).

Keys stored under a platform's name by an API key or the generic source stay where they
are: a planted key and a legitimate backfill of a platform's history look the same.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-29 22:00:00+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The webhook sources of this version that speak for a platform (every one but generic),
# and the names the service writes itself.
PLATFORMS = (
    "twilio",
    "aircall",
    "sendgrid-inbound",
    "sendgrid-events",
    "mailgun",
    "postmark",
    "shopify",
    "woocommerce",
    "stripe",
)
RESERVED = (*PLATFORMS, "generic", "customer-history", "privacy")


def _names(names: Sequence[str]) -> str:
    return ", ".join(f"'{n}'" for n in names)


def upgrade() -> None:
    op.execute(
        "UPDATE event_keys k SET scope = 'key/' || substr(k.scope, 17) "
        "WHERE k.scope LIKE 'idempotency-key:%' AND NOT EXISTS "
        "(SELECT FROM events e WHERE e.id = k.event_id AND e.source = k.scope)"
    )
    op.execute(
        "UPDATE event_keys k SET scope = 'generic/' || k.scope FROM events e "
        "WHERE e.id = k.event_id AND e.source = k.scope AND e.delivery_id IS NOT NULL "
        f"AND k.scope NOT IN ({_names(PLATFORMS)}) AND position('/' IN k.scope) = 0"
    )
    op.execute(
        "UPDATE webhook_deliveries SET awaits_scope = 'generic/' || awaits_scope "
        "WHERE source = 'generic' AND awaits_scope IS NOT NULL "
        f"AND awaits_scope NOT IN ({_names(PLATFORMS)}) AND position('/' IN awaits_scope) = 0"
    )
    op.execute(
        "INSERT INTO event_keys (scope, key, event_id, request_hash, created_at) "
        "SELECT 'owner/' || encode(sha256(convert_to(c.owner_id, 'UTF8')), 'hex') || '/' "
        "|| k.scope, k.key, k.event_id, k.request_hash, k.created_at "
        "FROM event_keys k JOIN events e ON e.id = k.event_id AND e.source = k.scope "
        "JOIN customers c ON c.id = e.customer_id "
        "WHERE e.delivery_id IS NULL AND c.owner_id IS NOT NULL "
        f"AND k.scope NOT IN ({_names(RESERVED)}) AND position('/' IN k.scope) = 0 "
        "ON CONFLICT DO NOTHING"
    )


def _back(pattern: str, bare: str) -> None:
    """Every key of a namespace back to its old scope (unless one is there already)."""
    op.execute(
        "INSERT INTO event_keys (scope, key, event_id, request_hash, created_at) "
        f"SELECT {bare}, key, event_id, request_hash, created_at FROM event_keys "
        f"WHERE scope LIKE '{pattern}' ON CONFLICT DO NOTHING"
    )
    op.execute(f"DELETE FROM event_keys WHERE scope LIKE '{pattern}'")


def downgrade() -> None:
    _back("owner/%", "regexp_replace(scope, '^owner/[0-9a-f]*/', '')")
    _back("generic/%", "substr(scope, 9)")
    _back("key/%", "'idempotency-key:' || substr(scope, 5)")
    op.execute(
        "UPDATE webhook_deliveries SET awaits_scope = substr(awaits_scope, 9) "
        "WHERE awaits_scope LIKE 'generic/%'"
    )
