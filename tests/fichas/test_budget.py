"""The size budget of a ficha (docs/api.md, "The size budget"): every built-in role's card
of the rich customer (tests/support/fichas.py: a contact person, and its organisation)
in Spanish keeps to 2 KB and 40 values;
and a golden ficha per built-in role in Spanish, on the same customer.

A golden changes when a ficha's content does: rewrite them with
``CH_WRITE_GOLDEN=1 pytest tests/fichas/test_budget.py`` and review the diff."""

import json
import os
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.fichas.templates import DEFAULT_TEMPLATES
from tests.support.fichas import ficha

GOLDEN = Path(__file__).parent / "golden"
BUDGET_BYTES = 2048
BUDGET_VALUES = 40


def values(node: Any) -> int:
    """How many values a card shows: its scalars, at every depth."""
    if isinstance(node, dict):
        return sum(values(v) for v in node.values())
    if isinstance(node, list):
        return sum(values(v) for v in node)
    return 1


def size(card: dict[str, Any]) -> int:
    """The card's bytes as the API answers them (compact JSON, UTF-8)."""
    return len(json.dumps(card, ensure_ascii=False, separators=(",", ":")).encode())


_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)?")


def normalised(card: dict[str, Any]) -> Any:
    """The card without what changes from run to run: ids and times."""
    text = json.dumps(card, ensure_ascii=False, indent=2, sort_keys=False)
    return json.loads(_TIME.sub("<time>", _UUID.sub("<id>", text)))


@pytest.mark.parametrize("customer", ["person", "org"])
@pytest.mark.parametrize("role", list(DEFAULT_TEMPLATES))
async def test_a_rich_customers_ficha_keeps_to_the_budget(
    client: httpx.AsyncClient, admin: dict[str, str], rich: dict[str, str], role: str, customer: str
) -> None:
    """The contact person's card, and its organisation's, which shows its contacts' history
    and the contacts themselves."""
    card = await ficha(client, admin, rich[customer], role, lang="es")
    measured = size(card), values(card)
    assert measured[0] <= BUDGET_BYTES and measured[1] <= BUDGET_VALUES, measured


@pytest.mark.parametrize("role", list(DEFAULT_TEMPLATES))
async def test_a_rich_customers_ficha_in_spanish_is_its_golden(
    client: httpx.AsyncClient, admin: dict[str, str], rich: dict[str, str], role: str
) -> None:
    card = normalised(await ficha(client, admin, rich["person"], role, lang="es"))
    golden = GOLDEN / f"{role}.json"
    if os.environ.get("CH_WRITE_GOLDEN"):
        GOLDEN.mkdir(exist_ok=True)
        golden.write_text(json.dumps(card, ensure_ascii=False, indent=2) + "\n")
    assert card == json.loads(golden.read_text())
