"""the service's role: what it may do, and a guard no session setting turns off

The service connects as a login that is a member of ``ch_service`` (app/core/roles.py),
not as the owner of the tables. ``ch_service`` may read and write every table but may not
UPDATE, DELETE or TRUNCATE ``events`` or ``event_keys``, nor change ``alembic_version``;
tables created by later migrations get its grants by default. The erasure and the
retention of events run as SECURITY DEFINER functions of the owner (the role running
this migration), and the append-only guard lets a change through only when the current
role owns the table and the function said so for its transaction: ``SET
ch.privileged_maintenance`` alone, which any session may set, no longer passes it.

Roles are cluster-wide: ``ch_service`` is created only when missing (another database
of the same server may share it) and the downgrade leaves it in place.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-29 22:30:00+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ROLE = "ch_service"
PRIVILEGED = (
    "ch_erase_customer(uuid, uuid, text, timestamptz)",
    "ch_expire_events(text, timestamptz, int)",
)

ENSURE_ROLE = f"""
DO $$ BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{ROLE}') THEN
        CREATE ROLE {ROLE} NOLOGIN;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
END $$
"""

GUARD = """
CREATE OR REPLACE FUNCTION events_are_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- Only the owner of the table passes, and only when it said so for its transaction:
    -- the erasure and retention functions run as the owner (SECURITY DEFINER) and say so.
    -- A session setting alone proves nothing, since any role may set it.
    IF current_setting('ch.privileged_maintenance', true) = 'on'
       AND current_user = (SELECT pg_get_userbyid(relowner) FROM pg_class
                            WHERE oid = TG_RELID) THEN
        IF TG_LEVEL = 'STATEMENT' THEN RETURN NULL; END IF;
        IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'events are append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'Append an event.corrected event instead.';
END
$$
"""

PREVIOUS_GUARD = """
CREATE OR REPLACE FUNCTION events_are_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('ch.privileged_maintenance', true) = 'on' THEN
        IF TG_LEVEL = 'STATEMENT' THEN RETURN NULL; END IF;
        IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'events are append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'Append an event.corrected event instead.';
END
$$
"""


def upgrade() -> None:
    op.execute(ENSURE_ROLE)
    op.execute(f"GRANT USAGE ON SCHEMA public TO {ROLE}")
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {ROLE}")
    op.execute(f"REVOKE UPDATE, DELETE ON events, event_keys FROM {ROLE}")
    op.execute(f"REVOKE INSERT, UPDATE, DELETE ON alembic_version FROM {ROLE}")
    op.execute(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {ROLE}")
    op.execute(
        "ALTER DEFAULT PRIVILEGES IN SCHEMA public "
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {ROLE}"
    )
    op.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {ROLE}")
    op.execute(GUARD)
    for function in PRIVILEGED:
        # pg_catalog first and pg_temp last: the caller cannot shadow what they call.
        op.execute(
            f"ALTER FUNCTION {function} SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp"
        )
        op.execute(f"REVOKE EXECUTE ON FUNCTION {function} FROM PUBLIC")
        op.execute(f"GRANT EXECUTE ON FUNCTION {function} TO {ROLE}")


def downgrade() -> None:
    for function in PRIVILEGED:
        op.execute(f"REVOKE EXECUTE ON FUNCTION {function} FROM {ROLE}")
        op.execute(f"GRANT EXECUTE ON FUNCTION {function} TO PUBLIC")
        op.execute(f"ALTER FUNCTION {function} SECURITY INVOKER RESET search_path")
    op.execute(PREVIOUS_GUARD)
    op.execute(
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE USAGE, SELECT ON SEQUENCES FROM {ROLE}"
    )
    op.execute(
        "ALTER DEFAULT PRIVILEGES IN SCHEMA public "
        f"REVOKE SELECT, INSERT, UPDATE, DELETE ON TABLES FROM {ROLE}"
    )
    op.execute(f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {ROLE}")
    op.execute(f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {ROLE}")
    op.execute(f"REVOKE USAGE ON SCHEMA public FROM {ROLE}")
