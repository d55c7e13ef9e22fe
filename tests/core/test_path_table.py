"""The path table chooses the route FastAPI's router would choose, for every route of the
app and for the requests at a router's edges (a method not allowed, a trailing slash, a
mount, a route declared earlier that matches the same path, a root path), and serves the
routes it finds without walking the router."""

import re
from typing import Any

import pytest
from fastapi import APIRouter, FastAPI, WebSocket
from fastapi.routing import _EffectiveRouteContext, _IncludedRouter
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route
from starlette.types import Message, Receive, Scope, Send

from app.core.path_table import PathRoutedApp, PathTable
from app.main import create_app


def _contexts(app: FastAPI) -> list[_EffectiveRouteContext]:
    return [
        context
        for route in app.router.routes
        if isinstance(route, _IncludedRouter)
        for context in route.effective_route_contexts()
    ]


def _recording(app: FastAPI) -> list[Any]:
    """Each API route of ``app`` replaced by one that records what it was called with."""
    calls: list[Any] = []
    for context in _contexts(app):

        async def record(
            scope: Scope, receive: Receive, send: Send, context: Any = context
        ) -> None:
            calls.append((context, scope["route"], scope["endpoint"], dict(scope["path_params"])))
            await PlainTextResponse("recorded")(scope, receive, send)

        context.app = record
    return calls


async def _answer(asgi: Any, method: str, path: str, root_path: str = "") -> tuple[Any, str]:
    """The status and location answered, or what was raised for the app's handlers."""
    scope = {
        "type": "http",
        "method": method,
        "path": root_path + path,
        "raw_path": (root_path + path).encode(),
        "root_path": root_path,
        "query_string": b"",
        "headers": [(b"host", b"t")],
        "scheme": "http",
        "server": ("t", 80),
    }
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    try:
        await asgi(scope, receive, send)
    except Exception as raised:  # a mount's 404, for the exception handlers
        return repr(raised), ""
    start = next(m for m in sent if m["type"] == "http.response.start")
    location = dict(start.get("headers", [])).get(b"location", b"").decode()
    return start["status"], location


def _requests(app: FastAPI) -> list[tuple[str, str, str]]:
    """For every route: its path filled in, with each of its methods and others, with and
    without a trailing slash; then paths no route or only a mount answers."""
    requests = []
    for context in _contexts(app):
        filled = re.sub(r"{[^}]+}", "a1", context.path_format)
        for method in [*sorted(context.methods or {"GET"}), "HEAD", "PATCH"]:
            requests += [(method, filled, ""), (method, filled + "/", ""), (method, filled, "/api")]
        requests.append(("GET", re.sub(r"{[^}]+}", "search", context.path_format), ""))
    elsewhere = ["/", "/nothing/here", "/v1/nothing", "/docs-assets/x.js", "/problems/not-found"]
    return [*requests, *(("GET", path, "") for path in elsewhere)]


def _walking(app: FastAPI) -> tuple[list[str], Any]:
    """The paths the app's router walks its routes for from now on (told apart from the
    table), and the router's own stack, which walks them unrecorded."""
    walked: list[str] = []
    router_stack = app.router.app

    async def walking(scope: Scope, receive: Receive, send: Send) -> None:
        walked.append(scope["path"])
        await router_stack(scope, receive, send)

    app.router.middleware_stack = app.router.app = walking  # type: ignore[method-assign]
    return walked, router_stack


async def _choices(app: FastAPI) -> None:
    calls = _recording(app)
    table = PathTable(app.router)
    walked, router_stack = _walking(app)
    requests = _requests(app)
    assert requests
    for method, path, root_path in requests:
        router_answer = await _answer(router_stack, method, path, root_path)
        router_call = calls[:]
        calls.clear()
        walked.clear()
        table_answer = await _answer(table, method, path, root_path)
        table_call = calls[:]
        calls.clear()
        assert (table_answer, table_call) == (router_answer, router_call), (method, path)
        # A route the router chose is found by the table alone.
        assert not (router_call and walked), (method, path)


async def test_the_table_chooses_as_the_router_for_every_route_of_the_service() -> None:
    await _choices(create_app())


