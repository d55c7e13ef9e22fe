"""Write the migration that gives the erasure the keep-list the payload models mark.

    .venv/bin/python -m migrations.keep_list

Each payload field is marked KEEP or ERASE on its model (``app/timeline/payloads.py``);
the database's ``ch_redact``, which an erasure runs over every payload, keeps the fields
whose names are on its list. A mark reaches the database only through a migration, and
this writes it: numbered after the newest, holding the list as the marks make it now and,
for its downgrade, the list it replaces (each migration a frozen copy, so that a later
mark never rewrites an applied one). Run it when ``tests/privacy/test_keep_list.py``
says that the installed list and the marks differ.
"""

import textwrap
from datetime import UTC, datetime
from pathlib import Path

from alembic.script import ScriptDirectory

from app.core.migrations import alembic_config
from app.timeline.catalog import erasure_keep_list

MIGRATIONS = Path(__file__).resolve().parent

TEMPLATE = '''"""erasure keep-list: the payload fields the models mark KEEP

Written by ``python -m migrations.keep_list`` from the marks on the payload models
(app/timeline/payloads.py). Now kept: {added}. No longer kept: {dropped}.

Revision ID: {revision}
Revises: {down_revision}
Create Date: {created}
"""

from collections.abc import Sequence

from alembic import op

revision: str = "{revision}"
down_revision: str | None = "{down_revision}"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEPT_KEYS = {kept}
PREVIOUS_KEPT_KEYS = {previous}

# An object keeps the kept names (each value redacted in turn), a list its non-strings.
REDACT = """
CREATE OR REPLACE FUNCTION ch_redact(doc jsonb) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF jsonb_typeof(doc) = 'object' THEN
        RETURN coalesce((SELECT jsonb_object_agg(k, ch_redact(v))
                         FROM jsonb_each(doc) AS e(k, v)
                         WHERE k IN (KEPT)), '{{}}'::jsonb);
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
    return REDACT.replace("KEPT", ", ".join(f"'{{key}}'" for key in keys))


def upgrade() -> None:
    op.execute(_redact(KEPT_KEYS))


def downgrade() -> None:
    op.execute(_redact(PREVIOUS_KEPT_KEYS))
'''


def installed(script: ScriptDirectory) -> tuple[str, list[str]]:
    """The newest revision, and the keep-list of the newest migration that installs one."""
    head = script.get_current_head()
    assert head is not None, "no migrations"
    for revision in script.walk_revisions():
        kept = getattr(revision.module, "KEPT_KEYS", None)
        if kept is not None:
            return head, sorted(kept)
    raise LookupError("no migration installs a keep-list (0007 does)")


def _literal(keys: list[str]) -> str:
    lines = textwrap.wrap(", ".join(f'"{key}"' for key in keys) + ",", 84)
    return "[\n" + "".join(f"    {line}\n" for line in lines) + "]"


def write_migration(location: Path = MIGRATIONS, now: datetime | None = None) -> Path:
    """Write the migration that installs the keep-list of the marks as they are, into the
    migrations at ``location``; its path."""
    config = alembic_config()
    config.set_main_option("script_location", str(location))
    script = ScriptDirectory.from_config(config)
    head, previous = installed(script)
    kept = erasure_keep_list()
    now = now or datetime.now(UTC)
    revision = f"{int(head) + 1:04d}"
    path = Path(script.versions) / f"{now:%Y_%m_%d_%H%M}-{revision}_erasure_keep_list.py"
    path.write_text(
        TEMPLATE.format(
            added=", ".join(sorted(set(kept) - set(previous))) or "nothing new",
            dropped=", ".join(sorted(set(previous) - set(kept))) or "nothing",
            revision=revision,
            down_revision=head,
            created=f"{now:%Y-%m-%d %H:%M:%S+00:00}",
            kept=_literal(kept),
            previous=_literal(previous),
        )
    )
    return path


if __name__ == "__main__":
    print(write_migration())
