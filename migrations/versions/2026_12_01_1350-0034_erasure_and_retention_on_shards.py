"""the erasure and the retention of events in statements Citus runs: no row locks taken
across shards, no join of two tables spread by different columns

``ch_expire_events`` chose its batch with ``FOR UPDATE SKIP LOCKED`` over the whole table,
which Citus refuses on a table spread over shards: the batch is read without a lock, then
each customer's rows are locked where they live (one shard; a row another transaction
holds is still skipped, left for the next pass) and deleted there, with their keys.
``ch_erase_customer`` removed what wiped deliveries named by joining them
(``delivery_identifiers`` and ``webhook_deliveries``, spread by value and by delivery),
which Citus refuses; it reads the wiped deliveries in a sub-query instead. Both
functions are otherwise as 0030 left them (docs/scaling.md).

Revision ID: 0034
Revises: 0033
Create Date: 2026-12-01 13:50:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0034"
down_revision: str | None = "0033"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

EXPIRE = """
CREATE OR REPLACE FUNCTION ch_expire_events(p_type text, p_before timestamp with time zone, p_limit integer)
 RETURNS TABLE(customer_id uuid, removed bigint)
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
DECLARE
    r record;
    gone uuid[];
BEGIN
    SET LOCAL citus.propagate_set_commands = 'local'; SET LOCAL ch.privileged_maintenance = on;
    -- The batch is read without a lock; then each customer's rows are locked where they
    -- live (a row another transaction holds is skipped, left for the next pass) and
    -- deleted there, with their keys: Citus takes row locks on one shard at a time.
    FOR r IN SELECT d.customer_id, array_agg(d.id) AS ids
               FROM (SELECT e.customer_id, e.id FROM events e
                      WHERE e.type = p_type AND e.occurred_at < p_before
                      LIMIT p_limit) d
              GROUP BY d.customer_id
    LOOP
        WITH locked AS (
            SELECT e.id FROM events e
             WHERE e.customer_id = r.customer_id AND e.id = ANY(r.ids)
             FOR UPDATE SKIP LOCKED
        ), deleted AS (
            DELETE FROM events e USING locked
             WHERE e.customer_id = r.customer_id AND e.id = locked.id
            RETURNING e.id
        ) SELECT array_agg(deleted.id) INTO gone FROM deleted;
        IF gone IS NOT NULL THEN
            DELETE FROM event_keys k WHERE k.event_id = ANY(gone);
            customer_id := r.customer_id;
            removed := cardinality(gone);
            RETURN NEXT;
        END IF;
    END LOOP;
    SET LOCAL ch.privileged_maintenance = off;
END
$function$
"""
# As 0030 left it.
PREVIOUS_EXPIRE = """
CREATE OR REPLACE FUNCTION ch_expire_events(p_type text, p_before timestamp with time zone, p_limit integer)
 RETURNS TABLE(customer_id uuid, removed bigint)
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
        BEGIN
            SET LOCAL citus.propagate_set_commands = 'local'; SET LOCAL ch.privileged_maintenance = on;
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
            SET LOCAL ch.privileged_maintenance = off;
        END
        $function$
"""
# (as 0030 left it, as it is now)
ERASE_CHANGE = (
    "DELETE FROM delivery_identifiers n USING webhook_deliveries d\n"
    "     WHERE n.delivery_id = d.id AND d.erased_at IS NOT NULL;",
    "DELETE FROM delivery_identifiers n WHERE n.delivery_id IN (\n"
    "        SELECT d.id FROM webhook_deliveries d WHERE d.erased_at IS NOT NULL);",
)


def _rewrite(function: str, pairs: Sequence[tuple[str, str]]) -> None:
    definition = op.get_bind().scalar(
        sa.text("SELECT pg_get_functiondef(CAST(:f AS regproc))").bindparams(f=function)
    )
    for old, new in pairs:
        if old not in definition:
            raise RuntimeError(f"{function} is not the function this migration rewrites")
        definition = definition.replace(old, new)
    op.execute(sa.text(definition).execution_options(no_parameters=True))


def upgrade() -> None:
    op.execute(sa.text(EXPIRE).execution_options(no_parameters=True))
    _rewrite("ch_erase_customer", [ERASE_CHANGE])


def downgrade() -> None:
    op.execute(sa.text(PREVIOUS_EXPIRE).execution_options(no_parameters=True))
    _rewrite("ch_erase_customer", [ERASE_CHANGE[::-1]])
