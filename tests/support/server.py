"""The service as a process: the installed `customer-history` command, a served port, a
key made through the command line."""

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import uvicorn

from app.alerts.stream import AlertFeed
from app.core.clock import Clock
from app.core.config import Settings
from app.core.db import Database
from app.main import create_app
from app.timeline.stream import TimelineFeed

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


@contextlib.asynccontextmanager
async def served_in_process(
    settings: Settings, database: Database, clock: Clock
) -> AsyncIterator[str]:
    """The app behind a real uvicorn server in this event loop, on committing sessions and
    the test's clock (its live feeds open, its lifespan off, its streams pinged every
    second); yields its base URL."""
    # A heartbeat every second: a slow run (Citus on a busy machine) never leaves a quiet
    # stream silent past the client's read timeout while the test writes elsewhere.
    settings.sse_ping_seconds = 1
    app = create_app(settings, clock)
    app.state.db = database
    app.state.feed = TimelineFeed(str(settings.database_url))
    app.state.alert_feed = AlertFeed(str(settings.database_url))
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_config=None)
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)
        await app.state.feed.close()
        await app.state.alert_feed.close()
