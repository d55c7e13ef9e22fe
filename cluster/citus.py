"""The service's database with Citus on every node, and the workers registered."""

import asyncpg

from cluster.layout import DATABASE, HOST, Layout, Node


async def prepare(layout: Layout, database: str = DATABASE) -> None:
    """Create the database and the extension on every node, then register the nodes.

    Citus keeps its node list per database, so each database is registered on its own.
    Each step checks before it acts, so running it on a prepared cluster changes nothing.
    """
    for node in layout.nodes:
        await _database_with_citus(node, database)
    conn = await asyncpg.connect(layout.coordinator.url(database))
    try:
        registered = {
            (r["nodename"], r["nodeport"])
            for r in await conn.fetch("SELECT nodename, nodeport FROM pg_dist_node")
        }
        coordinator = layout.coordinator
        if (HOST, coordinator.port) not in registered:
            await conn.execute("SELECT citus_set_coordinator_host($1, $2)", HOST, coordinator.port)
        for worker in layout.workers:
            if (HOST, worker.port) not in registered:
                await conn.execute("SELECT citus_add_node($1, $2)", HOST, worker.port)
    finally:
        await conn.close()


async def describe(layout: Layout) -> tuple[str, list[asyncpg.Record]]:
    """The coordinator's `citus_version()` and its registered nodes."""
    conn = await asyncpg.connect(layout.coordinator.url())
    try:
        version = await conn.fetchval("SELECT citus_version()")
        nodes = await conn.fetch(
            "SELECT nodename, nodeport, groupid, noderole, isactive "
            "FROM pg_dist_node ORDER BY groupid"
        )
    finally:
        await conn.close()
    return version, nodes


async def _database_with_citus(node: Node, database: str) -> None:
    conn = await asyncpg.connect(node.url("postgres"))
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database):
            await conn.execute(f'CREATE DATABASE "{database}"')
    finally:
        await conn.close()
    conn = await asyncpg.connect(node.url(database))
    try:
        await conn.execute("CREATE EXTENSION IF NOT EXISTS citus")
    finally:
        await conn.close()
