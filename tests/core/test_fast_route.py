"""A fast route answers what the same declaration answers under FastAPI's own handling, and
refuses, when built, what its plan cannot serve."""

from collections.abc import AsyncIterator
from typing import Annotated

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI, Header, HTTPException, Query, Request, Response
from fastapi.dependencies.utils import request_params_to_args
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import AliasChoices, BaseModel, Field
from starlette.datastructures import Headers, QueryParams

from app.core.fast_route import FastRoute, _plan, fast_get, fast_post
from app.main import DOCUMENTED_ORDER

closed: list[str] = []


class Answer(BaseModel):
    word: str
    times: int
    caller: str


async def caller(x_caller: Annotated[str | None, Header()] = None) -> str:
    if x_caller is None:
        raise HTTPException(401, "who?")
    return x_caller


async def resource() -> AsyncIterator[str]:
    yield "held"
    closed.append("closed")


Caller = Annotated[str, Depends(caller)]
Resource = Annotated[str, Depends(resource, scope="function")]


async def repeat(
    word: str,
    who: Caller,
    held: Resource,
    response: Response,
    times: Annotated[int, Query(ge=1, le=3)] = 1,
    again: Caller = "",
    upto: Annotated[list[int] | None, Query(alias="max")] = None,
    search: Annotated[
        str | None, Query(validation_alias=AliasChoices("q", "query"), max_length=3)
    ] = None,
) -> Answer | Response:
    if word == "raw":
        return Response("raw", status_code=299)
    response.headers["X-Held"] = held
    if word == "created":
        response.status_code = 201
    return Answer(word=word * times, times=times, caller=who + again)


async def echo(word: str, request: Request, who: Caller) -> Response:
    """A POST that reads its body itself, as a webhook receiver does."""
    body = await request.body()
    return Response(f"{who} {word} {body.decode()}", status_code=202 if body else 200)


class Window(BaseModel):
    """Query parameters taken as one model (FastAPI reads them with its own function)."""

    first: int = Field(0, ge=0)
    last: int | None = None


async def window(
    who: Caller,
    span: Annotated[Window, Query()],
    tags: Annotated[list[str] | None, Query(alias="tag")] = None,
) -> Answer:
    return Answer(word=",".join(tags or []), times=span.first, caller=who)


def build() -> FastAPI:
    slow, fast = APIRouter(), APIRouter()
    slow.get("/slow/{word}", response_model=Answer)(repeat)
    fast_get(fast, "/fast/{word}", response_model=Answer)(repeat)
    slow.get("/slow/window/of", response_model=Answer)(window)
    fast_get(fast, "/fast/window/of", response_model=Answer)(window)
    slow.post("/slow/echo/{word}", response_model=Answer)(echo)
    fast_post(fast, "/fast/echo/{word}", response_model=Answer)(echo)
    app = FastAPI()
    app.include_router(slow)
    app.include_router(fast)
    return app


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/hola?times=2", {"X-Caller": "ana"}),
        ("/hola", {"X-Caller": "ana"}),
        ("/hola?times=9", {"X-Caller": "ana"}),  # 422 naming the parameter
        ("/hola?times=x&times=0", {"X-Caller": "ana"}),
        ("/hola?max=1&max=x&upto=2", {"X-Caller": "ana"}),
        ("/hola?query=long&q=ok", {"X-Caller": "ana"}),
        ("/hola?times=9", {}),  # the dependency's 401 comes before the parameter's 422
        ("/created", {"X-Caller": "ana"}),
        ("/raw", {"X-Caller": "ana"}),
        ("/window/of?first=2&last=&tag=a&tag=b", {"X-Caller": "ana"}),
        ("/window/of?first=-1&tag=", {"X-Caller": "ana"}),
    ],
)
async def test_a_fast_route_answers_as_the_same_route_under_fastapi(
    path: str, headers: dict[str, str]
) -> None:
    transport = httpx.ASGITransport(app=build())
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        slow = await client.get("/slow" + path, headers=headers)
        fast = await client.get("/fast" + path, headers=headers)
    assert fast.status_code == slow.status_code
    assert fast.content == slow.content
    assert fast.headers.get("x-held") == slow.headers.get("x-held")
    assert fast.headers.get("content-type") == slow.headers.get("content-type")


