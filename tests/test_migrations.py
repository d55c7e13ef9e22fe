"""Migrations go up, down and up again, and agree with the models."""

import asyncio

import asyncpg
from alembic import command

from app.core.db import Base, plain_url
from app.core.migrations import alembic_config
from app.models import load_all_models
from cluster.placement import BY_TABLE, shard_column


def test_upgrade_downgrade_upgrade_and_check(scratch_url: str) -> None:
    config = alembic_config(scratch_url)
    command.upgrade(config, "head")
    command.downgrade(config, "base")
    command.upgrade(config, "head")
    command.check(config)  # raises when the models and the migrations disagree


def test_every_table_of_the_models_has_its_place_on_a_cluster() -> None:
    """cluster/placement.py says where each table lives on Citus (distributed by which
    column, a reference table, or local on the coordinator); a new table must say it."""
    load_all_models()
    assert set(BY_TABLE) == {*Base.metadata.tables, "alembic_version"}


def test_every_unique_key_holds_its_shard_column(database_url: str) -> None:
    """A distributed table can only enforce a primary key or unique index that contains
    its shard column; a new table must say how it would be spread."""

    async def unique_keys() -> list[asyncpg.Record]:
        conn = await asyncpg.connect(plain_url(database_url))
        try:
            return await conn.fetch(
                "SELECT t.relname AS table_name, i.relname AS index_name, "
                "array_agg(a.attname) AS columns "
                "FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
                "JOIN pg_class t ON t.oid = x.indrelid "
                "JOIN pg_namespace n ON n.oid = t.relnamespace AND n.nspname = 'public' "
                "LEFT JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = ANY(x.indkey) "
                "WHERE x.indisunique AND t.relkind IN ('r', 'p') GROUP BY 1, 2 "
                "UNION ALL SELECT relname, NULL, NULL FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public' "
                "WHERE c.relkind IN ('r', 'p') AND NOT EXISTS "
                "(SELECT 1 FROM pg_index x WHERE x.indrelid = c.oid AND x.indisunique)"
            )
        finally:
            await conn.close()

    rows = asyncio.run(unique_keys())
    tables = {r["table_name"] for r in rows}
    assert tables == set(BY_TABLE), "place new tables in cluster/placement.py and docs/scaling.md"
    checked = 0
    for row in rows:
        shard = shard_column(row["table_name"])
        if row["index_name"] is None or shard is None:
            continue
        assert shard in row["columns"], (row["table_name"], row["index_name"], row["columns"])
        checked += 1
    distributed = [p for p in BY_TABLE.values() if p.column]
    assert checked >= len(distributed), "every distributed table has a key"


def test_every_foreign_key_is_one_citus_keeps(database_url: str) -> None:
    """Citus keeps a foreign key between two distributed tables on their shard columns
    (co-located: the same value lives on the same node), or to a table copied to every
    node; any other reference is the service's to keep (docs/scaling.md)."""

    async def foreign_keys() -> list[asyncpg.Record]:
        conn = await asyncpg.connect(plain_url(database_url))
        try:
            return await conn.fetch(
                "SELECT c.conname, c.conrelid::regclass::text AS referencing, "
                "c.confrelid::regclass::text AS referenced, "
                "(SELECT array_agg(attname ORDER BY attnum) FROM pg_attribute "
                " WHERE attrelid = c.conrelid AND attnum = c.conkey[1]) AS first_column, "
                "(SELECT array_agg(attname ORDER BY attnum) FROM pg_attribute "
                " WHERE attrelid = c.confrelid AND attnum = c.confkey[1]) AS first_referenced "
                "FROM pg_constraint c WHERE c.contype = 'f' "
                "AND c.connamespace = 'public'::regnamespace"
            )
        finally:
            await conn.close()

    def local(table: str) -> bool:
        return BY_TABLE[table].kind == "local"

    kept = []
    for fk in asyncio.run(foreign_keys()):
        shard, referenced_shard = shard_column(fk["referencing"]), shard_column(fk["referenced"])
        if referenced_shard is None:  # a reference table, or local tables among themselves
            assert local(fk["referencing"]) == local(fk["referenced"]), fk["conname"]
        else:
            assert (fk["first_column"], fk["first_referenced"]) == (
                [shard],
                [referenced_shard],
            ), f"{fk['conname']} does not join two co-located tables on their shard columns"
        kept.append(fk["conname"])
    assert "fk_events_customer_id_customers" in kept


