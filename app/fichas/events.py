"""How a ficha shows an event: its summary in the ficha's language (pure)."""

from typing import Any

from app.fichas.templates import text
from app.timeline import service as timeline


def shown(item: dict[str, Any], language: str) -> dict[str, Any]:
    """An event as a ficha lists it, from what the events statement read (with its
    payload): a summary its source gave stays as given; one the service made is made again
    in ``language``."""
    payload = item.pop("payload") or {}
    type_ = item["type"]
    if item["summary"] == timeline.default_summary(type_, payload):
        label = text(language, f"event.{type_}")
        if label is not None:
            item["summary"] = (label + timeline.summary_detail(type_, payload))[:280]
    return item
