"""Drive a server with wrk, the load client that takes the least of the cores it shares.

Requests are built in Python (``bench.load.build``) and written to a file that
``replay.lua`` loads into a Lua table before the clock starts: wrk then only writes them
and reads the answers, in C. Debian ships it: ``apt-get install -y wrk``.
"""

import json
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

REPLAY = Path(__file__).with_name("replay.lua")
MARKER = "wrk-figures "
INSTALL = "apt-get install -y wrk"


@dataclass
class WrkRun:
    """What one wrk run did, from the line ``replay.lua``'s ``done()`` prints."""

    requests: int
    seconds: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    failed: int  # answers of 400 and above, and socket errors and timeouts
    # A "once" run ran out of requests before its time was up; wrk still counts the whole
    # duration, so its rate is too low.
    spent: bool

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds

    def summary(self) -> dict[str, object]:
        return {
            "requests": self.requests,
            "seconds": round(self.seconds, 2),
            "per_second": round(self.per_second, 1),
            "p50_ms": round(self.p50_ms, 2),
            "p90_ms": round(self.p90_ms, 2),
            "p99_ms": round(self.p99_ms, 2),
            "max_ms": round(self.max_ms, 2),
            "failed": self.failed,
            **({"spent": True} if self.spent else {}),
        }


def parse(output: str) -> WrkRun:
    """The figures in wrk's standard output (``replay.lua`` adds them as JSON)."""
    for line in output.splitlines():
        if line.startswith(MARKER):
            figures = json.loads(line[len(MARKER) :])
            break
    else:
        raise ValueError(f"no '{MARKER.strip()}' line in wrk's output:\n{output}")
    return WrkRun(
        requests=figures["requests"],
        seconds=figures["duration_us"] / 1e6,
        p50_ms=figures["p50_us"] / 1000,
        p90_ms=figures["p90_us"] / 1000,
        p99_ms=figures["p99_us"] / 1000,
        max_ms=figures["max_us"] / 1000,
        failed=figures["status_errors"] + figures["socket_errors"] + figures["timeouts"],
        spent=figures["spent"],
    )


def write_requests(path: Path, requests: list[bytes]) -> None:
    """The file ``replay.lua`` reads: each request after a line with its length."""
    with path.open("wb") as out:
        for request in requests:
            out.write(b"%d\n" % len(request))
            out.write(request)


def require() -> None:
    """Stop with the way to install wrk when it is missing."""
    if shutil.which("wrk") is None:
        raise SystemExit(f"the benchmark drives the servers with wrk: {INSTALL}")


def run(
    base_url: str,
    requests: list[bytes],
    seconds: float,
    connections: int,
    *,
    once: bool = False,
    threads: int = 1,
) -> WrkRun:
    """Send ``requests`` (round and round, or each at most ``once``) over ``connections``
    keep-alive connections for ``seconds``."""
    with tempfile.TemporaryDirectory(prefix="ch-wrk-") as scratch:
        path = Path(scratch) / "requests"
        write_requests(path, requests)
        command = [
            "wrk",
            f"--threads={threads}",
            f"--connections={connections}",
            f"--duration={seconds}s",
            "--timeout=30s",
            "--latency",
            f"--script={REPLAY}",
            base_url,
            "--",
            str(path),
            "once" if once else "cycle",
            str(threads),
        ]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError(f"wrk exited {done.returncode}: {done.stderr.strip() or done.stdout}")
    return parse(done.stdout)
