"""The service's log lines: one JSON object a line, with the keys every line carries."""

import asyncio
import io
import json
import logging
import re
import uuid
from collections.abc import Callable
from contextlib import redirect_stdout
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import structlog

from app.core.logging import configure_logging, log_loop_exception

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


def logged(write: Callable[[], object]) -> list[dict[str, object]]:
    stream = io.StringIO()
    with redirect_stdout(stream):
        configure_logging("DEBUG")
    try:
        write()
    finally:
        configure_logging("INFO")
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_line_carries_its_values_the_level_the_logger_and_the_time_in_utc() -> None:
    before = datetime.now(UTC)
    structlog.contextvars.bind_contextvars(request_id="r-1")
    try:
        (line,) = logged(
            lambda: structlog.get_logger("app.access").info(
                "request", route="/healthz", status=200, duration_ms=0.25, name="Núñez ✓"
            )
        )
    finally:
        structlog.contextvars.clear_contextvars()
    after = datetime.now(UTC)
    timestamp = str(line.pop("timestamp"))
    assert TIMESTAMP.match(timestamp), timestamp
    at = datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    assert before - timedelta(microseconds=1) <= at <= after + timedelta(microseconds=1)
    assert line == {
        "request_id": "r-1",
        "route": "/healthz",
        "status": 200,
        "duration_ms": 0.25,
        "name": "Núñez ✓",
        "event": "request",
        "level": "info",
        "logger": "app.access",
    }


def test_a_value_json_cannot_hold_is_written_as_its_repr_and_a_library_s_record_alike() -> None:
    class Opaque:
        def __repr__(self) -> str:
            return "<opaque>"

    key = uuid.UUID(int=7)

    def write() -> None:
        structlog.get_logger("app.x").warning("odd", thing=Opaque(), key=key)
        logging.getLogger("some.library").warning("plain %s", "record")

    ours, theirs = logged(write)
    assert (ours["thing"], ours["key"], ours["level"]) == ("<opaque>", repr(key), "warning")
    assert (theirs["event"], theirs["logger"], theirs["level"]) == (
        "plain record",
        "some.library",
        "warning",
    )
    assert TIMESTAMP.match(str(theirs["timestamp"]))


def test_an_exception_is_logged_with_its_frames_and_types_never_its_message() -> None:
    """A message quotes what failed (pydantic's input_value: a caller's name), in a
    service's own line or a library's record alike."""

    personal = {"name": "Ana Núñez", "phone": "+34600111222"}

    def fail() -> None:
        try:
            raise KeyError(personal["phone"])
        except KeyError as exc:
            raise ValueError(f"input_value={personal['name']!r}") from exc

    def write() -> None:
        try:
            fail()
        except ValueError:
            structlog.get_logger("app.x").exception("failed")
            logging.getLogger("some.library").exception("failed too")

    ours, theirs = logged(write)
    for line in (ours, theirs):
        logged_exception = str(line["exception"])
        assert "Ana" not in logged_exception and "+34" not in logged_exception
        assert logged_exception.startswith("Traceback (most recent call last):")
        assert ", in fail\n" in logged_exception  # the frames
        outer, inner = logged_exception.split("which was raised while handling:")
        assert outer.rstrip().endswith("builtins.ValueError")
        assert inner.rstrip().endswith("builtins.KeyError")


async def test_what_no_task_awaited_is_logged_by_the_service_without_its_message() -> None:
    """asyncio's own line ("Task exception was never retrieved") writes the exception's
    repr, its message too, into its text; the handler the lifespan sets on the loop writes
    frames and type."""
    personal = "Ana Núñez +34600111222"
    loop = asyncio.get_running_loop()

    async def fails() -> None:
        raise ValueError(personal)

    task = loop.create_task(fails())
    await asyncio.sleep(0)
    context = {"message": "Task exception was never retrieved", "exception": task.exception()}
    kept = loop.get_exception_handler()
    loop.set_exception_handler(log_loop_exception)
    try:
        (line,) = logged(lambda: loop.call_exception_handler({**context, "future": task}))
    finally:
        loop.set_exception_handler(kept)
    assert personal not in json.dumps(line, ensure_ascii=False)
    assert (line["event"], line["what"], line["error"]) == (
        "event_loop_error",
        "Task exception was never retrieved",
        "ValueError",
    )
    assert str(line["exception"]).endswith("builtins.ValueError")


def test_a_value_utf_8_cannot_hold_still_makes_its_line() -> None:
    """A lone surrogate (from a client's escaped JSON) or bytes that are not UTF-8."""

    def write() -> None:
        structlog.get_logger("app.x").warning("odd", name="a\udc80b", raw=b"\xff")

    (line,) = logged(write)
    assert (line["name"], line["raw"], line["event"]) == ("a\udc80b", "b'\\xff'", "odd")


def test_a_line_separator_in_a_value_keeps_the_line_whole() -> None:
    """U+2028, U+2029 and U+0085 are line breaks to ``str.splitlines``: written escaped."""

    def write() -> None:
        structlog.get_logger("app.x").warning("odd", detail="Núñez\u2028order\x85x\u2029")

    stream = io.StringIO()
    with redirect_stdout(stream):
        configure_logging("DEBUG")
    try:
        write()
    finally:
        configure_logging("INFO")
    (text,) = stream.getvalue().splitlines()
    assert text.isascii()
    assert json.loads(text)["detail"] == "Núñez\u2028order\x85x\u2029"


def test_an_object_is_written_as_its_repr_never_field_by_field() -> None:
    """What an object keeps out of its repr (a secret) stays out of the log."""

    @dataclass
    class Credentials:
        user: str
        api_key: str = field(repr=False)

    (line,) = logged(
        lambda: structlog.get_logger("app.x").warning("odd", who=Credentials("u", "SECRET-KEY"))
    )
    assert "SECRET-KEY" not in json.dumps(line)
    assert "Credentials(user='u')" in str(line["who"])
