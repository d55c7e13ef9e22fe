"""The app's routes found by their path in a table, in front of FastAPI's router.

FastAPI's router finds a request's route by asking each included router in turn, and each
of those each of its routes, whether it matches: several Python calls a route, and the
selected router's routes asked twice. For a route declared late that walk was the
costliest step of a request before its endpoint (70 µs for ``/v1/identify``, 190 µs for a
timeline page on a slow machine: docs/performance.md, "Measurements behind the code").

The table answers the same question from the first two segments of the path: the routes a
path starting with them can match, in the router's order, each tried with its own regular
expression, the first that matches with the request's method taken, as the router takes
it. A route found so is served as the router serves it (the same scope, the route's own
ASGI app, behind the same middleware and exception handlers). Whatever else can happen to
a request (no route, a method not allowed, a mount, a trailing slash redirected) is left
to the router, which sees the request as before.

The table reads FastAPI's routes where FastAPI keeps them (its private names, imported
here alone): FastAPI is pinned (constraints.txt), and tests/core/test_path_table.py
fails if an upgrade changes what the router would choose.
"""

import operator
import re
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from fastapi.routing import (
    _FASTAPI_EFFECTIVE_ROUTE_CONTEXT_KEY,
    APIRoute,
    APIRouter,
    _EffectiveRouteContext,
    _get_fastapi_scope,
    _IncludedRouter,
)
from fastapi.telemetry._api import _route_selected
from starlette._utils import get_route_path
from starlette.convertors import Convertor
from starlette.routing import BaseRoute, WebSocketRoute
from starlette.types import ASGIApp, Receive, Scope, Send

# Matches every path: a route whose paths the table cannot tell sends them all to the router.
_EVERY_PATH = re.compile("")


@dataclass(frozen=True, slots=True)
class _Entry:
    regex: re.Pattern[str]
    methods: frozenset[str] | None  # None: any method
    # The route the table serves, with its path's convertors; None: a route the router
    # serves (a path it matches goes to the router).
    context: _EffectiveRouteContext | None = None
    convertors: dict[str, Convertor[Any]] | None = None


def _key(path: str) -> str:
    """The first two segments of a path (``/v1/customers`` of ``/v1/customers/…``)."""
    return "/".join(path.split("/", 3)[:3])


def _route_key(path_format: str) -> str | None:
    """The key of every path a route matches, None when they do not share one (a parameter
    among its first two segments)."""
    key = _key(path_format)
    return None if "{" in key else key


