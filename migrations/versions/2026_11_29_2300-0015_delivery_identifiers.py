"""failed deliveries name identifiers, for whoever holds them later; retention as the owner

A delivery that failed recorded no event and created no customer; it was linked
(``delivery_customers``) only to customers who held the identifiers it named when it
failed. A sender who became a customer afterwards (by the API, by a later delivery) never
found it: their export left it out and their erasure left its body, their email and
phone in it, in place. ``delivery_identifiers`` keeps the normalised identifiers every
failed delivery names, held or not, grouped by the person (customer reference) they name;
the erasure wipes the deliveries that name any of the
family's identifiers, current or past (and drops what a wiped delivery named), and the
export shows them, without body or error when they name someone else too. A kept payload
field (an id, a sku, a status) that spells one of the family's identifiers becomes its
hash (``ch_scrub``).

Retention runs as the owner (``customer-history retention run``): the service's role may
no longer execute ``ch_expire_events``, which deletes every event of a type before a time,
whatever the arguments (one statement emptied the history of every order). The erasure is
the one privileged function the service calls. Since only retention removes them, the
service may no longer rewrite or delete the access log (who read which customer), nor
delete raw deliveries or what links them to customers.

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-29 23:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

EXPIRE = "ch_expire_events(text, timestamptz, int)"
# Removed by retention alone (as the owner), never by the service.
RECORDS = "webhook_deliveries, delivery_customers, delivery_identifiers"

# A kept payload field (an id, a sku, a status) that spells one of the customer's
# identifiers is personal data all the same: it becomes its hash, distinct values staying
# distinct (the stats rebuilt after an erasure tell orders apart by their ids).
SCRUB = """
CREATE FUNCTION ch_scrub(doc jsonb, texts text[], digits text[]) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF jsonb_typeof(doc) = 'object' THEN
        RETURN (SELECT coalesce(jsonb_object_agg(k, ch_scrub(v, texts, digits)), '{}'::jsonb)
                  FROM jsonb_each(doc) AS e(k, v));
    ELSIF jsonb_typeof(doc) = 'array' THEN
        RETURN (SELECT coalesce(jsonb_agg(ch_scrub(v, texts, digits) ORDER BY i), '[]'::jsonb)
                  FROM jsonb_array_elements(doc) WITH ORDINALITY AS a(v, i));
    ELSIF jsonb_typeof(doc) = 'string' AND (
            EXISTS (SELECT FROM unnest(texts) AS t(n) WHERE strpos(lower(doc #>> '{}'), n) > 0)
            OR EXISTS (SELECT FROM unnest(digits) AS d(n)
                        WHERE strpos(regexp_replace(doc #>> '{}', '[^0-9]', '', 'g'), n) > 0)) THEN
        RETURN to_jsonb(ch_erased_key(doc #>> '{}'));
    END IF;
    RETURN doc;
END
$$
"""

# The erasure. Differences from 0013 (with 0014's attributes): deliveries are found by the
# identifiers they named, too, and kept payload fields are scrubbed of the identifiers.
ERASE = """CREATE OR REPLACE FUNCTION ch_erase_customer(
    p_customer uuid, p_event uuid, p_reason text, p_requested_at timestamptz
) RETURNS jsonb
LANGUAGE plpgsql
-- As 0014 made it: the owner's rights, and a search path the caller cannot shadow.
SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
    family uuid[];
    texts text[];
    digits text[];
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

    -- What spells the family's identifiers, current and past, in a kept payload field:
    -- emails and external ids (lower-case), phones by their last 8 digits, whatever the
    -- spelling around them.
    SELECT coalesce(array_agg(DISTINCT lower(i.value)) FILTER (WHERE i.kind <> 'phone'), '{}'),
           coalesce(array_agg(DISTINCT right(regexp_replace(i.value, '[^0-9]', '', 'g'), 8))
                    FILTER (WHERE i.kind = 'phone'), '{}')
      INTO texts, digits
      FROM (SELECT kind, value FROM customer_identifiers WHERE customer_id = ANY(family)
            UNION SELECT kind, value FROM past_identifiers WHERE customer_id = ANY(family)) i;

    PERFORM set_config('ch.privileged_maintenance', 'on', true);
    UPDATE webhook_deliveries d
       SET body = ''::bytea, headers = '{}'::jsonb, url = split_part(d.url, '?', 1),
           error = NULL, awaits_scope = NULL, awaits_key = NULL, erased_at = now()
     WHERE d.erased_at IS NULL
       AND (d.id IN (SELECT l.delivery_id FROM delivery_customers l
                      WHERE l.customer_id = ANY(family))
            OR d.id IN (SELECT n.delivery_id FROM delivery_identifiers n
                          JOIN (SELECT kind, value FROM customer_identifiers
                                 WHERE customer_id = ANY(family)
                                UNION SELECT kind, value FROM past_identifiers
                                 WHERE customer_id = ANY(family)) i
                            ON (n.kind, n.value) = (i.kind, i.value)));
    GET DIAGNOSTICS n_deliveries = ROW_COUNT;
    -- What a wiped delivery named goes with its body.
    DELETE FROM delivery_identifiers n USING webhook_deliveries d
     WHERE n.delivery_id = d.id AND d.erased_at IS NOT NULL;
    -- A key may spell an email or a phone: only its hash is kept, which claims compare
    -- too, so that a retry of an erased fact is still a duplicate.
    UPDATE event_keys k SET key = ch_erased_key(k.key)
     WHERE k.key NOT LIKE 'erased:%'
       AND k.event_id IN (SELECT e.id FROM events e WHERE e.customer_id = ANY(family));
    UPDATE events
       SET payload = ch_scrub(ch_redact(payload), texts, digits), actor = NULL,
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

# The body of 0013 with the attributes 0014 gave it, restored by the downgrade.
PREVIOUS_ERASE = """CREATE OR REPLACE FUNCTION ch_erase_customer(
    p_customer uuid, p_event uuid, p_reason text, p_requested_at timestamptz
) RETURNS jsonb
LANGUAGE plpgsql
-- As 0014 made it: the owner's rights, and a search path the caller cannot shadow.
SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp
AS $$
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


def upgrade() -> None:
    op.create_table(
        "delivery_identifiers",
        sa.Column("delivery_id", sa.Uuid(), nullable=False),
        sa.Column("person", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("value", sa.String(length=320), nullable=False),
        sa.PrimaryKeyConstraint(
            "delivery_id", "person", "kind", "value", name=op.f("pk_delivery_identifiers")
        ),
    )
    op.create_index("ix_delivery_identifiers_kind_value", "delivery_identifiers", ["kind", "value"])
    op.execute(SCRUB)
    op.execute(ERASE)
    op.execute(f"REVOKE EXECUTE ON FUNCTION {EXPIRE} FROM ch_service")
    op.execute("REVOKE UPDATE, DELETE ON access_log FROM ch_service")
    op.execute(f"REVOKE DELETE ON {RECORDS} FROM ch_service")
    op.execute("REVOKE UPDATE ON delivery_identifiers FROM ch_service")


def downgrade() -> None:
    op.execute(f"GRANT DELETE ON {RECORDS} TO ch_service")
    op.execute("GRANT UPDATE, DELETE ON access_log TO ch_service")
    op.execute(f"GRANT EXECUTE ON FUNCTION {EXPIRE} TO ch_service")
    op.execute(PREVIOUS_ERASE)
    op.execute("DROP FUNCTION ch_scrub(jsonb, text[], text[])")
    op.drop_index("ix_delivery_identifiers_kind_value", table_name="delivery_identifiers")
    op.drop_table("delivery_identifiers")
