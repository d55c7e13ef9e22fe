"""The erasure keeps exactly the payload fields the models mark KEEP (docs/extending.md,
"An event type"): no new field is erased, or kept, without anyone deciding it."""

import asyncio
import json
import re
import shutil
from pathlib import Path
from typing import Annotated

import asyncpg
import pytest
from alembic import command

from app.core.db import plain_url
from app.core.migrations import alembic_config
from app.timeline.catalog import (
    CATALOG,
    Channel,
    EventType,
    UnclassifiedPayload,
    erasure_keep_list,
    payload_models,
)
from app.timeline.payloads import ERASE, KEEP, Payload, Short
from migrations.keep_list import write_migration


def _every_field_name() -> set[str]:
    """Every payload field's JSON name (the probe of what the database keeps)."""
    return {f.alias or n for m in payload_models() for n, f in m.model_fields.items()}


async def _installed_list(url: str) -> list[str]:
    """What the database's ``ch_redact`` keeps of an object holding every field name of
    the payload models and every name on its own list."""
    conn = await asyncpg.connect(plain_url(url))
    try:
        definition = await conn.fetchval(
            "SELECT pg_get_functiondef('ch_redact(jsonb)'::regprocedure)"
        )
        listed = re.search(r"WHERE k IN \(([^)]*)\)", definition)
        assert listed, "ch_redact keeps the names listed in `WHERE k IN (...)`"
        names = _every_field_name() | set(re.findall(r"'(\w+)'", listed[1]))
        kept = await conn.fetchval(
            "SELECT ch_redact($1::jsonb)::text", json.dumps(dict.fromkeys(names, 1))
        )
        return sorted(json.loads(kept))
    finally:
        await conn.close()


def test_the_installed_keep_list_is_what_the_payload_models_mark(database_url: str) -> None:
    installed, marked = asyncio.run(_installed_list(database_url)), erasure_keep_list()
    assert installed == marked, (
        f"erased although marked KEEP: {sorted(set(marked) - set(installed))}; "
        f"kept although not marked KEEP: {sorted(set(installed) - set(marked))}. "
        "Write the migration with `.venv/bin/python -m migrations.keep_list`."
    )


def _add_type(monkeypatch: pytest.MonkeyPatch, payload: type[Payload]) -> None:
    """A new event type in the catalog while the test runs."""
    entry = EventType("loyalty.earned", payload, Channel.SYSTEM, "Loyalty points were earned")
    monkeypatch.setitem(CATALOG, entry.name, entry)


class Unmarked(Payload):
    points: Short | None = None


class MarkedTwice(Payload):
    status: Annotated[Short | None, ERASE] = None  # kept in orders and tickets


def test_a_field_without_a_mark_or_marked_both_ways_is_named(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    erasure_keep_list()  # every field of the catalog is marked, one way per name
    _add_type(monkeypatch, Unmarked)
    with pytest.raises(UnclassifiedPayload, match=r"Unmarked\.points is marked neither"):
        erasure_keep_list()
    _add_type(monkeypatch, MarkedTwice)
    with pytest.raises(UnclassifiedPayload, match="'status' is kept in one payload and erased"):
        erasure_keep_list()


class Loyalty(Payload):
    points: Annotated[int, KEEP]
    reward: Annotated[Short | None, ERASE] = None


def test_the_written_migration_installs_the_marks_and_its_downgrade_the_list_before(
    tmp_path: Path, scratch_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The recipe's step, done on a copy of the migrations: a new kept field reaches the
    database through the migration the generator writes."""
    migrations = tmp_path / "migrations"
    shutil.copytree(Path(alembic_config().get_main_option("script_location") or ""), migrations)
    config = alembic_config(scratch_url)
    config.set_main_option("script_location", str(migrations))
    command.upgrade(config, "head")
    before = asyncio.run(_installed_list(scratch_url))
    _add_type(monkeypatch, Loyalty)
    assert "points" in erasure_keep_list() and "reward" not in erasure_keep_list()

    assert write_migration(migrations).parent == migrations / "versions"
    command.upgrade(config, "head")
    assert asyncio.run(_installed_list(scratch_url)) == erasure_keep_list()
    command.downgrade(config, "-1")
    assert asyncio.run(_installed_list(scratch_url)) == before
