"""the changes processes keep copies of are notified by the service, not by triggers

Templates, policies, text rules, keys and session tokens are kept by every process until
a change is notified (``app/core/notify.py``). Triggers sent those notifications; on
Citus they cannot: it runs no trigger on a reference table (templates, policies, rules,
keys are copied to every node), and a trigger on a shard of a distributed table (session
tokens) notifies the worker, where nobody listens. The repository that makes each change
now sends its notification in the change's transaction, on commit as before; a change
made by hand (psql) is no longer notified, and is seen once the processes restart or
their LISTEN connection is lost.

Revision ID: 0031
Revises: 0030
Create Date: 2026-12-01 13:20:00+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0031"
down_revision: str | None = "0030"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (function, what it notifies, (trigger, table, when)...), as 0008, 0011, 0021 and 0025
# made them.
STATEMENT = "AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE"
TRIGGERS = (
    (
        "ch_ficha_templates_changed",
        "'ch_ficha_templates', ''",
        (("ficha_templates_changed", "ficha_templates", STATEMENT, "STATEMENT"),),
    ),
    (
        "ch_text_rules_changed",
        "'ch_text_rules', ''",
        (("text_rules_changed", "text_rules", STATEMENT, "STATEMENT"),),
    ),
    (
        "ch_policies_changed",
        "'ch_policies', ''",
        (("policies_changed", "policies", STATEMENT, "STATEMENT"),),
    ),
    (
        "ch_api_keys_changed",
        "'ch_api_keys', ''",
        (
            ("api_keys_changed", "api_keys", STATEMENT, "STATEMENT"),
            ("session_tokens_changed", "session_tokens", STATEMENT, "STATEMENT"),
        ),
    ),
    (
        "ch_api_key_access_changed",
        "'ch_access', 'key:' || OLD.id::text",
        (
            (
                "api_keys_access_changed",
                "api_keys",
                "AFTER UPDATE OF revoked_at, role, owned_only, agent_id OR DELETE",
                "ROW",
            ),
        ),
    ),
)


def upgrade() -> None:
    for function, _, triggers in TRIGGERS:
        for name, table, _, _ in triggers:
            op.execute(f"DROP TRIGGER {name} ON {table}")
        op.execute(f"DROP FUNCTION {function}()")


def downgrade() -> None:
    for function, notified, triggers in TRIGGERS:
        op.execute(
            f"CREATE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN PERFORM pg_notify({notified}); RETURN NULL; END $$"
        )
        for name, table, when, level in triggers:
            op.execute(
                f"CREATE TRIGGER {name} {when} ON {table} "
                f"FOR EACH {level} EXECUTE FUNCTION {function}()"
            )
