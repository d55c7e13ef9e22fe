"""`python -m cluster start|stop|status|url|build|destroy|explore|distribute|database`.

`start` builds Citus when needed, starts the coordinator and two workers, prepares the
database and prints the coordinator's URL on its last line (progress goes to stderr).
`distribute` places the tables of a migrated database as cluster/placement.py decides;
`database NAME` makes a database of that name again on every node, migrated and placed
so, and prints its URL (`make cluster-bench` benchmarks the service on one).
"""

import argparse
import asyncio
import fcntl
import logging
import shutil
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

from cluster import build, citus, nodes
from cluster.layout import ClusterError, Layout, check_reachable

log = logging.getLogger("cluster")


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run one command; 1 with a message when it cannot."""
    parser = argparse.ArgumentParser(prog="python -m cluster", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    for name, run in COMMANDS.items():
        command = commands.add_parser(name, help=(run.__doc__ or "").splitlines()[0])
        command.set_defaults(run=run)
        if run is distribute:
            command.add_argument(
                "--url", help="the coordinator's database (default: this cluster's)"
            )
            command.add_argument(
                "--shard-count", type=int, help="shards of each new group (Citus's default: 32)"
            )
        if run is database:
            command.add_argument("name", help="the database, made again on every node")
            command.add_argument(
                "--shard-count", type=int, help="shards of each group (Citus's default: 32)"
            )
    args = parser.parse_args(argv)
    options = {k: v for k, v in vars(args).items() if k not in ("command", "run")}
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    layout = Layout.from_env()
    try:
        with _locked(layout):
            args.run(layout, **options)
    except ClusterError as error:
        log.error("%s", error)
        return 1
    return 0


def start(layout: Layout) -> None:
    """Build Citus if needed, start the three nodes, print the coordinator URL."""
    check_reachable(layout)
    if not build.is_built(layout) and any(nodes.running_port(n) for n in layout.nodes):
        stop(layout)  # the servers run from the copy that is about to be rebuilt
    build.ensure_citus(layout)
    started = time.monotonic()
    nodes.check_ports(layout)
    for node in layout.nodes:
        nodes.start(layout, node)
    asyncio.run(citus.prepare(layout))
    log.info("cluster: ready in %.1f s", time.monotonic() - started)
    print(layout.coordinator.url(), flush=True)


def stop(layout: Layout) -> None:
    """Stop the three nodes (their data stays in .cluster/nodes)."""
    for node in reversed(layout.nodes):
        nodes.stop(layout, node)


def status(layout: Layout) -> None:
    """Say which nodes run and, from the coordinator, Citus's version and its nodes."""
    for node in layout.nodes:
        port = nodes.running_port(node)
        print(f"{node.name}: {f'running on {port}' if port else 'stopped'}")
    if nodes.running_port(layout.coordinator):
        version, registered = asyncio.run(citus.describe(layout))
        print(version)
        for r in registered:
            active = "active" if r["isactive"] else "inactive"
            print(
                f"  group {r['groupid']}: {r['nodename']}:{r['nodeport']} {r['noderole']} {active}"
            )


def url(layout: Layout) -> None:
    """Print the coordinator's URL (whether or not it runs)."""
    print(layout.coordinator.url())


def build_only(layout: Layout) -> None:
    """Build Citus into .cluster/pginstall unless the cached build is current."""
    build.ensure_citus(layout)


def destroy(layout: Layout) -> None:
    """Stop the nodes and delete their data (the Citus build stays cached)."""
    stop(layout)
    shutil.rmtree(layout.nodes_dir, ignore_errors=True)
    log.info("cluster: %s removed", layout.nodes_dir)


def explore(layout: Layout) -> None:
    """Migrate the coordinator, try to distribute the schema, EXPLAIN the hot statements."""
    from cluster import exploration

    if any(nodes.running_port(node) != node.port for node in layout.nodes):
        raise ClusterError("the cluster is not running: start it with `make cluster`")

    exploration.run(layout)


def distribute(layout: Layout, url: str | None = None, shard_count: int | None = None) -> None:
    """Place the tables of a migrated database on the coordinator (cluster/placement.py).

    Idempotent; every table Citus refuses is listed with its answer, and then it fails."""
    from cluster import distribution

    outcome = asyncio.run(
        distribution.distribute(url or layout.coordinator.url(), shard_count=shard_count)
    )
    print(outcome.text())
    if outcome.refusals:
        raise ClusterError(f"{len(outcome.refusals)} tables are not placed as decided")


def database(layout: Layout, name: str, shard_count: int | None = None) -> None:
    """Make the database ``name`` again on every node, migrate and place it, print its URL.

    What it held is dropped: a database for a benchmark, never the suite's or a user's."""
    from app.core.migrations import upgrade_to_head

    from cluster import distribution

    coordinator = layout.coordinator.url()
    url = citus.on_database(coordinator, name)
    asyncio.run(citus.recreate(url, registered_in=coordinator))
    upgrade_to_head(url)
    outcome = asyncio.run(distribution.distribute(url, shard_count=shard_count))
    log.info("%s", outcome.text())
    if outcome.refusals:
        raise ClusterError(f"{len(outcome.refusals)} tables are not placed as decided")
    print(url, flush=True)


COMMANDS = {
    "start": start,
    "stop": stop,
    "status": status,
    "url": url,
    "build": build_only,
    "destroy": destroy,
    "explore": explore,
    "distribute": distribute,
    "database": database,
}


@contextmanager
def _locked(layout: Layout) -> Iterator[None]:
    """One command at a time on a cluster directory: two `make cluster` make one cluster."""
    layout.root.mkdir(parents=True, exist_ok=True)
    with (layout.root / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


if __name__ == "__main__":
    sys.exit(main())
