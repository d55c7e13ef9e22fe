"""The servers' lives: initialised, configured, started and stopped as the node user."""

import json
import logging
import os
import subprocess
from pathlib import Path

from cluster.layout import (
    LOCALE,
    SUPERUSER,
    ClusterError,
    Layout,
    Node,
    library_path,
    node_account,
)

log = logging.getLogger("cluster")

# Rewritten at every start and included from postgresql.conf, so a changed default
# reaches nodes initialised earlier.
SETTINGS = """\
# Written by `python -m cluster`; edits are lost at the next start.
listen_addresses = '127.0.0.1'
port = {port}
unix_socket_directories = ''
shared_preload_libraries = 'citus'
# Citus commits a transaction that wrote to several nodes with two-phase commit.
max_prepared_transactions = 200
# Moving and rebalancing shards replicate them logically.
wal_level = logical
# Each coordinator backend keeps a connection to every worker it reads from: the bench's
# two servers with pools of 32 (and the suite's served processes) pass the default 100
# on the workers ("sorry, too many clients already").
max_connections = 300
"""
SETTINGS_FILE = "cluster.conf"
PORTS_FILE = "cluster.json"


def check_ports(layout: Layout) -> None:
    """Refuse to start nodes on other ports than they were registered with."""
    recorded = layout.nodes_dir / PORTS_FILE
    if not recorded.exists():
        layout.nodes_dir.mkdir(parents=True, exist_ok=True)
        recorded.write_text(json.dumps({"port": layout.base_port}) + "\n")
        return
    port = json.loads(recorded.read_text())["port"]
    if port != layout.base_port:
        raise ClusterError(
            f"the cluster in {layout.nodes_dir} was made with CLUSTER_PORT={port}; "
            f"run `python -m cluster destroy` before starting it on {layout.base_port}"
        )


def running_port(node: Node) -> int | None:
    """The port the node's server listens on, or None when it is not running."""
    pid_file = node.data / "postmaster.pid"
    if not pid_file.exists():
        return None
    lines = pid_file.read_text().splitlines()
    try:
        os.kill(int(lines[0]), 0)
    except (ProcessLookupError, ValueError, IndexError):
        return None  # a stale file left by a server that died
    return int(lines[3]) if len(lines) > 3 and lines[3].strip() else None


def start(layout: Layout, node: Node) -> None:
    """Initialise the node when new, write its settings, start it unless it runs."""
    port = running_port(node)
    if port == node.port:
        log.info("%s: running on %d", node.name, port)
        return
    if port is not None:
        raise ClusterError(f"{node.name} runs on {port}, not {node.port}: stop the cluster first")
    if not (node.data / "PG_VERSION").exists():
        _initdb(layout, node)
    settings = node.data / SETTINGS_FILE
    settings.write_text(SETTINGS.format(port=node.port))
    _own(settings)
    log.info("%s: starting on %d", node.name, node.port)
    done = _as_node_user(
        layout,
        node,
        ["pg_ctl", "-D", str(node.data), "-l", str(node.log), "-w", "-t", "60", "start"],
    )
    if done.returncode != 0:
        tail = node.log.read_text().splitlines()[-15:] if node.log.exists() else []
        raise ClusterError(f"{node.name} did not start:\n{done.stdout}\n" + "\n".join(tail))


def stop(layout: Layout, node: Node) -> None:
    """Stop the node's server (fast shutdown: open sessions are ended) if it runs."""
    if running_port(node) is None:
        log.info("%s: not running", node.name)
        return
    done = _as_node_user(
        layout, node, ["pg_ctl", "-D", str(node.data), "-m", "fast", "-w", "-t", "60", "stop"]
    )
    if done.returncode != 0:
        raise ClusterError(f"{node.name} did not stop:\n{done.stdout}")
    log.info("%s: stopped", node.name)


def _initdb(layout: Layout, node: Node) -> None:
    log.info("%s: initdb in %s", node.name, node.data)
    node.home.mkdir(parents=True, exist_ok=True)
    _own(node.home)
    done = _as_node_user(
        layout,
        node,
        [
            "initdb",
            "-D",
            str(node.data),
            "-U",
            SUPERUSER,
            "--auth=trust",  # loopback only: listen_addresses is 127.0.0.1, no socket
            "--encoding=UTF8",
            f"--locale={LOCALE}",
            "--no-sync",
        ],
    )
    if done.returncode != 0:
        raise ClusterError(f"initdb failed for {node.name}:\n{done.stdout}")
    with (node.data / "postgresql.conf").open("a") as conf:
        conf.write(f"\ninclude '{SETTINGS_FILE}'\n")


def _own(path: Path) -> None:
    account = node_account()
    if os.geteuid() == 0:
        os.chown(path, account.pw_uid, account.pw_gid)


def _as_node_user(
    layout: Layout, node: Node, command: list[str]
) -> subprocess.CompletedProcess[str]:
    """Run one of the copy's programs as the node user, from the node's directory."""
    account = node_account()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LD_LIBRARY_PATH": library_path(layout),
        "HOME": str(node.home),
        "LC_ALL": "C",
    }
    switch: dict[str, object] = {}
    if os.geteuid() == 0:
        switch = {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}
    return subprocess.run(  # type: ignore[call-overload]
        [str(layout.bin / command[0]), *command[1:]],
        cwd=node.home,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        check=False,
        **switch,
    )
