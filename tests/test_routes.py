"""The routers are tried hot paths first: that is safe only while no two routes overlap."""

import re

from app.core.bounded_json import BoundedJsonRoute
from app.core.fast_route import FastRoute
from app.main import DOCUMENTED_ORDER, MATCHING_ORDER


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


def test_every_router_is_matched_and_documented_once() -> None:
    assert sorted(map(id, MATCHING_ORDER)) == sorted(map(id, DOCUMENTED_ORDER))
    assert len(set(map(id, DOCUMENTED_ORDER))) == len(DOCUMENTED_ORDER)


def test_every_route_reads_json_within_the_depth_bound() -> None:
    """Or takes no body at all: a fast route refuses one when the app is built."""
    routes = [route for router in DOCUMENTED_ORDER for route in router.routes]
    assert routes and all(isinstance(route, BoundedJsonRoute | FastRoute) for route in routes)
