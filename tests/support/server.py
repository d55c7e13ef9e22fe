"""The service as a process: the installed `customer-history` command, a served port, a
key made through the command line."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

BIN = Path(sys.executable).parent / "customer-history"


def run_cli(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """The command with ``args`` on ``database_url``, run to its end (never raises)."""
    env = {**os.environ, "DATABASE_URL": database_url}
    return subprocess.run(
        [str(BIN), *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def free_port() -> int:
    """A port of 127.0.0.1 nobody listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(base: str, process: subprocess.Popen[bytes], seconds: float) -> httpx.Response:
    """The first 200 of ``/readyz``, polled until ``seconds`` have passed."""
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
    """`customer-history serve` on a free port with ``env``: the process and its base URL."""
    port = free_port()
    process = subprocess.Popen(
        [str(BIN), "serve", "--port", str(port), *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return process, f"http://127.0.0.1:{port}"


def admin_key(env: dict[str, str], name: str) -> dict[str, str]:
    """The Authorization header of a new admin key, made with `keys create` on ``env``."""
    return cli_key(env, name, "--role", "admin")


def cli_key(env: dict[str, str], name: str, *options: str) -> dict[str, str]:
    """The Authorization header of a new key made with `keys create --name name *options`."""
    created = subprocess.run(
        [str(BIN), "keys", "create", "--name", name, *options],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return {"Authorization": f"Bearer {created.stdout.strip().splitlines()[-1]}"}


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, and SIGKILL if the process has not ended within 20 s."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
