"""Prometheus metrics shared by every domain.

With several uvicorn workers, ``customer-history serve`` gives them one
PROMETHEUS_MULTIPROC_DIR: each worker writes its samples there and any worker's
``/metrics`` answers the sum of all of them (prometheus_client's multiprocess mode).
"""

import os
from pathlib import Path

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

HTTP_REQUESTS = Counter(
    "http_requests_total", "HTTP requests answered", ["method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "http_request_duration_seconds",
    "HTTP request latency",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
DB_POOL_IN_USE = Gauge(
    "db_pool_connections_in_use",
    "Database connections checked out",
    multiprocess_mode="livesum",  # the workers alive, added up
)


def _shared_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR")


def exposition() -> bytes:
    """The text format of every metric, of all workers when they share a directory."""
    if _shared_dir() is None:
        return generate_latest()
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return generate_latest(registry)


def worker_starting() -> None:
    """Drop the live gauges of workers that died without exiting (killed, or restarted by
    the supervisor), so that their last values are not added in forever."""
    shared = _shared_dir()
    if shared is None:
        return
    for path in Path(shared).glob("gauge_live*_*.db"):
        pid = int(path.stem.rsplit("_", 1)[1])
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            multiprocess.mark_process_dead(pid)
        except PermissionError:
            pass  # alive, someone else's


def worker_exiting() -> None:
    """Drop this worker's live gauges from the shared sums."""
    if _shared_dir() is not None:
        multiprocess.mark_process_dead(os.getpid())