class PathTable:
    """The router's choice of route for a path, made by a look-up (module docstring)."""

    def __init__(self, router: APIRouter) -> None:
        self.router = router
        self._version: tuple[int, tuple[int, ...]] | None = None
        self._routers: tuple[APIRouter, ...] = ()
        self._by_key: dict[str, tuple[_Entry, ...]] = {}
        self._anywhere: tuple[_Entry, ...] = ()

    def _build(self) -> None:
        keyed: list[tuple[str | None, _Entry]] = []
        for route in self.router.routes:
            if isinstance(route, _IncludedRouter):
                keyed.extend(map(_entry, route.effective_route_contexts()))
            else:
                keyed.append(_entry(route))
        included = [route for route in self.router.routes if isinstance(route, _IncludedRouter)]
        if self.router.form_limits or any(route.include_context.form_limits for route in included):
            raise TypeError("the path table does not apply form limits")
        routers = [self.router, *(route.original_router for route in included)]
        if any(router.middleware_stack != router.app for router in routers):
            raise TypeError("the path table does not run a router's own middleware")
        # Each key's routes with those of no key, in the router's order.
        self._anywhere = tuple(entry for key, entry in keyed if key is None)
        self._by_key = {
            key: tuple(entry for other, entry in keyed if other in (key, None))
            for key in {key for key, _ in keyed if key is not None}
        }
        self._routers = _routers(self.router)
        self._version = self._routes_version()

    def _routes_version(self) -> tuple[int, tuple[int, ...]]:
        """The sum of the counters of the routers the table was built from, and the length
        of each one's routes: each counter counts the routes and routers added to it, so a
        route added to any of them, or a router included in one, moves the sum; a router
        taken out of one's routes (no counter moves, but FastAPI's walk no longer reaches
        its counter) shortens them. FastAPI's ``_get_routes_version`` adds the counters of
        the routers it reaches by walking every route of every router, 13 µs a request."""
        routers = self._routers
        return sum(map(_ROUTES_VERSION, routers)), tuple(map(len, map(_ROUTES, routers)))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            if self._version != self._routes_version():
                self._build()
            path = get_route_path(scope)
            for entry in self._by_key.get(_key(path), self._anywhere):
                found = entry.regex.match(path)
                if found is None:
                    continue
                if entry.context is None:
                    break
                if entry.methods is not None and scope["method"] not in entry.methods:
                    continue  # the router would go on looking, and answer 405 if in vain
                assert entry.convertors is not None
                await self._serve(entry.context, entry.convertors, found, scope, receive, send)
                return
        await self.router(scope, receive, send)

    async def _serve(
        self,
        context: _EffectiveRouteContext,
        convertors: dict[str, Convertor[Any]],
        found: re.Match[str],
        scope: Scope,
        receive: Receive,
        send: Send,
    ) -> None:
        """What the router does with the route it chose, and the route's app."""
        # (The router adds them to those of the scope: at the app's top there are none.)
        path_params = {
            name: convertors[name].convert(value) for name, value in found.groupdict().items()
        }
        if "router" not in scope:
            scope["router"] = self.router
        scope["endpoint"] = context.endpoint
        scope["path_params"] = path_params
        scope["route"] = context.original_route
        _route_selected(scope=scope, path=context.path_format)
        _get_fastapi_scope(scope)[_FASTAPI_EFFECTIVE_ROUTE_CONTEXT_KEY] = context
        assert context.app is not None
        await context.app(scope, receive, send)


_ROUTES_VERSION = operator.attrgetter("_routes_version")
_ROUTES = operator.attrgetter("routes")


def _routers(router: APIRouter) -> tuple[APIRouter, ...]:
    """``router`` and every router included in it, each once."""
    found: dict[int, APIRouter] = {}
    waiting = [router]
    while waiting:
        current = waiting.pop()
        if id(current) not in found:
            found[id(current)] = current
            waiting.extend(
                route.original_router
                for route in current.routes
                if isinstance(route, _IncludedRouter)
            )
    return tuple(found.values())


def _entry(route: BaseRoute | _EffectiveRouteContext) -> tuple[str | None, _Entry]:
    """A route's key and entry: served by the table if it is an API route of an included
    router, else one whose paths go to the router."""
    original = route.original_route if isinstance(route, _EffectiveRouteContext) else route
    if isinstance(original, WebSocketRoute):  # never matches an HTTP request
        return None, _Entry(re.compile(r"(?!)"), None)
    if isinstance(route, _EffectiveRouteContext) and isinstance(original, APIRoute):
        methods = frozenset(route.methods) if route.methods else None
        entry = _Entry(route.path_regex, methods, route, route.param_convertors)
        return _route_key(route.path_format), entry
    served = route.starlette_route if isinstance(route, _EffectiveRouteContext) else route
    regex = getattr(served, "path_regex", None)
    path_format = getattr(served, "path_format", None)
    if regex is None or path_format is None:
        return None, _Entry(_EVERY_PATH, None)
    return _route_key(path_format), _Entry(regex, None)


class PathRoutedApp(FastAPI):
    """FastAPI with a :class:`PathTable` in front of its router: every middleware and
    exception handler as FastAPI builds them, the table where the router was."""

    def build_middleware_stack(self) -> ASGIApp:
        stack = super().build_middleware_stack()
        innermost: Any = stack
        while innermost.app is not self.router:
            innermost = innermost.app
        innermost.app = PathTable(self.router)
        return stack
