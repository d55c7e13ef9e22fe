"""`python -m cluster distribute` on a freshly migrated database: every table it places is
where cluster/placement.py puts it, a second run changes nothing, and whatever Citus
refuses leaves no table stuck as a Citus local table (which could never be distributed)."""

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator

import asyncpg
import pytest
from app.core.migrations import upgrade_to_head
from sqlalchemy.engine import make_url

from cluster.citus import recreate
from cluster.distribution import distribute
from cluster.layout import PROJECT, Layout
from cluster.placement import BY_TABLE

URL = os.environ.get("CLUSTER_DATABASE_URL")

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.skipif(not URL, reason="CLUSTER_DATABASE_URL is not set (make cluster-check)"),
]


@pytest.fixture(scope="module")
def migrated() -> Iterator[str]:
    url = make_url(str(URL)).set(database="customer_history_distribute").render_as_string(False)
    asyncio.run(recreate(url, registered_in=URL))
    upgrade_to_head(url)
    yield url


def test_each_table_placed_is_placed_as_decided(migrated: str) -> None:
    outcome = asyncio.run(distribute(migrated, shard_count=2))
    refused = {r.table for r in outcome.refusals}
    assert outcome.placed, outcome.text()
    assert not refused & set(outcome.placed)
    placed = asyncio.run(_placed(migrated))
    assert set(placed) == set(outcome.placed)
    for table, (kind, column, group) in placed.items():
        decided = BY_TABLE[table]
        assert (kind, column) == (decided.kind, decided.column or "<none>"), table
        if decided.colocate_with in placed:
            assert group == placed[decided.colocate_with][2], table


def test_session_tokens_keep_their_key_to_api_keys(migrated: str) -> None:
    """A distributed table whose foreign key names a reference table placed after it."""
    asyncio.run(distribute(migrated, shard_count=2))
    placed = asyncio.run(_placed(migrated))
    assert placed["session_tokens"][:2] == ("distributed", "token_hash")
    assert placed["api_keys"][0] == "reference"
    assert asyncio.run(_references(migrated, "session_tokens")) == ["api_keys"]


async def _references(url: str, table: str) -> list[str]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT confrelid::regclass::text FROM pg_constraint "
            "WHERE contype = 'f' AND conrelid = $1::regclass",
            table,
        )
    finally:
        await conn.close()
    return [r[0] for r in rows]


def test_a_second_run_changes_nothing(migrated: str) -> None:
    first = asyncio.run(distribute(migrated, shard_count=2))
    before = asyncio.run(_placed(migrated))
    again = asyncio.run(distribute(migrated, shard_count=2))
    assert again.placed == []
    assert set(again.already) == set(before)
    assert [(r.table, r.error) for r in again.refusals] == [
        (r.table, r.error) for r in first.refusals
    ]
    assert asyncio.run(_placed(migrated)) == before


async def _placed(url: str) -> dict[str, tuple[str, str, int]]:
    """Each table Citus manages: its kind, its shard column and its co-location group;
    a Citus local table here is a table the distribution made undistributable."""
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT table_name::text, citus_table_type, distribution_column, colocation_id "
            "FROM citus_tables"
        )
    finally:
        await conn.close()
    return {r[0]: (r[1], r[2], r[3]) for r in rows}


def test_the_database_folds_case_as_the_embedded_server_does(migrated: str) -> None:
    """Search lowers and unaccents what it compares: under the C locale lower() leaves
    'Ú' and 'Ñ' alone and a search for "núñez" misses "NÚÑEZ"."""

    async def lowered() -> str:
        conn = await asyncpg.connect(migrated)
        try:
            return str(await conn.fetchval("SELECT lower('NÚÑEZ')"))
        finally:
            await conn.close()

    assert asyncio.run(lowered()) == "núñez"


def test_a_database_of_its_own_is_made_migrated_and_placed() -> None:
    """`python -m cluster database NAME` (what `make cluster-bench` runs on): the database
    made again on every node, at the migrations' head, every table placed as decided; its
    URL is the last line printed."""
    layout = Layout.from_env()
    if layout.coordinator.url() != URL:
        pytest.skip("CLUSTER_DATABASE_URL is not the cluster of this checkout")
    name = "customer_history_database_check"
    made = subprocess.run(
        [sys.executable, "-m", "cluster", "database", name, "--shard-count", "2"],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        check=True,
    )
    url = made.stdout.strip().splitlines()[-1]
    assert url == make_url(str(URL)).set(database=name).render_as_string(False)
    placed = asyncio.run(_placed(url))
    assert set(placed) == set(BY_TABLE) - {t for t, p in BY_TABLE.items() if p.kind == "local"}
    for table, (kind, column, _) in placed.items():
        assert (kind, column) == (BY_TABLE[table].kind, BY_TABLE[table].column or "<none>")
