"""Message templates: their texts per language, their placeholders, and rendering (pure).

A template is written in every language of ``LANGUAGES``; its texts use ``string.Template``
placeholders (``$given_name``, ``${missed_calls_4h}``; ``$$`` is a dollar sign), which can
only be replaced by values, never run code or reach attributes. The placeholders a text
may use are the service's (``SERVICE_FIELDS``: the customer's names, a callback link) and
the fact's fields the template declares (``fields``), which whoever sends it must give: an
alert's details for a rule's message, the incident's title for an incident's.
"""

import string
from collections.abc import Mapping
from typing import Any

LANGUAGES = ("es", "pt", "en", "fr")
DEFAULT_LANGUAGE = "en"
# Filled in by the sender: the customer's display name, their given name (else the display
# name), and a link by which they choose a time to be called back.
SERVICE_FIELDS = ("name", "given_name", "callback_url")
CALLBACK_FIELD = "callback_url"


def _texts(**by_language: tuple[str, str]) -> dict[str, dict[str, str]]:
    return {lang: {"subject": s, "body": b} for lang, (s, b) in by_language.items()}


# Shipped with the service (migration 0019 stores a frozen copy; an admin edits that).
DEFAULT_TEMPLATES: dict[str, dict[str, Any]] = {
    "abandoned_calls": {
        "purpose": "service",
        "fields": ["missed_calls_4h"],
        "texts": _texts(
            es=(
                "Hemos visto sus llamadas",
                "Hola $given_name: hemos visto sus $missed_calls_4h llamadas y sentimos no "
                "haberle atendido. Elija cuándo le llamamos: $callback_url",
            ),
            pt=(
                "Vimos as suas chamadas",
                "Olá $given_name: vimos as suas $missed_calls_4h chamadas e lamentamos não ter "
                "atendido. Escolha quando ligamos: $callback_url",
            ),
            en=(
                "We saw your calls",
                "Hi $given_name, we saw your $missed_calls_4h calls and are sorry we missed "
                "you. Pick a time for us to call you back: $callback_url",
            ),
            fr=(
                "Nous avons vu vos appels",
                "Bonjour $given_name, nous avons vu vos $missed_calls_4h appels et regrettons "
                "de ne pas avoir répondu. Choisissez quand nous vous rappelons : $callback_url",
            ),
        ),
    },
    "carrier_delay": {
        "purpose": "service",
        "fields": ["incident_title"],
        "texts": _texts(
            es=(
                "Su pedido llegará con retraso",
                "Hola $given_name: su pedido se retrasa por un problema del transportista "
                "($incident_title). Lo sentimos; le avisaremos en cuanto llegue.",
            ),
            pt=(
                "A sua encomenda vai chegar com atraso",
                "Olá $given_name: a sua encomenda está atrasada por um problema da "
                "transportadora ($incident_title). Lamentamos; avisaremos quando chegar.",
            ),
            en=(
                "Your order will arrive late",
                "Hi $given_name, your order is delayed by a carrier problem "
                "($incident_title). We are sorry; we will tell you when it arrives.",
            ),
            fr=(
                "Votre commande arrivera en retard",
                "Bonjour $given_name, votre commande est retardée par un problème du "
                "transporteur ($incident_title). Désolés ; nous vous préviendrons à son arrivée.",
            ),
        ),
    },
}


def placeholders(text: str) -> list[str]:
    """The names ``text`` uses; ValueError saying where when a ``$`` starts none."""
    template = string.Template(text)
    if not template.is_valid():
        for match in template.pattern.finditer(text):
            if match.group("invalid") is not None:
                at = match.start("invalid")
                raise ValueError(
                    f"'$' at character {at} starts no placeholder (write $$ for a dollar sign)"
                )
    return template.get_identifiers()


def unknown_placeholders(text: str, fields: list[str]) -> list[str]:
    """The placeholders of ``text`` that are neither the service's nor in ``fields``."""
    known = set(SERVICE_FIELDS) | set(fields)
    return [name for name in placeholders(text) if name not in known]


def language_for(preferred: str | None) -> str:
    """The template language for a customer's BCP 47 preference (``pt-BR``: pt)."""
    primary = (preferred or "").split("-")[0].lower()
    return primary if primary in LANGUAGES else DEFAULT_LANGUAGE


def one_line(text: str) -> str:
    """``text`` with its line breaks made spaces: an e-mail header carries none (a name or
    a field given with one would otherwise write headers of its own, or stop the mail)."""
    return " ".join(text.splitlines())


def render(
    texts: Mapping[str, Mapping[str, str]], language: str, values: Mapping[str, str]
) -> tuple[str, str]:
    """The subject (one line) and body in ``language`` with every placeholder replaced."""
    text = texts[language]
    return (
        one_line(string.Template(text["subject"]).substitute(values)),
        string.Template(text["body"]).substitute(values),
    )
