"""The service's database with Citus on every node, and the workers registered."""

import asyncpg
from sqlalchemy.engine import make_url

from cluster.layout import DATABASE, LOCALE, ClusterError, Layout


async def prepare(layout: Layout, database: str = DATABASE) -> None:
    """Create the database and the extension on every node, then register the nodes.

    Citus keeps its node list per database, so each database is registered on its own.
    Each step checks before it acts, so running it on a prepared cluster changes nothing.
    """
    await _prepare(layout.coordinator.url(database), [w.url(database) for w in layout.workers])


async def recreate(url: str, registered_in: str | None = None) -> None:
    """Drop the database ``url`` names on its Citus coordinator and on every worker
    registered in it (or in the database ``registered_in``), then create it again on each,
    with Citus and the workers registered.

    Citus does not propagate CREATE DATABASE unless told to, and a database needs the
    extension on every node anyway, so each node is reached in turn."""
    conn = await asyncpg.connect(registered_in or url)
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_extension WHERE extname = 'citus'"):
            raise ClusterError(f"no citus extension in {url}: start the cluster (make cluster)")
        workers = [
            _at(url, r["nodename"], r["nodeport"])
            for r in await conn.fetch(
                "SELECT nodename, nodeport FROM pg_dist_node "
                "WHERE groupid <> 0 AND noderole = 'primary' ORDER BY groupid"
            )
        ]
    finally:
        await conn.close()
    if not workers:
        raise ClusterError(f"no workers are registered in {url}")
    for node in (url, *workers):
        conn = await asyncpg.connect(on_database(node, "postgres"))
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{_name(node)}" WITH (FORCE)')
        finally:
            await conn.close()
    await _prepare(url, workers)


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


async def _prepare(coordinator: str, workers: list[str]) -> None:
    for node in (coordinator, *workers):
        await _database_with_citus(node)
    conn = await asyncpg.connect(coordinator)
    try:
        registered = {
            (r["nodename"], r["nodeport"])
            for r in await conn.fetch("SELECT nodename, nodeport FROM pg_dist_node")
        }
        host, port = _address(coordinator)
        if (host, port) not in registered:
            await conn.execute("SELECT citus_set_coordinator_host($1, $2)", host, port)
        for worker in workers:
            if _address(worker) not in registered:
                await conn.execute("SELECT citus_add_node($1, $2)", *_address(worker))
    finally:
        await conn.close()


async def _database_with_citus(url: str) -> None:
    conn = await asyncpg.connect(on_database(url, "postgres"))
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", _name(url)):
            # The embedded server's locale (LANG=C.UTF-8): lower() and unaccent search
            # must fold "NÚÑEZ" on the cluster as they do there.
            await conn.execute(
                f'CREATE DATABASE "{_name(url)}" TEMPLATE template0 LOCALE {LOCALE!r}'
            )
    finally:
        await conn.close()
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("CREATE EXTENSION IF NOT EXISTS citus")
    finally:
        await conn.close()


def _at(url: str, host: str, port: int) -> str:
    """``url`` (its user and database) on another node."""
    return make_url(url).set(host=host, port=port).render_as_string(hide_password=False)


def on_database(url: str, database: str) -> str:
    """``url`` (its server and user) naming the database ``database``."""
    return make_url(url).set(database=database).render_as_string(hide_password=False)


def _name(url: str) -> str:
    return str(make_url(url).database)


def _address(url: str) -> tuple[str, int]:
    parsed = make_url(url)
    return str(parsed.host), int(parsed.port or 5432)
