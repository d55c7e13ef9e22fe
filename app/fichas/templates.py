"""Ficha templates: which sections each job sees, their options and their labels (pure)."""

import json
from typing import Any, NotRequired, TypedDict, cast

from app.timeline.catalog import CATALOG, CUSTOM_PREFIX

# Always first, never removable.
BASE_SECTIONS = ("identity", "indicators", "flags")

# Each optional section and the options it takes (name -> (type, default)).
SECTIONS: dict[str, dict[str, tuple[type, Any]]] = {
    "identity": {},
    "indicators": {},
    "flags": {},
    "open_items": {},
    "recent_interactions": {"limit": (int, 10), "types": (list, [])},
    "purchases": {"limit": (int, 5)},
    "tickets": {"limit": (int, 5), "open_only": (bool, False)},
    "preferences": {},
    "pinned_notes": {"limit": (int, 5)},
    "contacts": {"limit": (int, 10)},
    "sales_series": {"interval": (str, "month")},
    "opportunities_and_quotes": {"limit": (int, 5)},
    "collections": {"limit": (int, 10)},
    "behaviour": {"limit": (int, 10)},
    "alerts": {"limit": (int, 5)},
    "follow_ups": {"limit": (int, 5)},
    "consents": {},
    "segments": {},
}
INTERVALS = ("month", "quarter", "year")


class Section(TypedDict):
    """A section of a stored template: its name and, filled in from ``SECTIONS``, each of
    the options that section takes (what the ficha's builders read)."""

    name: str
    limit: NotRequired[int]
    types: NotRequired[list[str]]
    open_only: NotRequired[bool]
    interval: NotRequired[str]


# A stored template: its sections, and its labels (language -> section name -> label).
Template = tuple[list[Section], dict[str, dict[str, str]]]
LANGUAGES = ("en", "es", "pt", "fr")

LABELS: dict[str, dict[str, str]] = {
    "en": {
        "identity": "Customer",
        "indicators": "Key indicators",
        "flags": "Flags",
        "open_items": "In progress",
        "recent_interactions": "Recent interactions",
        "purchases": "Purchases",
        "tickets": "Tickets",
        "preferences": "Preferences",
        "pinned_notes": "Pinned notes",
        "contacts": "Contacts",
        "sales_series": "Sales",
        "opportunities_and_quotes": "Opportunities and quotes",
        "collections": "Collections",
        "behaviour": "Behaviour",
        "alerts": "Alerts",
        "follow_ups": "Follow-ups",
        "consents": "Consents",
        "segments": "Segments",
    },
    "es": {
        "identity": "Cliente",
        "indicators": "Indicadores clave",
        "flags": "Avisos",
        "open_items": "En curso",
        "recent_interactions": "Interacciones recientes",
        "purchases": "Compras",
        "tickets": "Incidencias",
        "preferences": "Preferencias",
        "pinned_notes": "Notas fijadas",
        "contacts": "Contactos",
        "sales_series": "Ventas",
        "opportunities_and_quotes": "Oportunidades y presupuestos",
        "collections": "Cobros",
        "behaviour": "Comportamiento",
        "alerts": "Alertas",
        "follow_ups": "Seguimientos",
        "consents": "Consentimientos",
        "segments": "Segmentos",
    },
    "pt": {
        "identity": "Cliente",
        "indicators": "Indicadores-chave",
        "flags": "Avisos",
        "open_items": "Em curso",
        "recent_interactions": "Interações recentes",
        "purchases": "Compras",
        "tickets": "Chamados",
        "preferences": "Preferências",
        "pinned_notes": "Notas fixadas",
        "contacts": "Contatos",
        "sales_series": "Vendas",
        "opportunities_and_quotes": "Oportunidades e orçamentos",
        "collections": "Cobranças",
        "behaviour": "Comportamento",
        "alerts": "Alertas",
        "follow_ups": "Acompanhamentos",
        "consents": "Consentimentos",
        "segments": "Segmentos",
    },
    "fr": {
        "identity": "Client",
        "indicators": "Indicateurs clés",
        "flags": "Signaux",
        "open_items": "En cours",
        "recent_interactions": "Interactions récentes",
        "purchases": "Achats",
        "tickets": "Tickets",
        "preferences": "Préférences",
        "pinned_notes": "Notes épinglées",
        "contacts": "Contacts",
        "sales_series": "Ventes",
        "opportunities_and_quotes": "Opportunités et devis",
        "collections": "Recouvrement",
        "behaviour": "Comportement",
        "alerts": "Alertes",
        "follow_ups": "Suivis",
        "consents": "Consentements",
        "segments": "Segments",
    },
}


