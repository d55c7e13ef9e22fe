"""The cluster `make cluster` starts answers as Citus with two active workers, spreads a
table over both, and a second start leaves the same cluster running."""

import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from cluster.layout import PROJECT, Layout
from cluster.nodes import running_port

URL = os.environ.get("CLUSTER_DATABASE_URL")

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.skipif(not URL, reason="CLUSTER_DATABASE_URL is not set (make cluster-check)"),
]


@pytest.fixture
async def coordinator() -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(URL)
    yield conn
    await conn.close()


async def test_the_coordinator_answers_as_citus(coordinator: asyncpg.Connection) -> None:
    version = await coordinator.fetchval("SELECT citus_version()")
    assert version.startswith("Citus 14.0"), version


async def test_two_workers_are_active(coordinator: asyncpg.Connection) -> None:
    workers = await coordinator.fetch("SELECT * FROM citus_get_active_worker_nodes()")
    assert len(workers) == 2
    assert len({w["node_port"] for w in workers}) == 2


async def test_a_distributed_table_spreads_over_both_workers(
    coordinator: asyncpg.Connection,
) -> None:
    schema = f"smoke_{uuid.uuid4().hex[:8]}"
    try:
        await coordinator.execute(f"CREATE SCHEMA {schema}")
        await coordinator.execute(f"CREATE TABLE {schema}.t (customer_id uuid PRIMARY KEY)")
        await coordinator.execute(
            f"SELECT create_distributed_table('{schema}.t', 'customer_id', shard_count => 4)"
        )
        await coordinator.execute(
            f"INSERT INTO {schema}.t SELECT gen_random_uuid() FROM generate_series(1, 100)"
        )
        assert await coordinator.fetchval(f"SELECT count(*) FROM {schema}.t") == 100
        # Where each row lives: its shard, and the node holding that shard.
        placed = await coordinator.fetch(
            "SELECT n.nodeport, count(*)::int AS n FROM ("
            f" SELECT get_shard_id_for_distribution_column('{schema}.t', customer_id) AS shardid"
            f" FROM {schema}.t) AS r"
            " JOIN pg_dist_placement p USING (shardid) JOIN pg_dist_node n USING (groupid)"
            " GROUP BY n.nodeport"
        )
        workers = {
            w["node_port"]
            for w in await coordinator.fetch("SELECT * FROM citus_get_active_worker_nodes()")
        }
        assert {p["nodeport"] for p in placed} == workers
        assert sum(p["n"] for p in placed) == 100
    finally:
        await coordinator.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def test_starting_again_leaves_the_same_cluster() -> None:
    layout = Layout.from_env()
    if layout.coordinator.url() != URL:
        pytest.skip("CLUSTER_DATABASE_URL is not the cluster of this checkout")
    pids = [_postmaster_pid(node.data) for node in layout.nodes]
    assert all(running_port(node) == node.port for node in layout.nodes)
    done = subprocess.run(
        [sys.executable, "-m", "cluster", "start"],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip().splitlines()[-1] == URL
    assert [_postmaster_pid(node.data) for node in layout.nodes] == pids


async def test_each_node_is_registered_once(coordinator: asyncpg.Connection) -> None:
    rows = await coordinator.fetch("SELECT nodename, nodeport FROM pg_dist_node")
    assert len(rows) == 3
    assert len({(r["nodename"], r["nodeport"]) for r in rows}) == 3


def _postmaster_pid(data: "os.PathLike[str]") -> int:
    with open(os.path.join(data, "postmaster.pid")) as pid_file:
        return int(pid_file.readline())
