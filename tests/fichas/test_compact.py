"""A ficha leaves out nulls and empty lists: the spec must not require what may be absent."""

from typing import Any

from app.fichas.schemas import compact
from app.main import create_app

SCHEMAS = create_app().openapi()["components"]["schemas"]


def _reachable(name: str, seen: set[str]) -> None:
    if name in seen:
        return
    seen.add(name)

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "$ref" in node:
                _reachable(node["$ref"].split("/")[-1], seen)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(SCHEMAS[name])


def _may_be_left_out(schema: dict[str, Any]) -> bool:
    nullable = schema.get("type") == "null" or any(
        option.get("type") == "null" for option in schema.get("anyOf", [])
    )
    empty_list = schema.get("type") == "array" and not schema.get("minItems")
    empty_object = schema.get("type") == "object" and "properties" not in schema
    return nullable or empty_list or empty_object


def test_nothing_a_ficha_section_may_leave_out_is_required() -> None:
    within: set[str] = set()
    _reachable("FichaSections", within)
    within.remove("FichaSections")  # an optional section is left out, or it is shown
    required = [
        f"{name}.{field}"
        for name in sorted(within)
        for field in SCHEMAS[name].get("required", [])
        if _may_be_left_out(SCHEMAS[name]["properties"][field])
    ]
    assert required == []


def test_compact_leaves_out_nulls_and_empties_at_every_depth_and_keeps_falsy_values() -> None:
    shown = {"a": None, "b": [], "c": {}, "d": {"e": None, "f": [{"g": None, "h": 0}]}, "i": False}
    assert compact(shown) == {"d": {"f": [{"h": 0}]}, "i": False}
