"""JSON-lines logging through structlog, with the request id in every line."""

import asyncio
import json
import logging
import sys
import time
import traceback
from datetime import UTC, datetime
from typing import Any, TextIO

import pydantic_core
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


def logs_info() -> bool:
    """Whether lines at INFO are written: a caller on a hot path (the access line) asks
    first, as a line dropped at the level still costs structlog's call and copies."""
    return _output["level"] <= logging.INFO


def _at_level(_logger: Any, method: str, event: Any) -> Any:
    if _LEVELS.get(method, logging.ERROR) < _output["level"]:
        raise structlog.DropEvent
    return event


class _Timestamp:
    """The time of a line in UTC as structlog's ``TimeStamper(fmt="iso", utc=True)`` writes
    it, always with its microseconds, ``Z`` for UTC; the date and time of the current
    second formatted once a second, not for every line."""

    def __init__(self) -> None:
        # The second and its text together, replaced as one: a thread never pairs one
        # second's number with another's text.
        self._current = (-1, "")

    def __call__(self, _logger: Any, _method: str, event: Any) -> Any:
        now = time.time()
        second = int(now)
        current = self._current
        if current[0] != second:
            current = (second, datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S"))
            self._current = current
        event["timestamp"] = f"{current[1]}.{int((now - second) * 1_000_000):06d}Z"
        return event


# The values the service's own lines carry (the access line's are all of these).
_PLAIN = frozenset({str, int, float, bool, type(None)})


def _json(event: Any, **options: Any) -> str:
    """A line's JSON: structlog's own (``json.dumps`` with its options, ASCII, anything
    else as its ``repr``; compact), built by pydantic's serialiser when the line holds plain
    values only and comes out ASCII, as every access line does: a third of the time of
    ``json.dumps``, which builds an encoder for each line. Anything else, pydantic would
    write otherwise (a dataclass's fields where ``json`` takes its ``repr``, a line
    separator unescaped), so ``json`` writes it as before."""
    if all(type(value) in _PLAIN for value in event.values()):
        try:
            line = pydantic_core.to_json(event)
        except pydantic_core.PydanticSerializationError:  # a lone surrogate
            pass
        else:
            if line.isascii():
                return line.decode()
    return json.dumps(event, **{"separators": (",", ":"), **options})


def _frames_and_types(exc_info: Any) -> str:
    """A logged exception: its traceback's frames and each chained exception's type, not
    their messages, which quote what they failed on (pydantic's ``input_value``, a
    database error's row: a customer's name, a token), and personal data never reaches the
    logs."""
    parts = []
    exc: BaseException | None = exc_info[1]
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        kind = type(exc)
        frames = "".join(traceback.format_tb(exc.__traceback__))
        parts.append(
            f"Traceback (most recent call last):\n{frames}{kind.__module__}.{kind.__qualname__}"
        )
        exc = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
    return "\n\nwhich was raised while handling:\n\n".join(parts)


_EXCEPTIONS = structlog.processors.ExceptionRenderer(_frames_and_types)


def log_loop_exception(_loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """The event loop's handler of what no task awaited ("Task exception was never
    retrieved"): asyncio's own line writes the exception's repr, message and all, into its
    text; this one its frames and type."""
    error = context.get("exception")
    structlog.get_logger("app.loop").error(
        "event_loop_error",
        what=str(context.get("message", "")),
        error=type(error).__name__ if error else None,
        exc_info=error if isinstance(error, BaseException) else False,
    )


def configure_logging(level: str = "INFO") -> None:
    """Send structlog and stdlib records to stdout (the stdout of the moment: a test's
    buffer) as JSON lines of the same keys."""
    _output.update(stream=sys.stdout, level=logging.getLevelNamesMapping()[level.upper()])
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.stdlib.add_logger_name,
        _Timestamp(),
    ]
    # The service's own lines (one per request) go from structlog straight to the stream:
    # through the stdlib's records, handler and formatter each took about three times as
    # long, most of /healthz's time (docs/performance.md).
    structlog.configure(
        processors=[
            _at_level,
            *shared,
            _EXCEPTIONS,
            structlog.processors.JSONRenderer(serializer=_json),
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
                _EXCEPTIONS,
                structlog.processors.JSONRenderer(serializer=_json),
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
