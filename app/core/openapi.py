"""What the OpenAPI document says of every operation at once: the problem catalogue's
schemas, the headers every answer carries, and the refusals any operation may meet (a
database away, a body too large), so that no route has to repeat them."""

import re
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from app.core.errors import (
    EXAMPLE_ID,
    PROBLEM_MEDIA_TYPE,
    BodyTimeout,
    FieldError,
    HeadersTooLarge,
    PayloadTooLarge,
    Problem,
    ProblemError,
    ServiceUnavailable,
    problem_example,
    problem_model,
    problem_responses,
    schema_name,
)

REF = "#/components/schemas/{model}"

HEADERS: dict[str, dict[str, Any]] = {
    "X-Request-ID": {
        "description": "The request's id: the one the request sent (1-128 letters, digits "
        "and `._:-`), else one the service made; in every log line of the request",
        "schema": {"type": "string", "examples": ["4bf92f3577b34da6a3ce929d0e0e4736"]},
    },
    "ETag": {
        "description": "The customer's version (strong), for If-Match and If-None-Match",
        "schema": {"type": "string", "examples": ['"4"']},
    },
    "Location": {
        "description": "The URL of the resource this answer names",
        "schema": {"type": "string", "format": "uri-reference"},
    },
    "Retry-After": {
        "description": "Seconds to wait before trying again",
        "schema": {"type": "integer", "minimum": 0, "examples": [5]},
    },
    "WWW-Authenticate": {
        "description": "The scheme to authenticate with: `Bearer`",
        "schema": {"type": "string", "examples": ["Bearer"]},
    },
}

# Operations that never touch the database, so never answer 503.
_WITHOUT_DATABASE = {"/healthz", "/metrics"}
# What the examples put in a path's parameters, so that `instance` reads as a real answer.
_EXAMPLE_PARAMETERS = {"phone": "+34612345678", "role": "support", "source": "shopify"}


def headers(*names: str) -> dict[str, dict[str, str]]:
    """A response's ``headers``, each one of HEADERS by reference."""
    return {name: {"$ref": f"#/components/headers/{name}"} for name in names}


def event_stream(description: str) -> dict[str, Any]:
    """The 200 of a Server-Sent Events route, its schema one event as a client parses it:
    ``id``, ``event`` and ``data`` (one JSON document, described in ``description``)."""
    event = {
        "type": "object",
        "properties": {
            "id": {"type": "string"},
            "event": {"type": "string"},
            "data": {"type": "string", "contentMediaType": "application/json"},
            "retry": {"type": "integer"},
        },
    }
    return {"description": description, "content": {"text/event-stream": {"schema": event}}}


def _example_path(path: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: _EXAMPLE_PARAMETERS.get(m.group(1), EXAMPLE_ID), path)


def _declared(response: dict[str, Any]) -> list[type[ProblemError]]:
    """The problem types an operation's response declares, by their examples."""
    examples = response.get("content", {}).get(PROBLEM_MEDIA_TYPE, {}).get("examples", {})
    return [ProblemError.catalogue[code] for code in examples]


def _with_problem(operation: dict[str, Any], problem: type[ProblemError]) -> None:
    responses = operation["responses"]
    status = str(problem.status)
    declared = _declared(responses.get(status, {}))
    if problem not in declared:
        responses[status] = problem_responses(*declared, problem)[problem.status]


def _absent_not_null(schema: dict[str, Any]) -> None:
    """A problem's optional members are left out when they have no value, never null; and
    a later version may add members, so the schema stays open."""
    schema.pop("additionalProperties", None)
    for name, member in schema["properties"].items():
        choices = member.get("anyOf", [])
        if name not in schema["required"] and {"type": "null"} in choices:
            (value,) = [choice for choice in choices if choice != {"type": "null"}]
            member.pop("anyOf")
            member.pop("default", None)
            member.update(value)


def problem_schemas() -> dict[str, Any]:
    """Components: the Problem every type shares, and one schema per problem type with
    the models its members use."""
    catalogue = sorted(ProblemError.catalogue.values(), key=lambda p: p.code)
    _, top = models_json_schema(
        [(problem_model(p), "serialization") for p in catalogue], ref_template=REF
    )
    schemas = dict(top["$defs"])
    for problem in catalogue:
        _absent_not_null(schemas[schema_name(problem)])
    schemas["Problem"] = Problem.model_json_schema(ref_template=REF)
    schemas["FieldError"] = FieldError.model_json_schema()
    return schemas


def all_models(base: type[BaseModel] = BaseModel) -> Iterator[type[BaseModel]]:
    """Every pydantic model defined so far (the app's, once it is built)."""
    for model in base.__subclasses__():
        yield model
        yield from all_models(model)


def _restore_examples(schemas: dict[str, Any]) -> None:
    """FastAPI leaves every null out of the document it builds, examples included, where
    a nullable member is still required: each component takes its model's examples back,
    as written."""
    for model in all_models():
        extra = model.model_config.get("json_schema_extra")
        schema = schemas.get(model.__name__, {})
        if (
            isinstance(extra, dict)
            and "examples" in extra
            and schema.get("title") == (model.model_config.get("title") or model.__name__)
        ):
            schema["examples"] = extra["examples"]


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def complete(
    models: list[type[BaseModel]], named: dict[str, Any], spec: dict[str, Any]
) -> dict[str, Any]:
    """Add to the document FastAPI built what holds for every operation, ``models`` that
    no operation names as its body (the lines of an NDJSON body), and ``named`` schemas."""
    components = spec.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    # As requests name them: the event payloads are the components the event bodies use.
    _, top = models_json_schema([(m, "validation") for m in models], ref_template=REF)
    for name, schema in (problem_schemas() | top["$defs"]).items():
        # A model FastAPI wrote already is the same model (less the nulls it drops).
        assert _without_nulls(schemas.get(name, schema)) == _without_nulls(schema), name
        schemas.setdefault(name, schema)
    schemas.update(named)
    _restore_examples(schemas)
    components["headers"] = HEADERS
    for path, operations in spec["paths"].items():
        for operation in operations.values():
            if path not in _WITHOUT_DATABASE:
                _with_problem(operation, ServiceUnavailable)
            if "requestBody" in operation:
                _with_problem(operation, PayloadTooLarge)
                _with_problem(operation, BodyTimeout)
            _with_problem(operation, HeadersTooLarge)  # `serve` refuses any such request
            for status, response in operation["responses"].items():
                sent = response.setdefault("headers", {})
                sent |= headers("X-Request-ID", *(["Location"] if status == "308" else []))
                problems = response.get("content", {}).get(PROBLEM_MEDIA_TYPE, {})
                for example in problems.get("examples", {}).values():
                    example["value"] = problem_example(
                        ProblemError.catalogue[example["value"]["type"].rsplit(":", 1)[1]],
                        _example_path(path),
                    )
    return spec
