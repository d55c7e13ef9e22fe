"""Citus compiled from the vendored tarball into a copy of the wheel's PostgreSQL.

The copy lives in `.cluster/pginstall` with a stamp naming the tarball's digest and the
PostgreSQL version it was built for; while both match, nothing is rebuilt.
"""

import hashlib
import logging
import os
import shutil
import subprocess
import tarfile
import time
from pathlib import Path

from cluster.layout import TARBALL, ClusterError, Layout, library_path, wheel_pginstall

log = logging.getLogger("cluster")

STAMP = ".citus-build"
# Flags the wheel's PostgreSQL was compiled with that Debian 12's gcc does not know.
UNKNOWN_CFLAGS = ("-Wmissing-variable-declarations",)
CONFIGURE_OPTIONS = ("--without-libcurl", "--without-lz4", "--without-zstd")


def build_key(pginstall: Path) -> str:
    """What a build depends on: the tarball's digest and the PostgreSQL version."""
    digest = hashlib.sha256(TARBALL.read_bytes()).hexdigest()
    version = _pg_config(pginstall, "--version")
    return f"{TARBALL.name} sha256:{digest}\n{version}\n"


def is_built(layout: Layout) -> bool:
    """Whether the cached copy holds Citus built from this tarball for this PostgreSQL."""
    stamp = layout.pginstall / STAMP
    return stamp.exists() and stamp.read_text() == build_key(wheel_pginstall())


def ensure_citus(layout: Layout) -> None:
    """Build Citus into `layout.pginstall` unless the cached build is current."""
    if is_built(layout):
        log.info("citus: cached build in %s", layout.pginstall)
        return
    started = time.monotonic()
    key = build_key(wheel_pginstall())
    shutil.rmtree(layout.pginstall, ignore_errors=True)
    layout.root.mkdir(parents=True, exist_ok=True)
    # PostgreSQL's binaries are relocatable: the copy's pg_config names the copy's paths.
    shutil.copytree(wheel_pginstall(), layout.pginstall, symlinks=True)
    source = _unpack(layout.root / "build")
    env = _build_env(layout)
    build_log = layout.root / "build.log"
    build_log.write_text("")
    pg_config = f"PG_CONFIG={layout.bin / 'pg_config'}"
    log.info("citus: configuring %s", source.name)
    _run(["./configure", pg_config, *CONFIGURE_OPTIONS], source, env, build_log)
    log.info("citus: compiling (a minute or two)")
    cflags = " ".join(
        flag
        for flag in _pg_config(layout.pginstall, "--cflags").split()
        if flag not in UNKNOWN_CFLAGS
    )
    jobs = f"-j{os.cpu_count() or 1}"
    _run(["make", jobs, f"CFLAGS={cflags}"], source, env, build_log)
    _run(["make", "install", pg_config], source, env, build_log)
    shutil.rmtree(source.parent)
    (layout.pginstall / STAMP).write_text(key)
    log.info("citus: built and installed in %.0f s", time.monotonic() - started)


def _pg_config(pginstall: Path, option: str) -> str:
    out = subprocess.run(
        [str(pginstall / "bin" / "pg_config"), option], check=True, capture_output=True, text=True
    )
    return out.stdout.strip()


def _unpack(into: Path) -> Path:
    shutil.rmtree(into, ignore_errors=True)
    into.mkdir(parents=True)
    with tarfile.open(TARBALL) as tar:
        tar.extractall(into, filter="data")
    (source,) = into.iterdir()
    return source


def _build_env(layout: Layout) -> dict[str, str]:
    env = dict(os.environ)
    env["LD_LIBRARY_PATH"] = library_path(layout)
    return env


def _run(command: list[str], cwd: Path, env: dict[str, str], log_file: Path) -> None:
    """Run a build step, its output appended to `log_file`; fail with the log's tail."""
    with log_file.open("a") as out:
        out.write(f"\n$ {' '.join(command)}\n")
        out.flush()
        done = subprocess.run(command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
    if done.returncode != 0:
        tail = "\n".join(log_file.read_text().splitlines()[-30:])
        raise ClusterError(f"{command[0]} failed (see {log_file}):\n{tail}")
