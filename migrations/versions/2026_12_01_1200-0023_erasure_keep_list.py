"""erasure keep-list: the payload fields the models mark KEEP

Written by ``python -m migrations.keep_list`` from the marks on the payload models
(app/timeline/payloads.py). Now kept: alert_id, assignee, due_at, task_id, wrap_up_codes. No longer kept: nothing.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-01 11:00:00+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEPT_KEYS = [
    "absorbed_id", "agent", "alert_id", "amount", "assignee", "call_id", "carrier",
    "category", "channel", "content_id", "conversation_id", "corrects_event_id",
    "count", "csat", "currency", "days_overdue", "disposition", "dispute_status",
    "due_at", "due_date", "duration_min", "duration_s", "error_code", "feature",
    "identifiers_moved", "invoice_id", "items", "language", "method", "network", "nps",
    "opportunity_id", "order_id", "payload", "payment_id", "pinned", "priority",
    "probability", "product", "provider", "provider_message_id", "purpose", "qty",
    "queue", "quote_id", "refund_amount", "satisfaction", "sentiment", "sku", "slot",
    "stage", "status", "survey_id", "survivor_id", "task_id", "template", "ticket_id",
    "total", "unit_price", "valid_until", "via", "webinar_id", "wrap_up_codes",
]
PREVIOUS_KEPT_KEYS = [
    "absorbed_id", "agent", "amount", "call_id", "carrier", "category", "channel",
    "content_id", "conversation_id", "corrects_event_id", "count", "csat", "currency",
    "days_overdue", "disposition", "dispute_status", "due_date", "duration_min",
    "duration_s", "error_code", "feature", "identifiers_moved", "invoice_id", "items",
    "language", "method", "network", "nps", "opportunity_id", "order_id", "payload",
    "payment_id", "pinned", "priority", "probability", "product", "provider",
    "provider_message_id", "purpose", "qty", "queue", "quote_id", "refund_amount",
    "satisfaction", "sentiment", "sku", "slot", "stage", "status", "survey_id",
    "survivor_id", "template", "ticket_id", "total", "unit_price", "valid_until", "via",
    "webinar_id",
]

# An object keeps the kept names (each value redacted in turn), a list its non-strings.
REDACT = """
CREATE OR REPLACE FUNCTION ch_redact(doc jsonb) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF jsonb_typeof(doc) = 'object' THEN
        RETURN coalesce((SELECT jsonb_object_agg(k, ch_redact(v))
                         FROM jsonb_each(doc) AS e(k, v)
                         WHERE k IN (KEPT)), '{}'::jsonb);
    ELSIF jsonb_typeof(doc) = 'array' THEN
        RETURN coalesce((SELECT jsonb_agg(ch_redact(v) ORDER BY i)
                         FROM jsonb_array_elements(doc) WITH ORDINALITY AS a(v, i)
                         WHERE jsonb_typeof(v) <> 'string'), '[]'::jsonb);
    END IF;
    RETURN doc;
END
$$
"""


def _redact(keys: list[str]) -> str:
    return REDACT.replace("KEPT", ", ".join(f"'{key}'" for key in keys))


def upgrade() -> None:
    op.execute(_redact(KEPT_KEYS))


def downgrade() -> None:
    op.execute(_redact(PREVIOUS_KEPT_KEYS))
