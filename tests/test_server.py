"""End to end: the real `customer-history serve` process."""

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.e2e

BIN = Path(sys.executable).parent / "customer-history"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(base: str, process: subprocess.Popen[bytes], seconds: float) -> httpx.Response:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited with {process.returncode}")
        try:
            response = httpx.get(f"{base}/readyz", timeout=2)
            if response.status_code == 200:
                return response
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError("server not ready in time")


def start(env: dict[str, str], *args: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = subprocess.Popen(
        [str(BIN), "serve", "--port", str(port), *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return process, f"http://127.0.0.1:{port}"


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture
def server(database_url: str) -> Iterator[str]:
    env = {**os.environ, "DATABASE_URL": database_url}
    process, base = start(env)
    try:
        wait_ready(base, process, 30)
        yield base
    finally:
        stop(process)


def test_served_process_is_ready_and_checks_keys(server: str) -> None:
    assert httpx.get(f"{server}/readyz").json()["status"] == "ready"
    denied = httpx.get(f"{server}/v1/me", headers={"Authorization": "Bearer wrong"})
    assert denied.status_code == 401
    assert denied.headers["content-type"] == "application/problem+json"
    too_big = httpx.post(f"{server}/v1/me", content=b"x" * (2 * 1024 * 1024))
    assert too_big.status_code == 413


def test_embedded_postgres_when_no_database_url(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "CH_DATABASE_URL"}}
    env["CH_DATA_DIR"] = str(tmp_path / "data")
    process, base = start(env)
    try:
        wait_ready(base, process, 60)
    finally:
        stop(process)
    assert process.returncode == 0
    pid_file = tmp_path / "data" / "pg" / "postmaster.pid"
    deadline = time.monotonic() + 15
    while pid_file.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not pid_file.exists(), "the embedded PostgreSQL kept running after the service stopped"
