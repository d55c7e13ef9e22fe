"""Every problem the service answers is one of its catalogue, shaped as its type says,
and declared on the operation that answered it: checked on each answer the tests read."""

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import httpx

from app.core.errors import PROBLEM_BASE, PROBLEM_MEDIA_TYPE, ProblemError, problem_model

SPEC = Path(__file__).resolve().parents[2] / "openapi" / "openapi.json"


@cache
def _operations() -> list[tuple[re.Pattern[str], str, dict[str, Any]]]:
    spec = json.loads(SPEC.read_text())
    return [
        (re.compile("^" + re.sub(r"\\\{\w+\\\}", "[^/]+", re.escape(path)) + "$"), method, op)
        for path, operations in spec["paths"].items()
        for method, op in operations.items()
    ]


def _declared(method: str, path: str, status: int) -> set[str] | None:
    """The problem types the spec declares for this answer; None for a path it lacks."""
    for pattern, verb, operation in _operations():
        if verb == method.lower() and pattern.match(path):
            response = operation["responses"].get(str(status), {})
            content = response.get("content", {}).get(PROBLEM_MEDIA_TYPE, {})
            return {example["value"]["type"] for example in content.get("examples", {}).values()}
    return None


async def check_problem(response: httpx.Response) -> None:
    """Fail on an error answer that is not a catalogued, declared problem document."""
    if response.status_code < 400:
        return
    assert response.headers.get("content-type") == PROBLEM_MEDIA_TYPE, response.status_code
    await response.aread()
    body = response.json()
    code = str(body.get("type", "")).removeprefix(PROBLEM_BASE)
    assert code in ProblemError.catalogue, f"{body.get('type')} is not in the catalogue"
    problem_model(ProblemError.catalogue[code]).model_validate(body)
    if response.status_code == 500:
        return  # a bug, declared nowhere (the tests that provoke one expect it)
    declared = _declared(response.request.method, response.request.url.path, response.status_code)
    assert declared is None or body["type"] in declared, (
        f"{response.request.method} {response.request.url.path} answered {body['type']} "
        f"({response.status_code}), which its operation does not declare"
    )
