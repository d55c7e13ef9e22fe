"""JSON merge patch (RFC 7396)."""

from typing import Any

from pydantic import BaseModel


def apply_merge_patch(target: Any, patch: Any) -> Any:
    """Return ``target`` with ``patch`` applied: objects merge, null removes, the rest replaces."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = apply_merge_patch(result.get(key), value)
    return result


def merge_patch_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The JSON Schema of a merge patch of ``model`` (for openapi.json): any of its fields,
    each also null, which removes it; nothing else. References name components."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    properties: dict[str, Any] = {}
    for name, field in schema["properties"].items():
        field = dict(field)
        field.pop("default", None)
        notes = {key: field.pop(key) for key in ("title", "description") if key in field}
        if not any(branch.get("type") == "null" for branch in field.get("anyOf", [])):
            field = {"anyOf": [field, {"type": "null"}]}
        properties[name] = {**field, **notes}
    return {"type": "object", "properties": properties, "additionalProperties": False}