def _tricky() -> FastAPI:
    """Routes whose order decides: an earlier route with a parameter matching a later
    literal path, a parameter in the first segments, plain routes, a mount, a websocket."""
    shadow, first, second, plain = APIRouter(), APIRouter(), APIRouter(), APIRouter()

    async def item(item: str) -> str:
        return item

    async def special() -> str:
        return "special"

    async def tenant(tenant: str) -> str:
        return tenant

    async def socket(websocket: WebSocket) -> None:
        await websocket.close()

    shadow.routes.append(Route("/v1/shadow/{x}", lambda request: PlainTextResponse("plain")))
    first.get("/{tenant}/items/special")(tenant)
    first.get("/v1/items/{item}")(item)
    first.get("/v1/shadow/one")(special)
    second.get("/v1/items/special")(special)
    second.post("/v1/items/special")(special)
    second.get("/{tenant}/v1/items")(tenant)
    second.websocket("/v1/items/live")(socket)
    plain.routes.append(Route("/v1/plain/{x}", lambda request: PlainTextResponse("plain")))
    app = PathRoutedApp()
    app.include_router(shadow)
    app.include_router(first)
    app.include_router(second)
    app.include_router(plain)
    app.router.routes.append(Mount("/v1/static", app=PlainTextResponse("static")))
    return app


async def test_the_table_chooses_as_the_router_where_the_order_decides() -> None:
    app = _tricky()
    await _choices(app)
    extra = [("GET", "/v1/items/special"), ("POST", "/v1/items/special"), ("GET", "/t/v1/items")]
    extra += [("GET", "/v1/plain/x"), ("GET", "/v1/static/x"), ("DELETE", "/v1/items/x")]
    extra += [("GET", "/v1/shadow/one"), ("GET", "/x/items/special")]
    for method, path in extra:
        assert await _answer(PathTable(app.router), method, path) == await _answer(
            app.router, method, path
        )


def test_what_the_table_cannot_apply_stops_the_app() -> None:
    app = PathRoutedApp()
    router = APIRouter()

    async def hello() -> str:
        return "hello"

    router.get("/hello")(hello)
    app.include_router(router, form_limits={"max_files": 1})
    with pytest.raises(TypeError, match="form limits"):
        PathTable(app.router)._build()


async def test_a_route_added_after_the_first_request_is_served_by_the_table() -> None:
    """The table is built at the first request and built again when a router it was built
    from gains a route or a router, at any depth, after the app included it: the new
    route is then found by the table, not by the router's walk."""
    app = PathRoutedApp()
    outer, inner = APIRouter(prefix="/v1"), APIRouter(prefix="/inner")

    async def hello() -> str:
        return "hello"

    outer.get("/hello")(hello)
    outer.include_router(inner)
    app.include_router(outer)
    walked, _ = _walking(app)
    assert await _answer(app, "GET", "/v1/hello") == (200, "")
    assert await _answer(app, "GET", "/v1/inner/late") == (404, "")
    assert walked == ["/v1/inner/late"]

    inner.get("/late")(hello)  # a route on a router included two levels down
    later = APIRouter(prefix="/later")
    later.get("/one")(hello)
    walked.clear()
    assert await _answer(app, "GET", "/v1/inner/late") == (200, "")
    inner.include_router(later)  # a router included into one already included
    assert await _answer(app, "GET", "/v1/inner/later/one") == (200, "")
    assert walked == []


async def test_a_router_taken_out_after_the_first_request_is_no_longer_served() -> None:
    """A router taken out of a router's ``routes`` (a test's or a plugin's way: FastAPI has
    no method for it) leaves the counters as they were, but FastAPI's router no longer
    finds its routes, at any depth: nor does the table."""

    async def hello() -> str:
        return "hello"

    def built(cls: type[FastAPI]) -> tuple[FastAPI, APIRouter]:
        app = cls()
        outer, inner = APIRouter(prefix="/v1"), APIRouter(prefix="/inner")
        outer.get("/hello")(hello)
        inner.get("/deep")(hello)
        outer.include_router(inner)
        app.include_router(outer)
        return app, outer

    for cls in (FastAPI, PathRoutedApp):
        app, outer = built(cls)
        assert await _answer(app, "GET", "/v1/hello") == (200, "")
        assert await _answer(app, "GET", "/v1/inner/deep") == (200, "")
        outer.routes.remove(next(r for r in outer.routes if isinstance(r, _IncludedRouter)))
        assert await _answer(app, "GET", "/v1/inner/deep") == (404, ""), cls
        assert await _answer(app, "GET", "/v1/hello") == (200, ""), cls
        app.router.routes.remove(
            next(r for r in app.router.routes if isinstance(r, _IncludedRouter))
        )
        assert await _answer(app, "GET", "/v1/hello") == (404, ""), cls
