"""privacy: erasure and retention functions, past identifiers

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24 02:45:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Payload keys an erasure keeps: what makes company aggregates true (types, amounts,
# currencies, skus, quantities, statuses, scores, durations, ids of orders and tickets).
# Everything else (names, addresses, phones, emails, subjects, notes, bodies,
# transcripts, urls, comments, free text of custom events) goes.
KEPT_KEYS = sorted(
    {
        "order_id", "ticket_id", "payment_id", "invoice_id", "quote_id", "opportunity_id",
        "survey_id", "content_id", "webinar_id", "conversation_id", "call_id",
        "items", "sku", "qty", "unit_price", "total", "amount", "refund_amount", "currency",
        "status", "stage", "probability", "category", "priority", "dispute_status", "method",
        "csat", "nps", "sentiment", "satisfaction", "network", "product", "feature", "count",
        "days_overdue", "due_date", "valid_until", "carrier", "pinned", "channel", "purpose",
        "queue", "disposition", "duration_s", "duration_min", "agent",
        "survivor_id", "absorbed_id", "identifiers_moved", "corrects_event_id", "payload",
    }
)


def upgrade() -> None:
    op.create_table(
        "past_identifiers",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), sa.ForeignKey("customers.id"), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("value", sa.String(320), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "removed_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name="pk_past_identifiers"),
    )
    op.create_index("ix_past_identifiers_customer_id", "past_identifiers", ["customer_id"])
    op.add_column(
        "webhook_deliveries", sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True)
    )
    kept = ", ".join(f"'{k}'" for k in KEPT_KEYS)
    op.execute(
        f"""
        CREATE FUNCTION ch_redact(doc jsonb) RETURNS jsonb
        LANGUAGE plpgsql IMMUTABLE AS $$
        BEGIN
            IF jsonb_typeof(doc) = 'object' THEN
                RETURN coalesce((SELECT jsonb_object_agg(k, ch_redact(v))
                                 FROM jsonb_each(doc) AS e(k, v)
                                 WHERE k IN ({kept})), '{{}}'::jsonb);
            ELSIF jsonb_typeof(doc) = 'array' THEN
                RETURN coalesce((SELECT jsonb_agg(ch_redact(v) ORDER BY i)
                                 FROM jsonb_array_elements(doc) WITH ORDINALITY AS a(v, i)
                                 WHERE jsonb_typeof(v) <> 'string'), '[]'::jsonb);
            END IF;
            RETURN doc;
        END
        $$
        """
    )
    # The erasure: the one path past the append-only guard for a customer's history.
    op.execute(
        """
        CREATE FUNCTION ch_erase_customer(
            p_customer uuid, p_event uuid, p_reason text, p_requested_at timestamptz
        ) RETURNS jsonb
        LANGUAGE plpgsql AS $$
        DECLARE
            family uuid[];
            needles text[];
            done timestamptz;
            n_events int;
            n_deliveries int;
            n_identifiers int;
        BEGIN
            SELECT recorded_at INTO done FROM events
             WHERE customer_id = p_customer AND type = 'customer.erased'
             ORDER BY recorded_at LIMIT 1;
            IF FOUND THEN
                RETURN jsonb_build_object('erased_at', done, 'already_erased', true,
                    'events_redacted', 0, 'deliveries_redacted', 0, 'identifiers_removed', 0);
            END IF;
            WITH RECURSIVE f(id) AS (
                SELECT p_customer
                UNION SELECT c.id FROM customers c JOIN f ON c.merged_into = f.id
            ) SELECT array_agg(id) INTO family FROM f;
            -- What identifies the customer inside raw bodies: emails (also URL-encoded)
            -- and phones (also without the +, as form posts and caller ids carry them).
            SELECT array_agg(DISTINCT spelled.s) INTO needles FROM (
                SELECT lower(value) AS n FROM customer_identifiers
                 WHERE customer_id = ANY(family) AND kind IN ('email', 'phone')
                UNION SELECT lower(value) FROM past_identifiers
                 WHERE customer_id = ANY(family) AND kind IN ('email', 'phone')
            ) AS v CROSS JOIN LATERAL (
                VALUES (v.n), (replace(v.n, '@', '%40')), (ltrim(v.n, '+'))
            ) AS spelled(s);

            PERFORM set_config('ch.privileged_maintenance', 'on', true);
            UPDATE webhook_deliveries d
               SET body = ''::bytea, headers = '{}'::jsonb, url = split_part(d.url, '?', 1),
                   error = NULL, erased_at = now()
             WHERE d.erased_at IS NULL
               AND (d.id IN (SELECT e.delivery_id FROM events e
                              WHERE e.customer_id = ANY(family) AND e.delivery_id IS NOT NULL)
                    OR EXISTS (SELECT 1 FROM unnest(needles) AS needle
                                WHERE position(needle IN lower(encode(d.body, 'escape'))) > 0));
            GET DIAGNOSTICS n_deliveries = ROW_COUNT;
            UPDATE events
               SET payload = ch_redact(payload), actor = NULL,
                   summary = initcap(replace(replace(type, '.', ' '), '_', ' '))
             WHERE customer_id = ANY(family);
            GET DIAGNOSTICS n_events = ROW_COUNT;
            PERFORM set_config('ch.privileged_maintenance', 'off', true);

            DELETE FROM customer_identifiers WHERE customer_id = ANY(family);
            GET DIAGNOSTICS n_identifiers = ROW_COUNT;
            DELETE FROM past_identifiers WHERE customer_id = ANY(family);
            UPDATE customer_consents SET evidence = NULL WHERE customer_id = ANY(family);
            UPDATE customers
               SET display_name = 'Erased customer', given_name = NULL, family_name = NULL,
                   job_title = NULL, legal_name = NULL, website = NULL, address = NULL,
                   preferences = NULL, attributes = '{}'::jsonb, tags = '{}',
                   status = 'erased', version = version + 1, updated_at = now()
             WHERE id = ANY(family);
            INSERT INTO events (id, customer_id, type, occurred_at, channel, source, summary,
                                payload)
            VALUES (p_event, p_customer, 'customer.erased', now(), 'system', 'privacy',
                    'Personal data was erased',
                    jsonb_strip_nulls(jsonb_build_object(
                        'reason', p_reason, 'requested_at', p_requested_at)));
            RETURN jsonb_build_object('erased_at', now(), 'already_erased', false,
                'events_redacted', n_events, 'deliveries_redacted', n_deliveries,
                'identifiers_removed', n_identifiers);
        END
        $$
        """
    )
    # Retention: the one path that deletes events, in bounded batches that skip rows
    # another transaction holds. Returns whose history shrank, and by how much.
    op.execute(
        """
        CREATE FUNCTION ch_expire_events(p_type text, p_before timestamptz, p_limit int)
        RETURNS TABLE (customer_id uuid, removed bigint)
        LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM set_config('ch.privileged_maintenance', 'on', true);
            RETURN QUERY
            WITH doomed AS (
                SELECT e.id FROM events e
                 WHERE e.type = p_type AND e.occurred_at < p_before
                 LIMIT p_limit FOR UPDATE SKIP LOCKED
            ), keys AS (
                DELETE FROM event_keys k USING doomed WHERE k.event_id = doomed.id
            ), gone AS (
                DELETE FROM events e USING doomed WHERE e.id = doomed.id
                RETURNING e.customer_id
            ) SELECT gone.customer_id, count(*) FROM gone GROUP BY gone.customer_id;
            PERFORM set_config('ch.privileged_maintenance', 'off', true);
        END
        $$
        """
    )


def downgrade() -> None:
    op.execute("DROP FUNCTION ch_expire_events(text, timestamptz, int)")
    op.execute("DROP FUNCTION ch_erase_customer(uuid, uuid, text, timestamptz)")
    op.execute("DROP FUNCTION ch_redact(jsonb)")
    op.drop_column("webhook_deliveries", "erased_at")
    op.drop_index("ix_past_identifiers_customer_id", table_name="past_identifiers")
    op.drop_table("past_identifiers")
