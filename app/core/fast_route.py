"""The one way to write a route on a hot path: ``@fast_get(router, path, ...)``, or
``@fast_post`` for one that reads its request body itself (a webhook receiver).

A fast route is declared exactly as any route (parameters, dependencies, response model,
responses), so the OpenAPI document describes it the same way; only how a request is
served differs. FastAPI solves a route's dependencies anew for every request (a fifth of a
screen-pop's time), computing for each one a cache key that calls ``inspect.unwrap``, and
validates the returned model again before serialising it. A fast route walks its
dependency tree once, when the route is built, into a flat plan; each request runs the
plan's steps in order, reading each step's parameters as FastAPI does (what FastAPI works
out from each field on every request worked out once) and validating them with its own
function, and serialises the returned model as its response model without validating it
again.

What it asks of the endpoint, checked when the route is built: no body parameter (a POST
reads ``request.body()`` itself and describes it with ``openapi_extra``), every dependency a
coroutine or an async generator, no background tasks nor security scopes, and no response
model options; the endpoint returns an instance of its response model, or a Response.
Measured in docs/performance.md ("The read hot paths at the hardware's pace").
"""

import inspect
from collections.abc import Callable, Coroutine
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from fastapi import APIRouter, Request, Response
from fastapi._compat import ModelField, Undefined, field_annotation_is_sequence
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import (
    _get_param_aliases,
    _get_param_model,
    _is_json_field,
    _validate_value_with_model_field,
    get_dependant,
    request_params_to_args,
)
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute, _effective_route_context_var
from pydantic import BaseModel

Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])


def fast_get(router: APIRouter, path: str, **options: Any) -> Callable[[Endpoint], Endpoint]:
    """``router.get(path, **options)`` for a route on a hot path (a :class:`FastRoute`)."""
    return _fast(router, "GET", path, options)


def fast_post(router: APIRouter, path: str, **options: Any) -> Callable[[Endpoint], Endpoint]:
    """``router.post(path, **options)`` for a route on a hot path that reads its body itself."""
    return _fast(router, "POST", path, options)


def _fast(
    router: APIRouter, method: str, path: str, options: dict[str, Any]
) -> Callable[[Endpoint], Endpoint]:
    def add(endpoint: Endpoint) -> Endpoint:
        router.add_api_route(
            path, endpoint, methods=[method], route_class_override=FastRoute, **options
        )
        return endpoint

    return add


@dataclass
class _Step:
    """One call of the plan: a dependency, or the endpoint (the last step)."""

    call: Callable[..., Any]
    # An async generator's context manager, entered on the request's exit stack.
    context: Callable[..., AbstractAsyncContextManager[Any]] | None
    function_scope: bool  # closed when the endpoint returns, before the answer is sent
    dependencies: list[tuple[str, int]] = field(default_factory=list)  # (argument, step)
    params: list[tuple[str, "_Params"]] = field(default_factory=list)  # (where, its params)
    request_names: tuple[str, ...] = ()  # the arguments that take the request
    takes_response: bool = False  # (the endpoint's) some step sets the answer's headers
    response_name: str | None = None


def _plan(dependant: Dependant, overrides: dict[Any, Any]) -> list[_Step]:
    """The steps that solve ``dependant``, each dependency before whoever takes it, each
    (cacheable) dependency once."""
    steps: list[_Step] = []
    solved: dict[Any, int] = {}

    def visit(node: Dependant) -> int:
        call = node.call
        assert call is not None
        if call in overrides:
            call = overrides[call]
            node = get_dependant(path=node.path or "", call=call, name=node.name, scope=node.scope)
        if node.use_cache and call in solved:
            return solved[call]
        unsupported = (
            node.body_params or node.background_tasks_param_name or node.security_scopes_param_name
        )
        if unsupported or node.websocket_param_name:
            raise TypeError(f"a fast route cannot solve {call!r}: no body, tasks or scopes")
        generator = _is_async_generator(call)
        if not generator and not _is_coroutine(call):
            raise TypeError(f"a fast route's dependencies are async: {call!r}")
        context = asynccontextmanager(call) if generator else None
        step = _Step(call, context, node.scope == "function")
        step.dependencies = [(sub.name or "", visit(sub)) for sub in node.dependencies]
        step.params = [
            (where, _Params.of(where, fields))
            for where, fields in (
                ("path", node.path_params),
                ("query", node.query_params),
                ("header", node.header_params),
                ("cookie", node.cookie_params),
            )
            if fields
        ]
        step.request_names = tuple(
            name for name in (node.request_param_name, node.http_connection_param_name) if name
        )
        step.response_name = node.response_param_name
        steps.append(step)
        solved[call] = len(steps) - 1
        return solved[call]

    visit(dependant)
    steps[-1].takes_response = any(step.response_name for step in steps)
    return steps


@dataclass(frozen=True, slots=True)
class _Param:
    """One parameter as ``request_params_to_args`` reads it, with what that function works
    out from the field on every request (its aliases, whether it is a parameter model or a
    sequence: ``typing`` introspection) worked out once. Identify's three query parameters
    were read in 26-31 µs by FastAPI's function, 5.5 µs so."""

    field: ModelField
    key: str  # the request key it is read from
    location: str  # the error's first ``loc`` item
    listed: bool  # a sequence: read with ``getlist`` from a query string or headers
    sequence: bool  # a sequence: empty is absent