@pytest.mark.parametrize(
    ("body", "headers"),
    [(b"hola", {"X-Caller": "ana"}), (b"", {"X-Caller": "ana"}), (b"hola", {})],
)
async def test_a_fast_post_answers_as_the_same_route_under_fastapi(
    body: bytes, headers: dict[str, str]
) -> None:
    transport = httpx.ASGITransport(app=build())
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        slow = await client.post("/slow/echo/a", content=body, headers=headers)
        fast = await client.post("/fast/echo/a", content=body, headers=headers)
    assert (fast.status_code, fast.content) == (slow.status_code, slow.content)
    assert fast.headers.get("content-type") == slow.headers.get("content-type")


async def test_a_generator_dependency_is_closed_before_the_answer_is_sent() -> None:
    closed.clear()
    transport = httpx.ASGITransport(app=build())
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        assert (await client.get("/fast/a", headers={"X-Caller": "ana"})).status_code == 200
    assert closed == ["closed"]


async def test_the_document_describes_both_alike() -> None:
    paths = build().openapi()["paths"]
    for method, slow_path, fast_path in (
        ("get", "/slow/{word}", "/fast/{word}"),
        ("post", "/slow/echo/{word}", "/fast/echo/{word}"),
    ):
        slow, fast = paths[slow_path][method], paths[fast_path][method]
        for operation in (slow, fast):
            del operation["operationId"]
        assert fast == slow


def test_what_a_plan_cannot_serve_is_refused_when_the_app_is_built() -> None:
    def plain() -> str:  # a plain function FastAPI would run in a thread
        return ""

    async def uses_plain(value: Annotated[str, Depends(plain)]) -> Answer:
        return Answer(word=value, times=1, caller="")

    async def takes_body(body: Answer) -> Answer:
        return body

    async def no_model(word: str) -> dict[str, str]:
        return {"word": word}

    for endpoint, expected in (
        (uses_plain, "async"),
        (takes_body, "no body"),
        (no_model, "pydantic model"),
    ):
        router = APIRouter()
        with pytest.raises(TypeError, match=expected):
            fast_get(router, "/x")(endpoint)
            FastAPI().include_router(router)


async def test_an_answer_of_another_type_is_an_error_not_another_body() -> None:
    class Other(BaseModel):
        word: str

    async def wrong(word: str) -> Answer:
        return Other(word=word)  # type: ignore[return-value]

    router = APIRouter()
    fast_get(router, "/wrong/{word}", response_model=Answer)(wrong)
    app = FastAPI()
    app.include_router(router)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        assert (await client.get("/wrong/a")).status_code == 500


def _fast_routes() -> list[FastRoute]:
    routers = [*DOCUMENTED_ORDER, build().router]
    return [route for router in routers for route in router.routes if isinstance(route, FastRoute)]


# Each fast route's parameters, by where they are read: the service's and this file's.
_PARAMS = [
    (where, params)
    for route in _fast_routes()
    for step in _plan(route.dependant, {})
    for where, params in step.params
]
_KEYS = sorted({key for _, params in _PARAMS for f in params.fields for key in (f.alias, f.name)})
_VALUES = st.sampled_from(
    ["", " ", "0", "-1", "3", "50", "201", "x", "true", "no", "support", "+33600000002",
     "33612345678", "ana@example.com", "shop:order:1", "2026-04-14T10:05:14Z", "2026-13-01",
     "call.*", "email", "Bearer k", "1,2", "01a23734-57e5-7085-9516-891f4690e786", "\u00e9\u00f1"]
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(
    index=st.integers(min_value=0, max_value=len(_PARAMS) - 1),
    pairs=st.lists(st.tuples(st.sampled_from(_KEYS) | st.text(max_size=3), _VALUES), max_size=6),
)
def test_parameters_are_read_as_fastapi_reads_them(
    index: int, pairs: list[tuple[str, str]]
) -> None:
    """Every fast route's parameters, given any keys and values where they are read: the
    same values and the same errors as FastAPI's own ``request_params_to_args``."""
    where, params = _PARAMS[index]
    received: object
    if where == "query":
        received = QueryParams(pairs)
    elif where == "header":
        raw = [(k.lower().encode(), v.encode()) for k, v in pairs if k.isascii() and v.isascii()]
        received = Headers(raw=raw)
    else:
        received = dict(pairs)
    # ``repr``: an error's context may hold the exception a validator raised.
    assert repr(params.read(received)) == repr(request_params_to_args(params.fields, received))
