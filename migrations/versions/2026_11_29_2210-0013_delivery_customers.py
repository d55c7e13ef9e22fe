"""privacy covers every copy: which customers each delivery concerns; keys kept hashed;
an index for searching customers by the start of an email

Ingestion records, for every raw delivery (failed ones included), the customers it
concerns, so that an export and an erasure find deliveries by that link instead of
searching bodies for an email or a phone (a national-format phone, a name or an address
were missed). An erasure now also replaces the idempotency keys of the customer's events
(``event_keys.key``, ``events.source_event_id``: a platform's id may spell an email) by
their hash, ``ch_erased_key``, which claims and look-ups compare as well: a platform's
retry of an erased fact is still a duplicate.

``GET /v1/customers?q=zz@`` searches emails by their start: a range in byte order on
``ix_customer_identifiers_email_prefix`` (docs/performance.md).

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-29 22:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ERASED_KEY = """
CREATE FUNCTION ch_erased_key(key text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT 'erased:' || encode(sha256(convert_to(key, 'UTF8')), 'hex')
$$
"""

# The erasure. Differences from 0007: deliveries are found by delivery_customers (not by
# searching bodies), an erased delivery stops awaiting, and the keys of the family's
# events are replaced by their hash.
ERASE = """
CREATE OR REPLACE FUNCTION ch_erase_customer(
    p_customer uuid, p_event uuid, p_reason text, p_requested_at timestamptz
) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    family uuid[];
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

    PERFORM set_config('ch.privileged_maintenance', 'on', true);
    UPDATE webhook_deliveries d
       SET body = ''::bytea, headers = '{}'::jsonb, url = split_part(d.url, '?', 1),
           error = NULL, awaits_scope = NULL, awaits_key = NULL, erased_at = now()
     WHERE d.erased_at IS NULL
       AND d.id IN (SELECT l.delivery_id FROM delivery_customers l
                     WHERE l.customer_id = ANY(family));
    GET DIAGNOSTICS n_deliveries = ROW_COUNT;
    -- A key may spell an email or a phone: only its hash is kept, which claims compare
    -- too, so that a retry of an erased fact is still a duplicate.
    UPDATE event_keys k SET key = ch_erased_key(k.key)
     WHERE k.key NOT LIKE 'erased:%'
       AND k.event_id IN (SELECT e.id FROM events e WHERE e.customer_id = ANY(family));
    UPDATE events
       SET payload = ch_redact(payload), actor = NULL,
           summary = initcap(replace(replace(type, '.', ' '), '_', ' ')),
           source_event_id = CASE WHEN source_event_id LIKE 'erased:%' THEN source_event_id
                                  ELSE ch_erased_key(source_event_id) END
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

# The body of 0007, restored by the downgrade.
PREVIOUS_ERASE = """
CREATE OR REPLACE FUNCTION ch_erase_customer(
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

# Deliveries stored before the link existed: those that produced events concern those
# events' customers; a failed one concerns whoever owns an email address in its body.
BACKFILL = """
INSERT INTO delivery_customers (customer_id, delivery_id)
SELECT DISTINCT e.customer_id, e.delivery_id FROM events e WHERE e.delivery_id IS NOT NULL
UNION
SELECT DISTINCT i.customer_id, d.id
  FROM webhook_deliveries d
 CROSS JOIN LATERAL regexp_matches(
       replace(lower(encode(d.body, 'escape')), '%40', '@'),
       '[a-z0-9._%+-]+@[a-z0-9.-]+\\.[a-z]{2,}', 'g') AS m(found)
  JOIN customer_identifiers i ON i.kind = 'email' AND i.value = m.found[1]
 WHERE d.status = 'failed' AND d.erased_at IS NULL
ON CONFLICT DO NOTHING
"""


def upgrade() -> None:
    op.create_table(
        "delivery_customers",
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("delivery_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_delivery_customers_customer_id_customers"),
        ),
        sa.PrimaryKeyConstraint("customer_id", "delivery_id", name=op.f("pk_delivery_customers")),
    )
    op.create_index("ix_delivery_customers_delivery_id", "delivery_customers", ["delivery_id"])
    op.execute(BACKFILL)
    op.execute(ERASED_KEY)
    op.execute(ERASE)
    # Built without blocking the identifiers that ingestion keeps adding.
    with op.get_context().autocommit_block():
        op.execute(
            "CREATE INDEX CONCURRENTLY ix_customer_identifiers_email_prefix "
            "ON customer_identifiers (value text_pattern_ops) WHERE kind = 'email'"
        )


def downgrade() -> None:
    op.execute("DROP INDEX ix_customer_identifiers_email_prefix")
    op.execute(PREVIOUS_ERASE)
    op.execute("DROP FUNCTION ch_erased_key(text)")
    op.drop_index("ix_delivery_customers_delivery_id", table_name="delivery_customers")
    op.drop_table("delivery_customers")
