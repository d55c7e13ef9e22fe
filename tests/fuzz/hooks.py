"""Schemathesis hooks for the fuzz run: NDJSON, the body of `POST /v1/events/bulk`, and
parsing serialised across schemathesis' worker threads.

Loaded by the `st run` that tests/fuzz/test_fuzz.py starts (SCHEMATHESIS_HOOKS).
"""

import ast
import json
import threading
from typing import Any

import schemathesis
from schemathesis.core.deserialization import DeserializationContext
from schemathesis.core.transport import Response
from schemathesis.transport import SerializationContext


@schemathesis.serializer("application/x-ndjson")
def ndjson_lines(ctx: SerializationContext, value: Any) -> bytes:
    """The spec declares the body as NDJSON text (one IdentifiedEventIn per line, in
    `x-line-schema`): a generated text is sent as it is, any other value as one line."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    return json.dumps(value).encode() + b"\n"


@schemathesis.deserializer("application/x-ndjson")
def ndjson_results(ctx: DeserializationContext, response: Response) -> Any:
    """The answer is NDJSON text, as declared; each of its lines must be a result object
    numbered in order with a documented status (BulkLineResult), or this fails."""
    text = response.content.decode()
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]
    for number, result in enumerate(lines, start=1):
        if not isinstance(result, dict) or result.get("line") != number:
            raise AssertionError(f"result line {number} is not numbered {number}: {result}")
        if result.get("status") not in ("created", "duplicate", "error"):
            raise AssertionError(f"result line {number} has no documented status: {result}")
    return text


# Python 3.11's AST constructor counts its recursion depth in state that every thread
# shares (CPython gh-106905): two workers parsing at once (hypothesis parses a lambda's
# source to name a filtered strategy) failed a run with "SystemError: AST constructor
# recursion depth mismatch". One parse at a time.
_parse = ast.parse
_parsing = threading.Lock()


def _one_parse_at_a_time(*args: Any, **kwargs: Any) -> Any:
    with _parsing:
        return _parse(*args, **kwargs)


ast.parse = _one_parse_at_a_time
