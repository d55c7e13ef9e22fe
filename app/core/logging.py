"""JSON-lines logging through structlog, with the request id in every line."""

import logging
import sys
from typing import Any, TextIO

import structlog

# Where lines go and from which level, as the last configure_logging set them: read on
# each line, so that loggers structlog cached before a reconfiguration follow it too.
_output: dict[str, Any] = {"stream": sys.stdout, "level": logging.INFO}


class _Lines:
    """Writes each rendered line to the configured stream; ``name`` is the ``logger`` key."""

    def __init__(self, name: str) -> None:
        self.name = name

    def msg(self, message: str) -> None:
        stream: TextIO = _output["stream"]
        stream.write(message + "\n")
        stream.flush()

    debug = info = warning = error = critical = exception = msg


_LEVELS = {name.lower(): number for name, number in logging.getLevelNamesMapping().items()}


def _at_level(_logger: Any, method: str, event: Any) -> Any:
    if _LEVELS.get(method, logging.ERROR) < _output["level"]:
        raise structlog.DropEvent
    return event


def configure_logging(level: str = "INFO") -> None:
    """Send structlog and stdlib records to stdout (the stdout of the moment: a test's
    buffer) as JSON lines of the same keys."""
    _output.update(stream=sys.stdout, level=logging.getLevelNamesMapping()[level.upper()])
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    # The service's own lines (one per request) go from structlog straight to the stream:
    # through the stdlib's records, handler and formatter each took about three times as
    # long, most of /healthz's time (docs/performance.md).
    structlog.configure(
        processors=[
            _at_level,
            *shared,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
        logger_factory=lambda *args: _Lines(args[0] if args else ""),
        wrapper_class=structlog.make_filtering_bound_logger(logging.NOTSET),
        cache_logger_on_first_use=True,
    )
    # The libraries' records (uvicorn, alembic, asyncpg) through the stdlib, rendered alike.
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                structlog.processors.JSONRenderer(),
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # The access line is ours (method, route template, status, duration, request id);
    # uvicorn's would repeat it with the raw path and query string, which carry phone
    # numbers and secret tokens. httpx logs every URL it calls at INFO, for the same reason
    # only its warnings come through.
    logging.getLogger("uvicorn.access").disabled = True
    for chatty in ("httpx", "httpcore"):
        logging.getLogger(chatty).setLevel(logging.WARNING)