# The triggers a placed table keeps: each looks at its own row and nothing else, so it
# runs on the worker that holds the shard (created there under citus.enable_unsafe_triggers,
# docs/scaling.md). A trigger that notifies is heard on no worker, and Citus runs none on a
# reference table: the service sends those notifications itself.
SHARD_SAFE_TRIGGERS = {("events", "events_append_only"), ("events", "events_no_truncate")}


def test_placed_tables_keep_only_triggers_that_run_on_their_shards(database_url: str) -> None:
    async def triggers() -> set[tuple[str, str]]:
        conn = await asyncpg.connect(plain_url(database_url))
        try:
            rows = await conn.fetch(
                "SELECT c.relname, t.tgname FROM pg_trigger t JOIN pg_class c "
                "ON c.oid = t.tgrelid WHERE NOT t.tgisinternal "
                "AND c.relnamespace = 'public'::regnamespace"
            )
            return {(r["relname"], r["tgname"]) for r in rows}
        finally:
            await conn.close()

    from cluster.exploration import LOCAL

    placed = {trigger for trigger in asyncio.run(triggers()) if trigger[0] not in LOCAL}
    assert placed == SHARD_SAFE_TRIGGERS


def test_merged_customers_take_their_survivors_owner_and_give_it_back(scratch_url: str) -> None:
    """0011 on data already there: a merge chain takes the survivor's owner (down and up
    again restores the merged customers' own), and an owned-only admin key is revoked."""
    config = alembic_config(scratch_url)
    command.upgrade(config, "0010")
    ids = {name: f"00000000-0000-7000-8000-00000000000{n}" for n, name in enumerate("abc", 1)}

    async def seed() -> None:
        conn = await asyncpg.connect(plain_url(scratch_url))
        try:
            for name, owner, merged_into in (
                ("c", "agent-c", None),
                ("b", "agent-b", ids["c"]),
                ("a", "agent-a", ids["b"]),  # a into b, then b into c
            ):
                await conn.execute(
                    "INSERT INTO customers (id, kind, display_name, owner_id, status, "
                    "merged_into) VALUES ($1, 'person', $2, $3, $4, $5)",
                    ids[name],
                    name,
                    owner,
                    "active" if merged_into is None else "merged",
                    merged_into,
                )
            for survivor, absorbed in (("b", "a"), ("c", "b")):
                await conn.execute(
                    "INSERT INTO customer_merges (id, survivor_id, absorbed_id, identifier_ids) "
                    "VALUES (gen_random_uuid(), $1, $2, '{}')",
                    ids[survivor],
                    ids[absorbed],
                )
            await conn.execute(
                "INSERT INTO api_keys (id, name, role, agent_id, owned_only, key_hash) VALUES "
                "(gen_random_uuid(), 'odd', 'admin', 'agent-a', true, 'h1')"
            )
        finally:
            await conn.close()

    async def owners() -> dict[str, str]:
        conn = await asyncpg.connect(plain_url(scratch_url))
        try:
            rows = await conn.fetch("SELECT id::text, owner_id FROM customers")
            return {
                name: next(r["owner_id"] for r in rows if r["id"] == i) for name, i in ids.items()
            }
        finally:
            await conn.close()

    async def revoked() -> bool:
        conn = await asyncpg.connect(plain_url(scratch_url))
        try:
            return bool(await conn.fetchval("SELECT revoked_at IS NOT NULL FROM api_keys"))
        finally:
            await conn.close()

    asyncio.run(seed())
    command.upgrade(config, "0011")
    assert asyncio.run(owners()) == {"a": "agent-c", "b": "agent-c", "c": "agent-c"}
    assert asyncio.run(revoked()), "an owned-only admin key is revoked, not left seeing all"
    command.downgrade(config, "0010")
    assert asyncio.run(owners()) == {"a": "agent-a", "b": "agent-b", "c": "agent-c"}


