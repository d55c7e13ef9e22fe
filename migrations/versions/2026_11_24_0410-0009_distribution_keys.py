"""distribution keys: every per-customer table keyed by customer first

Each table that holds one customer's history gets a primary key that starts with
customer_id (events: customer_id, occurred_at, id), so the tables can be sharded by
customer (Citus) and events split into monthly range partitions without changing a key.
Tables unique on something else are keyed by that: identifiers by (kind, value),
webhook deliveries by (source, delivery_id). Lookups by id alone keep an index.
See docs/scaling.md.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-24 04:10:00+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _rekey(table: str, columns: list[str]) -> None:
    op.drop_constraint(f"pk_{table}", table, type_="primary")
    op.create_primary_key(f"pk_{table}", table, columns)


def upgrade() -> None:
    # events: the key is also the timeline's index (read backwards, newest first)
    _rekey("events", ["customer_id", "occurred_at", "id"])
    op.drop_index("ix_events_customer_timeline", table_name="events")
    op.create_index("ix_events_id", "events", ["id"])

    _rekey("alerts", ["customer_id", "id"])
    op.drop_index("ix_alerts_customer_id", table_name="alerts")
    op.create_index("ix_alerts_id", "alerts", ["id"])

    _rekey("access_log", ["customer_id", "id"])
    _rekey("customer_consents", ["customer_id", "id"])
    _rekey("past_identifiers", ["customer_id", "id"])
    op.drop_index("ix_past_identifiers_customer_id", table_name="past_identifiers")

    op.drop_constraint(
        "uq_customer_identifiers_kind_value", "customer_identifiers", type_="unique"
    )
    _rekey("customer_identifiers", ["kind", "value"])

    op.drop_constraint(
        "uq_webhook_deliveries_source_delivery_id", "webhook_deliveries", type_="unique"
    )
    _rekey("webhook_deliveries", ["source", "delivery_id"])
    op.create_index("ix_webhook_deliveries_id", "webhook_deliveries", ["id"])


def downgrade() -> None:
    op.drop_index("ix_webhook_deliveries_id", table_name="webhook_deliveries")
    _rekey("webhook_deliveries", ["id"])
    op.create_unique_constraint(
        "uq_webhook_deliveries_source_delivery_id", "webhook_deliveries", ["source", "delivery_id"]
    )

    _rekey("customer_identifiers", ["id"])
    op.create_unique_constraint(
        "uq_customer_identifiers_kind_value", "customer_identifiers", ["kind", "value"]
    )

    op.create_index("ix_past_identifiers_customer_id", "past_identifiers", ["customer_id"])
    _rekey("past_identifiers", ["id"])
    _rekey("customer_consents", ["id"])
    _rekey("access_log", ["id"])

    op.drop_index("ix_alerts_id", table_name="alerts")
    op.create_index("ix_alerts_customer_id", "alerts", ["customer_id"])
    _rekey("alerts", ["id"])

    op.drop_index("ix_events_id", table_name="events")
    op.execute(
        "CREATE INDEX ix_events_customer_timeline ON events (customer_id, occurred_at DESC, id DESC)"
    )
    _rekey("events", ["id"])
