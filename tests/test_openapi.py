"""The committed OpenAPI document is the one the app serves, and it follows the conventions."""

import json
from pathlib import Path

from app.main import create_app
from app.timeline.catalog import CATALOG

SPEC = Path(__file__).resolve().parents[1] / "openapi" / "openapi.json"


def test_committed_spec_matches_the_app() -> None:
    live = create_app().openapi()
    committed = json.loads(SPEC.read_text())
    assert committed == live, "openapi/openapi.json is stale: run `customer-history openapi`"


def test_operations_have_stable_ids_and_declare_their_errors() -> None:
    spec = create_app().openapi()
    ids = []
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            ids.append(operation["operationId"])
            assert not operation["operationId"].endswith("_" + method), operation["operationId"]
            if path.startswith("/v1/webhooks/"):
                # Platforms prove themselves with their own signatures, not API keys.
                assert "401" in operation["responses"] and operation["security"] == []
            elif path.startswith("/v1/callbacks/"):
                # A message's callback link carries its own secret: an unknown one is 404.
                assert "404" in operation["responses"] and operation["security"] == []
            elif path.startswith("/v1/"):
                assert {"401", "403"} <= set(operation["responses"]), f"{method} {path}"
                assert operation.get("security"), f"{method} {path} has no security"
            for status, response in operation["responses"].items():
                if status.startswith(("4", "5")):
                    assert "application/problem+json" in response["content"], f"{path} {status}"
    assert len(ids) == len(set(ids))
    assert spec["info"]["title"] and spec["info"]["version"] and spec["info"]["description"]
    assert "HTTPBearer" in spec["components"]["securitySchemes"]
    assert "Problem" in spec["components"]["schemas"]


def test_component_names_are_human_and_titles_unique() -> None:
    """Client generators name a class after each schema: module paths in a name, or two
    schemas titled alike (two `Channel`s), make them drop or rename types."""
    schemas = create_app().openapi()["components"]["schemas"]
    assert not [name for name in schemas if "__" in name or "." in name]
    titles = [schema.get("title", name) for name, schema in schemas.items()]
    assert sorted(t for t in titles if titles.count(t) > 1) == []


def test_every_json_answer_has_a_schema() -> None:
    """No success answer is `Any`: a front end types every body it reads."""
    spec = create_app().openapi()
    untyped = [
        f"{method} {path} {status}"
        for path, operations in spec["paths"].items()
        for method, operation in operations.items()
        for status, response in operation["responses"].items()
        for media, content in response.get("content", {}).items()
        if media.endswith("json") and content.get("schema") in (None, {})
    ]
    assert untyped == []


def test_sets_that_grow_are_open_strings() -> None:
    """A generated client refuses an enum value it does not know: sets that grow within
    /v1 are plain strings, their values today in the description (docs/security.md, *Evolution*)."""
    schemas = create_app().openapi()["components"]["schemas"]
    growing = [
        ("Caller", "role"),
        ("Flag", "code"),
        ("AlertOut", "code"),
        ("AlertOut", "rule"),
        ("RuleOut", "rule"),
        ("EventOut", "type"),
        ("ChurnCause", "code"),
        ("EventTypeOut", "type"),
        ("ValueIndicators", "segment"),
    ]
    for schema, field in growing:
        member = schemas[schema]["properties"][field]
        assert member["type"] == "string" and "enum" not in member, (schema, field)
        assert "open set" in member["description"].lower(), (schema, field)


def test_every_event_type_names_its_payload_schema() -> None:
    """A front end types an event's payload by its type: EventPayloads names the schema of
    every type of the catalog, each one a component."""
    schemas = create_app().openapi()["components"]["schemas"]
    payloads = schemas["EventPayloads"]["properties"]
    assert set(payloads) == set(CATALOG)
    for name, entry in CATALOG.items():
        assert payloads[name] == {"$ref": f"#/components/schemas/{entry.payload.__name__}"}
        assert entry.payload.__name__ in schemas, name