def _sections(*names: str | tuple[str, dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [{"name": n} for n in BASE_SECTIONS]
    for item in names:
        name, options = (item, {}) if isinstance(item, str) else item
        out.append({"name": name, **options})
    return out


DEFAULT_TEMPLATES: dict[str, list[dict[str, Any]]] = {
    "support": _sections(
        "open_items",
        ("tickets", {"limit": 5, "open_only": False}),
        (
            "recent_interactions",
            {"limit": 10, "types": ["call.*", "email.*", "chat.*", "ticket.*"]},
        ),
        "preferences",
        "pinned_notes",
        "alerts",
    ),
    "sales": _sections(
        ("purchases", {"limit": 5}),
        ("sales_series", {"interval": "quarter"}),
        "opportunities_and_quotes",
        "preferences",
        "contacts",
    ),
    "collections": _sections("collections", "open_items", "preferences"),
    "tech_support": _sections(
        ("tickets", {"limit": 10, "open_only": True}),
        ("behaviour", {"limit": 10}),
        ("recent_interactions", {"limit": 5, "types": ["ticket.*", "call.*", "chat.*"]}),
        "pinned_notes",
    ),
    "marketing": _sections("behaviour", "consents", "segments", "preferences"),
    "community": _sections(
        ("recent_interactions", {"limit": 10, "types": ["social.*", "survey.*", "chat.*"]}),
        "consents",
        "preferences",
    ),
}


class TemplateError(ValueError):
    """An invalid template: ``field`` names where, the message why."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field


def _valid_type(name: str) -> bool:
    family = name[:-2] if name.endswith(".*") else None
    families = {t.split(".")[0] for t in CATALOG}
    return name in CATALOG or name.startswith(CUSTOM_PREFIX) or family in families


def validate_sections(sections: list[dict[str, Any]]) -> list[Section]:
    """Check names and options; fill in defaults. Raises TemplateError naming the field."""
    seen: set[str] = set()
    clean: list[Section] = []
    for index, section in enumerate(sections):
        where = f"body.sections.{index}"
        name = section.get("name")
        if not isinstance(name, str) or name not in SECTIONS:
            raise TemplateError(f"{where}.name", f"unknown section {json.dumps(name)}")
        if name in seen:
            raise TemplateError(f"{where}.name", f"section '{name}' appears twice")
        seen.add(name)
        options = SECTIONS[name]
        entry: dict[str, Any] = {"name": name}
        for key, value in section.items():
            if key == "name":
                continue
            if key not in options:
                raise TemplateError(f"{where}.{key}", f"section '{name}' has no option '{key}'")
            kind, _ = options[key]
            if kind is int and (
                not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 50
            ):
                raise TemplateError(f"{where}.{key}", "must be a whole number from 1 to 50")
            if kind is bool and not isinstance(value, bool):
                raise TemplateError(f"{where}.{key}", "must be true or false")
            if key == "interval" and value not in INTERVALS:
                raise TemplateError(f"{where}.{key}", f"must be one of {', '.join(INTERVALS)}")
            if key == "types" and (
                not isinstance(value, list)
                or not all(isinstance(t, str) and _valid_type(t) for t in value)
            ):
                raise TemplateError(
                    f"{where}.{key}", "must list event types or families like call.*"
                )
            entry[key] = value
        for key, (_, default) in options.items():
            entry.setdefault(key, default)
        clean.append(cast(Section, entry))  # each option checked above
    for index, required in enumerate(BASE_SECTIONS):
        if required not in seen:
            raise TemplateError(f"body.sections.{index}", f"section '{required}' is always present")
    return clean


def validate_labels(labels: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    for language, names in labels.items():
        if not isinstance(names, dict):
            raise TemplateError(f"body.labels.{language}", "must map section names to labels")
        for name, label in names.items():
            if name not in SECTIONS:
                raise TemplateError(f"body.labels.{language}.{name}", f"unknown section '{name}'")
            if not isinstance(label, str) or not 1 <= len(label) <= 100:
                raise TemplateError(f"body.labels.{language}.{name}", "must be 1 to 100 characters")
    return labels


def _option_schema(name: str, kind: type) -> dict[str, Any]:
    if kind is int:
        return {"type": "integer", "minimum": 1, "maximum": 50}
    if kind is bool:
        return {"type": "boolean"}
    if name == "interval":
        return {"enum": list(INTERVALS)}
    families = sorted({t.split(".")[0] + ".*" for t in CATALOG})
    named = {"type": "string", "enum": sorted(CATALOG) + families}
    custom = {"type": "string", "pattern": "^" + CUSTOM_PREFIX.replace(".", "\\.")}
    return {"type": "array", "items": {"anyOf": [named, custom]}}


def sections_json_schema() -> dict[str, Any]:
    """What :func:`validate_sections` admits, as the JSON Schema of a template's sections."""
    return {
        "type": "array",
        "minItems": len(BASE_SECTIONS),
        "maxItems": len(SECTIONS),
        "description": "Each section once, "
        + ", ".join(BASE_SECTIONS)
        + " always among them; options left out take their defaults.",
        "items": {
            "oneOf": [
                {
                    "type": "object",
                    "properties": {
                        "name": {"const": name},
                        **{key: _option_schema(key, kind) for key, (kind, _) in options.items()},
                    },
                    "required": ["name"],
                    "additionalProperties": False,
                }
                for name, options in SECTIONS.items()
            ]
        },
    }


def labels_json_schema() -> dict[str, Any]:
    """What :func:`validate_labels` admits: per language, a label for any section."""
    label = {"type": "string", "minLength": 1, "maxLength": 100}
    return {
        "type": "object",
        "description": "Per language (es, en...), the label shown for a section.",
        "additionalProperties": {
            "type": "object",
            "properties": dict.fromkeys(SECTIONS, label),
            "additionalProperties": False,
        },
    }


def label_for(labels: dict[str, dict[str, str]], language: str, section: str) -> str:
    """The template's label in ``language``, else the built-in one, else English."""
    for source in (
        labels.get(language, {}),
        LABELS.get(language, {}),
        labels.get("en", {}),
        LABELS["en"],
    ):
        if section in source:
            return source[section]
    return section
