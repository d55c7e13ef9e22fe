"""Distributes a migrated database in place on a Citus coordinator, by cluster/placement.py.

Each table is placed in its own transaction, in the placement's order; a table already
placed as decided is left alone, so a second run changes nothing and a run after a
schema change places what the first could not. What Citus (or this module) refuses is
collected with Citus's own words, and the run goes on with the next table.
"""

from dataclasses import dataclass, field

import asyncpg

from cluster.layout import ClusterError
from cluster.placement import BY_TABLE, PLACEMENTS, Placement, statement

# What Citus says of each table it manages; colocation_id ties a group together.
_PLACED = (
    "SELECT table_name::text AS name, citus_table_type AS kind, "
    "distribution_column AS column, colocation_id FROM citus_tables"
)
_TABLES = "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
# Plain tables tied to a table by a foreign key, either way: making it a reference table
# would turn them (and their whole foreign-key graph) into Citus local tables.
_PLAIN_NEIGHBOURS = """
SELECT DISTINCT other::regclass::text FROM pg_constraint c,
  LATERAL (SELECT CASE WHEN c.conrelid = $1::regclass THEN c.confrelid ELSE c.conrelid END)
    AS o (other)
WHERE c.contype = 'f' AND $1::regclass IN (c.conrelid, c.confrelid) AND c.conrelid <> c.confrelid
  AND NOT EXISTS (SELECT 1 FROM pg_dist_partition p WHERE p.logicalrelid = other)
ORDER BY 1
"""
# A table's foreign keys to tables not placed yet: Citus refuses to distribute a table
# whose key names a plain table, and a reference table made first would turn its plain
# neighbour into a Citus local table. So a key to a future reference table (session_tokens'
# to api_keys) is dropped as the table is distributed and made again once both are placed.
_KEYS_TO_PLAIN = """
SELECT c.conname, c.confrelid::regclass::text AS referenced, pg_get_constraintdef(c.oid) AS key
FROM pg_constraint c
WHERE c.contype = 'f' AND c.conrelid = $1::regclass AND c.confrelid <> c.conrelid
  AND NOT EXISTS (SELECT 1 FROM pg_dist_partition p WHERE p.logicalrelid = c.confrelid)
ORDER BY 1
"""


@dataclass(frozen=True)
class _Key:
    """A foreign key set aside while its table was distributed."""

    table: str
    name: str
    definition: str

    def statement(self) -> str:
        return f"ALTER TABLE {self.table} ADD CONSTRAINT {self.name} {self.definition}"


@dataclass(frozen=True)
class Refusal:
    """A table that is not where the placement puts it, and why."""

    table: str
    statement: str
    error: str

    def __str__(self) -> str:
        return f"{self.table}: {self.error}\n    ({self.statement})"


@dataclass
class Outcome:
    placed: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)
    refusals: list[Refusal] = field(default_factory=list)

    def text(self) -> str:
        lines = [
            f"placed now: {', '.join(self.placed) or '-'}",
            f"already placed: {', '.join(self.already) or '-'}",
            f"refused: {len(self.refusals)}",
        ]
        return "\n".join([*lines, *(f"  {r}" for r in self.refusals)])


async def distribute(url: str, *, shard_count: int | None = None) -> Outcome:
    """Place every table of the database ``url`` names as cluster/placement.py decides.

    ``shard_count`` sets the shards of each new co-location group (Citus's default, 32,
    when None). Raises ClusterError when the database has no Citus."""
    conn = await asyncpg.connect(url)
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_extension WHERE extname = 'citus'"):
            raise ClusterError(f"no citus extension in {url}: is it a Citus coordinator?")
        outcome = Outcome()
        tables = {r[0] for r in await conn.fetch(_TABLES)}
        for table in sorted(tables - set(BY_TABLE)):
            outcome.refusals.append(
                Refusal(table, "-", "not in cluster/placement.py: decide where it lives")
            )
        newly: list[str] = []
        keys: list[_Key] = []
        for placement in PLACEMENTS:
            if placement.kind == "local":
                continue
            if placement.table not in tables:
                outcome.refusals.append(
                    Refusal(placement.table, "-", "in cluster/placement.py, not in the database")
                )
                continue
            refusal = await _place(conn, placement, shard_count, keys)
            if refusal is None:
                newly.append(placement.table)
            elif refusal.error == _ALREADY:
                outcome.already.append(placement.table)
            else:
                outcome.refusals.append(refusal)
        outcome.placed = newly
        outcome.refusals += [r for key in keys if (r := await _restore(conn, key))]
        outcome.refusals += [r for t in newly if (r := await _drop_local_copy(conn, t))]
        return outcome
    finally:
        await conn.close()