def test_merged_customers_are_given_the_root_of_their_family(scratch_url: str) -> None:
    """0028 on data already there: each merged customer holds where its chain of merges
    ends; a customer not merged holds none."""
    config = alembic_config(scratch_url)
    command.upgrade(config, "0027")
    ids = {name: f"00000000-0000-7000-8000-00000000000{n}" for n, name in enumerate("abcde", 1)}
    merges = {"a": "b", "b": "c", "e": "c"}  # a into b, then b into c; e into c; d alone

    async def seed() -> None:
        conn = await asyncpg.connect(plain_url(scratch_url))
        try:
            for name in "cdbae":
                await conn.execute(
                    "INSERT INTO customers (id, kind, display_name, status, merged_into) "
                    "VALUES ($1, 'person', $2, $3, $4)",
                    ids[name],
                    name,
                    "merged" if name in merges else "active",
                    ids[merges[name]] if name in merges else None,
                )
        finally:
            await conn.close()

    async def roots() -> dict[str, str | None]:
        conn = await asyncpg.connect(plain_url(scratch_url))
        try:
            rows = await conn.fetch("SELECT id::text, merge_root::text FROM customers")
            named = {i: name for name, i in ids.items()}
            return {named[r["id"]]: r["merge_root"] for r in rows}
        finally:
            await conn.close()

    asyncio.run(seed())
    command.upgrade(config, "0028")
    c = ids["c"]
    assert asyncio.run(roots()) == {"a": c, "b": c, "c": None, "d": None, "e": c}
    command.downgrade(config, "0027")


def test_organisations_are_given_the_owners_of_their_live_contact_persons(
    scratch_url: str,
) -> None:
    """0037 on data already there: each customer holds the owners of the live contact
    persons naming it as their organisation, each once, sorted, an ownerless one as a NULL
    last; a merged contact person counts for none."""
    config = alembic_config(scratch_url)
    command.upgrade(config, "0035")
    ids = {name: f"00000000-0000-7000-8000-00000000000{n}" for n, name in enumerate("opabcdm", 1)}
    # name: (kind, organisation, owner, merged into)
    rows = {
        "o": ("organization", None, "agent-o", None),
        "p": ("organization", None, None, None),  # no contact persons
        "a": ("person", "o", "agent-b", None),
        "b": ("person", "o", "agent-a", None),
        "c": ("person", "o", None, None),
        "d": ("person", "o", "agent-a", None),
        "m": ("person", "o", "agent-z", "a"),  # merged: not a contact person any more
    }

    async def seed() -> None:
        conn = await asyncpg.connect(plain_url(scratch_url))
        try:
            for name, (kind, organization, owner, merged_into) in rows.items():
                into = ids[merged_into] if merged_into else None
                await conn.execute(
                    "INSERT INTO customers (id, kind, display_name, organization_id, owner_id,"
                    " status, merged_into, merge_root) VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
                    ids[name],
                    kind,
                    name,
                    ids[organization] if organization else None,
                    owner,
                    "merged" if into else "active",
                    into,
                )
        finally:
            await conn.close()

    async def contact_owners() -> dict[str, list[str | None]]:
        conn = await asyncpg.connect(plain_url(scratch_url))
        try:
            found = await conn.fetch("SELECT id::text, contact_owners FROM customers")
            named = {i: name for name, i in ids.items()}
            return {named[r["id"]]: r["contact_owners"] for r in found}
        finally:
            await conn.close()

    asyncio.run(seed())
    command.upgrade(config, "0037")
    none: list[str | None] = []
    assert asyncio.run(contact_owners()) == {
        "o": ["agent-a", "agent-b", None],
        "p": none,
        "a": none,
        "b": none,
        "c": none,
        "d": none,
        "m": none,
    }
    command.downgrade(config, "0035")
