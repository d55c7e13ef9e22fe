"""the erasure's own writes all made by the erasure function: one role per transaction

``ch_erase_customer`` runs as the table owner (SECURITY DEFINER); the service then wiped
the words of the customer's text analyses, forgot its messages, announced
``customer.erased`` and notified the access change as its own login, in the same
transaction. Citus holds one connection per user to each shard, and a shard one user
changed cannot be read or changed over another user's connection in that transaction
(``25001``): the erasure failed on a cluster. The function now makes those writes too, so
that every personal datum goes in one transaction by one role; the service rebuilds the
stats afterwards in a transaction of its own (docs/privacy.md, docs/scaling.md).

Revision ID: 0036
Revises: 0035
Create Date: 2026-12-01 14:10:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0036"
down_revision: str | None = "0035"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Where the new statements go: before the receipt of a first erasure.
RECEIPT = "    RETURN jsonb_build_object('erased_at', now(), 'already_erased', false,"
# What the service did as its login until now (text.erase_terms, messages.forget,
# outbox.announce, customers.erased), as statements of the owner. The outbox row is
# written only when an enabled subscription wants the fact (app.outbox.queries.wanted);
# the channel is app.core.security.ACCESS_CHANNEL, the payload as customers.queries
# sends it.
REST = """    -- The words its messages' analyses matched (labels and scores stay); its messages
    -- keep their status and channel only, queued ones are cancelled, their callback
    -- links stop working.
    UPDATE text_analyses SET terms = NULL
     WHERE customer_id = ANY(family) AND terms IS NOT NULL;
    UPDATE messages
       SET fields = '{}'::jsonb, reason = NULL, callback_token = NULL,
           status = CASE WHEN status = 'queued' THEN 'cancelled' ELSE status END,
           status_at = now()
     WHERE customer_id = ANY(family);
    INSERT INTO outbox (kind, customer_id, subject_id)
    SELECT 'customer.erased', p_customer, p_event
     WHERE EXISTS (SELECT FROM webhook_subscriptions s WHERE s.enabled
                    AND s.kinds && ARRAY['customer.erased', 'customer.*']);
    -- Whoever watches these customers (a live timeline) hears that their status changed.
    PERFORM pg_notify('ch_access', 'customer:' || member::text) FROM unnest(family) member;
"""


def _rewrite(function: str, pairs: Sequence[tuple[str, str]]) -> None:
    definition = op.get_bind().scalar(
        sa.text("SELECT pg_get_functiondef(CAST(:f AS regproc))").bindparams(f=function)
    )
    for old, new in pairs:
        if definition.count(old) != 1:
            raise RuntimeError(f"{function} is not the function this migration rewrites")
        definition = definition.replace(old, new)
    op.execute(sa.text(definition).execution_options(no_parameters=True))


def upgrade() -> None:
    _rewrite("ch_erase_customer", [(RECEIPT, REST + RECEIPT)])


def downgrade() -> None:
    _rewrite("ch_erase_customer", [(REST + RECEIPT, RECEIPT)])