class _Params:
    """The parameters of one step found in one part of the request (path, query, header,
    cookie), read and validated as FastAPI's ``request_params_to_args`` does: the same
    values, the same errors (tests/core/test_fast_route.py compares the two)."""

    def __init__(self, fields: list[ModelField], params: list[_Param] | None) -> None:
        self.fields = fields
        # None: a parameter model, or a parameter of several keys (AliasChoices): read by
        # FastAPI's function.
        self._params = params

    @classmethod
    def of(cls, where: str, fields: list[ModelField]) -> "_Params":
        keys = [[key for _, key in _get_param_aliases(f)] for f in fields]
        if any(
            _get_param_model(f) is not None or len(k) > 1 for f, k in zip(fields, keys, strict=True)
        ):
            return cls(fields, None)
        multi = where in ("query", "header")  # a QueryParams or Headers: lists read whole
        params = []
        for f, [key] in zip(fields, keys, strict=True):
            sequence = field_annotation_is_sequence(f.field_info.annotation)
            params.append(
                _Param(
                    field=f,
                    key=key,
                    location=f.field_info.in_.value,  # type: ignore[attr-defined]
                    listed=multi and sequence and not _is_json_field(f),
                    sequence=sequence,
                )
            )
        return cls(fields, params)

    def read(self, received: Any) -> tuple[dict[str, Any], list[Any]]:
        """The values of the parameters found valid, and the errors of the others."""
        if self._params is None:
            return request_params_to_args(self.fields, received)
        values: dict[str, Any] = {}
        errors: list[Any] = []
        for param in self._params:
            key = param.key
            value = received.getlist(key) if param.listed else received.get(key)
            if value is None or (param.sequence and len(value) == 0):
                value = Undefined
            found, wrong = _validate_value_with_model_field(
                field=param.field, value=value, values=values, loc=(param.location, key)
            )
            if wrong:
                errors.extend(wrong)
            else:
                values[param.field.name] = found
        return values, errors


def _is_async_generator(call: Callable[..., Any]) -> bool:
    target = call if inspect.isroutine(call) else getattr(call, "__call__", None)  # noqa: B004
    return inspect.isasyncgenfunction(target)


def _is_coroutine(call: Callable[..., Any]) -> bool:
    target = call if inspect.isroutine(call) else getattr(call, "__call__", None)  # noqa: B004
    return inspect.iscoroutinefunction(target)


def _sub_response() -> Response:
    """What an endpoint's ``response: Response`` argument is, as FastAPI makes it: headers
    and a status the answer takes."""
    response = Response()
    del response.headers["content-length"]
    response.status_code = None  # type: ignore[assignment]
    return response


def _received(request: Request, where: str) -> Any:
    if where == "path":
        return request.path_params
    if where == "query":
        return request.query_params
    if where == "header":
        return request.headers
    return request.cookies


class FastRoute(APIRoute):
    """A route served by a plan of its dependencies made once (module docstring)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        # A router's route is built again where it is included, with the includer's
        # context (its dependency overrides among it), as APIRoute reads it here. The
        # context variable is FastAPI's private one: FastAPI is pinned (constraints.txt)
        # and tests/core/test_fast_route.py fails if an upgrade changes it.
        route: Any = self
        context = _effective_route_context_var.get()
        if context is not None and context.original_route is self:
            route = context
        options = (
            route.response_model_include,
            route.response_model_exclude,
            route.response_model_exclude_unset,
            route.response_model_exclude_defaults,
            route.response_model_exclude_none,
        )
        if any(options):
            raise TypeError(f"{self.path}: a fast route takes no response model options")
        model = route.response_model
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            raise TypeError(f"{self.path}: a fast route answers one pydantic model")
        dependant: Dependant = route.dependant
        # Made now, so that what a plan cannot serve stops the app from starting; one more
        # for each set of dependency overrides (tests) at its first request.
        plans: dict[tuple[Any, ...], list[_Step]] = {(): _plan(dependant, {})}
        provider = route.dependency_overrides_provider
        default_status = route.status_code or 200

        async def handle(request: Request) -> Response:
            overrides = getattr(provider, "dependency_overrides", None) or {}
            key = tuple(overrides.items())
            plan = plans.get(key)
            if plan is None:
                plan = plans[key] = _plan(dependant, overrides)
            stack: AsyncExitStack = request.scope["fastapi_inner_astack"]
            function_stack: AsyncExitStack = request.scope["fastapi_function_astack"]
            sub_response = _sub_response() if plan[-1].takes_response else None
            values: list[Any] = [None] * len(plan)
            failed: set[int] = set()
            errors: list[Any] = []
            for index, step in enumerate(plan):
                # As FastAPI: a step whose parameters or dependencies failed is not called,
                # and every parameter's error is reported.
                if failed and any(i in failed for _, i in step.dependencies):
                    failed.add(index)
                kwargs = {name: values[i] for name, i in step.dependencies}
                for where, params in step.params:
                    found, wrong = params.read(_received(request, where))
                    kwargs.update(found)
                    if wrong:
                        errors.extend(wrong)
                        failed.add(index)
                if index in failed:
                    continue
                for name in step.request_names:
                    kwargs[name] = request
                if step.response_name:
                    kwargs[step.response_name] = sub_response
                if step.context is not None:
                    on = function_stack if step.function_scope else stack
                    values[index] = await on.enter_async_context(step.context(**kwargs))
                else:
                    values[index] = await step.call(**kwargs)
            if errors:
                raise RequestValidationError(errors)
            answer = values[-1]
            if isinstance(answer, Response):
                return answer
            if type(answer) is not model:
                raise TypeError(f"{self.path} answered {type(answer).__name__}, not {model}")
            response = Response(
                answer.__pydantic_serializer__.to_json(answer, by_alias=True),
                status_code=(sub_response and sub_response.status_code) or default_status,
                media_type="application/json",
            )
            if sub_response is not None:
                response.headers.raw.extend(sub_response.headers.raw)
            return response

        return handle
