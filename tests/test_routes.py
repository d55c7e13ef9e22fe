"""The routes as declared: none overlapping another, all reading bounded JSON, none waiting
for a worker thread."""

import inspect
import re

from app.core.bounded_json import BoundedJsonRoute
from app.core.fast_route import FastRoute
from app.main import DOCUMENTED_ORDER


def test_no_two_routes_match_the_same_request() -> None:
    routes = [route for router in DOCUMENTED_ORDER for route in router.routes]
    for route in routes:
        request_path = re.sub(r"\{[^}]+\}", "x1", route.path)
        matching = [
            other.path
            for other in routes
            if other.path_regex.match(request_path) and other.methods & route.methods
        ]
        assert matching == [route.path], f"{sorted(route.methods)} {request_path}: {matching}"


def test_every_router_is_included_and_documented_once() -> None:
    assert len(set(map(id, DOCUMENTED_ORDER))) == len(DOCUMENTED_ORDER)


def test_every_route_reads_json_within_the_depth_bound() -> None:
    """Or takes no body at all: a fast route refuses one when the app is built."""
    routes = [route for router in DOCUMENTED_ORDER for route in router.routes]
    assert routes and all(isinstance(route, BoundedJsonRoute | FastRoute) for route in routes)


def test_no_route_waits_for_a_worker_thread_to_solve_a_dependency() -> None:
    """FastAPI runs a plain-function dependency in its thread pool: a thread hop on every
    request (docs/performance.md measured it on the screen-pop and the webhooks)."""
    routes = [route for router in DOCUMENTED_ORDER for route in router.routes]
    plain = set()
    for route in routes:
        nodes = [route.dependant]
        while nodes:
            node = nodes.pop()
            nodes.extend(node.dependencies)
            call = node.call
            target = call if inspect.isroutine(call) else getattr(call, "__call__", None)  # noqa: B004
            if node is not route.dependant and not (
                inspect.iscoroutinefunction(target) or inspect.isasyncgenfunction(target)
            ):
                plain.add(getattr(call, "__qualname__", repr(call)))
    assert not plain, sorted(plain)