_ALREADY = "already placed"


async def _place(
    conn: asyncpg.Connection, placement: Placement, shard_count: int | None, keys: list[_Key]
) -> Refusal | None:
    """Place one table unless it already is; the refusal (or _ALREADY) otherwise. The
    foreign keys set aside to place it are added to ``keys``."""
    sql = statement(placement)
    placed = {r["name"]: r for r in await conn.fetch(_PLACED)}
    now = placed.get(placement.table)
    if now is not None:
        matches = _as_decided(placement, now, placed)
        return Refusal(placement.table, sql, _ALREADY if matches else f"placed as {_said(now)}")
    if placement.kind == "reference":
        plain = [r[0] for r in await conn.fetch(_PLAIN_NEIGHBOURS, placement.table)]
        if plain:
            return Refusal(
                placement.table,
                sql,
                f"not tried: foreign keys tie it to {', '.join(plain)}, still plain tables, "
                "which would become Citus local tables that cannot be distributed afterwards",
            )
    aside = []
    if placement.kind == "distributed":
        aside = [
            _Key(placement.table, r["conname"], r["key"])
            for r in await conn.fetch(_KEYS_TO_PLAIN, placement.table)
            if r["referenced"] in BY_TABLE and BY_TABLE[r["referenced"]].kind == "reference"
        ]
    try:
        async with conn.transaction():
            if shard_count is not None:
                await conn.execute(f"SET LOCAL citus.shard_count = {int(shard_count)}")
            if placement.triggers_on_shards:
                await conn.execute("SET LOCAL citus.enable_unsafe_triggers = on")
            for key in aside:
                await conn.execute(f"ALTER TABLE {key.table} DROP CONSTRAINT {key.name}")
            await conn.execute(sql)
    except asyncpg.PostgresError as error:
        return Refusal(placement.table, sql, _words(error))
    keys += aside
    return None


async def _restore(conn: asyncpg.Connection, key: _Key) -> Refusal | None:
    """A foreign key set aside, made again now that the tables it ties are placed."""
    try:
        async with conn.transaction():
            await conn.execute(key.statement())
    except asyncpg.PostgresError as error:
        return Refusal(key.table, key.statement(), "its foreign key is lost: " + _words(error))
    return None


def _as_decided(
    placement: Placement, now: asyncpg.Record, placed: dict[str, asyncpg.Record]
) -> bool:
    if now["kind"] != placement.kind:
        return False
    if placement.kind == "reference":
        return True
    group = placed.get(placement.colocate_with)
    return now["column"] == placement.column and (
        group is None or group["colocation_id"] == now["colocation_id"]
    )


def _said(row: asyncpg.Record) -> str:
    if row["kind"] != "distributed":
        return f"a {row['kind']} table"
    return f"distributed by {row['column']} in co-location group {row['colocation_id']}"


async def _drop_local_copy(conn: asyncpg.Connection, table: str) -> Refusal | None:
    """Drop the rows Citus copied into the shards from the coordinator's own table.

    The events guard refuses a TRUNCATE unless the owner's privileged switch is on."""
    sql = f"SELECT truncate_local_data_after_distributing_table('{table}')"
    try:
        async with conn.transaction():
            await conn.execute("SET LOCAL ch.privileged_maintenance = on")
            await conn.execute(sql)
    except asyncpg.PostgresError as error:
        return Refusal(table, sql, _words(error))
    return None


def _words(error: asyncpg.PostgresError) -> str:
    """Citus's answer as it gave it: SQLSTATE, message, detail."""
    detail = getattr(error, "detail", None)
    return f"{error.sqlstate}: {error.args[0] if error.args else error}" + (
        f" (DETAIL {detail})" if detail else ""
    )
