"""Every example in the spec is valid against its schema: those of the component schemas,
and those of each request and answer (problems included; an NDJSON body's, one line each).
The main journeys' requests and answers each have one."""

from collections.abc import Iterator
from typing import Any

import jsonschema_rs
import pytest

from app.core.openapi import all_models
from app.main import create_app

SPEC = create_app().openapi()
# A front end's main journeys: each request and success answer of these carries an example.
JOURNEYS = [
    ("post", "/v1/session-tokens"),
    ("get", "/v1/me"),
    ("post", "/v1/customers"),
    ("get", "/v1/customers"),
    ("get", "/v1/identify"),
    ("get", "/v1/customers/{customer_id}"),
    ("patch", "/v1/customers/{customer_id}"),
    ("put", "/v1/customers/{customer_id}/preferences"),
    ("post", "/v1/customers/{customer_id}/consents"),
    ("post", "/v1/customers/{customer_id}/events"),
    ("post", "/v1/events"),
    ("post", "/v1/events/bulk"),
    ("get", "/v1/customers/{customer_id}/timeline"),
    ("post", "/v1/customers/{customer_id}/merge"),
    ("get", "/v1/customers/{customer_id}/ficha"),
    ("get", "/v1/fichas/by-phone/{phone}"),
    ("get", "/v1/customers/{customer_id}/indicators"),
    ("post", "/v1/segments/query"),
]


def _validator(schema: dict[str, Any]) -> Any:
    """A validator of ``schema`` whose $refs resolve in the spec's components."""
    return jsonschema_rs.validator_for({**schema, "components": SPEC["components"]})


def _media_examples() -> Iterator[tuple[str, dict[str, Any], Any]]:
    """(where, schema, example) of every request and answer example in the paths."""
    for path, operations in SPEC["paths"].items():
        for method, operation in operations.items():
            bodies = [
                ("request", operation.get("requestBody", {})),
                *operation["responses"].items(),
            ]
            for status, body in bodies:
                for media, content in body.get("content", {}).items():
                    where = f"{method} {path} {status} {media}"
                    if "example" in content:
                        yield where, content["schema"], content["example"]
                    for name, example in content.get("examples", {}).items():
                        yield f"{where} {name}", content["schema"], example["value"]


@pytest.mark.parametrize(
    ("where", "schema", "example"), list(_media_examples()), ids=lambda v: str(v)[:80]
)
def test_each_request_and_answer_example_fits_its_schema(
    where: str, schema: dict[str, Any], example: Any
) -> None:
    errors = [e.message for e in _validator(schema).iter_errors(example)]
    assert errors == [], where


def test_each_component_example_fits_its_schema() -> None:
    found = 0
    for name, schema in SPEC["components"]["schemas"].items():
        for example in schema.get("examples", []):
            found += 1
            errors = [e.message for e in _validator(schema).iter_errors(example)]
            assert errors == [], name
    assert found > 10


def _example_of(schema: dict[str, Any], content: dict[str, Any]) -> Any:
    if "example" in content or content.get("examples"):
        return True
    ref = schema.get("$ref", "")
    target = SPEC["components"]["schemas"].get(ref.rsplit("/", 1)[-1], {}) if ref else schema
    return bool(target.get("examples")) or schema.get("type") == "string"


@pytest.mark.parametrize(("method", "path"), JOURNEYS)
def test_the_main_journeys_have_examples(method: str, path: str) -> None:
    operation = SPEC["paths"][path][method]
    bodies = [operation.get("requestBody", {})] + [
        response for status, response in operation["responses"].items() if status < "300"
    ]
    for body in bodies:
        for media, content in body.get("content", {}).items():
            assert _example_of(content["schema"], content), f"{method} {path} {media}"


def test_each_model_example_is_one_the_model_reads() -> None:
    """The service reads its own examples: the request ones pass its validators too (an
    identifier normalised, a profile that fits its kind), the answers parse back."""
    checked = []
    for model in all_models():
        extra = model.model_config.get("json_schema_extra")
        if model.__module__.startswith("app.") and isinstance(extra, dict):
            for example in extra.get("examples", []):
                model.model_validate(example)
                checked.append(model.__name__)
    assert {"CustomerCreate", "EventIn", "Ficha", "IndicatorsOut", "CustomerOut"} <= set(checked)
