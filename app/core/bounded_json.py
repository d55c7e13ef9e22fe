"""JSON read within a nesting bound, for bodies from outside.

``json.loads`` recurses once per level: a body of 100,000 ``[`` raises RecursionError from
the parser, and one nested a few hundred deep parses but then breaks whatever walks it
(a merge patch, the JSON encoder storing it, a model validating it). No payload this
service reads nests past a dozen levels (a Shopify order: 6), so 64 is far above any
platform's and far below Python's recursion limit.
"""

import json
import re
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

MAX_JSON_DEPTH = 64


class JsonTooDeep(ValueError):
    """The document nests containers deeper than the bound."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the JSON nests deeper than {limit} levels")


class NotJson(ValueError):
    """What Python's parser reads but RFC 8259 does not allow: ``NaN``, ``Infinity`` (which
    became null on the way to the database), an integer longer than Python converts, a
    string with half a surrogate pair (``"\\ud800"``: text no encoding can write, which
    failed as a 500 where it was stored or encoded again; pydantic's parser refuses it).
    ``where``: the path in the document, when known."""

    def __init__(self, message: str, where: tuple[str | int, ...] = ()) -> None:
        super().__init__(message)
        self.where = where


def _no_constant(name: str) -> Any:
    raise NotJson(f"{name} is not a JSON value")


def loads(
    raw: bytes | str,
    *,
    max_depth: int = MAX_JSON_DEPTH,
    half_surrogates: bool = False,
    **options: Any,
) -> Any:
    """``json.loads`` that raises JsonTooDeep (a ValueError) past ``max_depth`` levels of
    arrays and objects and NotJson (another) for what RFC 8259 does not allow; other
    malformed input raises as ``json.loads`` does. ``half_surrogates``: a string may hold
    half a surrogate pair (a webhook's proof read from a body that is kept failed after)."""
    options.setdefault("parse_constant", _no_constant)
    try:
        value = json.loads(raw, **options)
    except RecursionError:
        raise JsonTooDeep(max_depth) from None
    except (json.JSONDecodeError, UnicodeDecodeError, NotJson):
        raise
    except ValueError as exc:  # an integer past sys.get_int_max_str_digits()
        raise NotJson(str(exc)) from None
    if _deeper_than(value, max_depth):
        raise JsonTooDeep(max_depth)
    where = None if half_surrogates else _unpaired_surrogate(raw, value)
    if where is not None:
        raise NotJson("a string holds half a surrogate pair, which is not text", where)
    return value


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether ``value`` nests more than ``limit`` arrays and objects, walked one level at
    a time (no recursion; each container visited once: linear in the body, as
    docs/performance.md measured)."""
    level = [value] if type(value) in _CONTAINERS else []
    depth = 0
    while level:
        depth += 1
        if depth > limit:
            return True
        level = [
            child
            for node in level
            for child in (node.values() if type(node) is dict else node)
            if type(child) in _CONTAINERS
        ]
    return False


_CONTAINERS = (dict, list)  # what json.loads builds
# Half a surrogate pair reaches a parsed document as an escape, or as the UTF-8 bytes of
# one (json.loads reads bytes with "surrogatepass"); a pair's two halves become one
# character, so what is left of a surrogate is unpaired.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]|[\ud800-\udfff]")
_SURROGATE_BYTES = re.compile(rb"\\u[dD][89a-fA-F]|\xed[\xa0-\xbf]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_WALKED = (str, dict, list)


def _not_text(value: Any) -> None:
    """What ``parse_float`` or ``parse_int`` built (a Decimal): encoded as null, since only
    strings are asked about (without it, a TypeError: a signed delivery's 500)."""
    return None


def _unpaired_surrogate(raw: bytes | str, value: Any) -> tuple[str | int, ...] | None:
    """Where ``value`` holds half a surrogate pair: the path of the string, or of the
    object whose key holds it; None if nowhere. Only a document whose text may have
    written one is looked at (UTF-16 and UTF-32 ones always), by encoding it once (in C);
    only one that holds one is walked, to name the place."""
    if isinstance(raw, str):
        may = _SURROGATE_ESCAPE.search(raw) is not None
    else:  # UTF-16 and UTF-32: a NUL in the first four bytes, as json.loads reads them
        may = b"\x00" in raw[:4] or _SURROGATE_BYTES.search(raw) is not None
    if not may:
        return None
    try:
        json.dumps(value, ensure_ascii=False, default=_not_text).encode("utf-8")
        return None
    except UnicodeEncodeError:
        pass
    path: list[str | int] = []
    todo: list[tuple[int, str | int, Any]] = [(0, "", value)]  # (depth, key, node)
    while todo:
        depth, key, node = todo.pop()
        if depth:
            del path[depth - 1 :]
            path.append(key)
        if type(node) is str:
            if _SURROGATE.search(node):
                return tuple(path)
        elif type(node) is dict:
            if any(_SURROGATE.search(name) for name in node):
                return tuple(path)
            todo.extend(
                (depth + 1, name, child)
                for name, child in reversed(node.items())
                if type(child) in _WALKED
            )
        elif type(node) is list:
            todo.extend(
                (depth + 1, n, child)
                for n, child in reversed(list(enumerate(node)))
                if type(child) in _WALKED
            )
    return ()


class BoundedJsonRequest(Request):
    """A request whose JSON body is read with :func:`loads`."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = loads(await self.body())
        return self._json


class BoundedJsonRoute(APIRoute):
    """An API route whose JSON body is read within MAX_JSON_DEPTH: a deeper one is a 422
    naming the body (FastAPI's own parse took any depth its parser reached, then pydantic
    failed to serialise a payload nested ~200 deep: a 500)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def bounded(request: Request) -> Response:
            return await handler(BoundedJsonRequest(request.scope, request.receive))

        return bounded
