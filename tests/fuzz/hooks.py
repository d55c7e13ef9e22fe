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
    """The schema describes one line: each generated body is sent as a one-line import."""
    if isinstance(value, bytes):
        return value
    return json.dumps(value).encode() + b"\n"


@schemathesis.deserializer("application/x-ndjson")
def ndjson_results(ctx: DeserializationContext, response: Response) -> Any:
    """One result per line; a one-line import answers one line, validated as the schema's object.

    More lines come back as a list, which fails the one-line schema loudly.
    """
    results = [json.loads(line) for line in response.content.splitlines() if line.strip()]
    return results[0] if len(results) == 1 else results


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
