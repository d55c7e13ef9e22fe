"""A timeline page is written by its statement (``timeline.queries._EVENT_ROW``): each
event on it is what the API answers for that event when it is appended (the model's JSON),
with its corrections as the Correction model writes them, whatever its payload holds."""

from datetime import timedelta
from typing import Any

import httpx
import pytest

from app.timeline.queries import _json_row
from tests.support.api import T0, append, event, new_customer, timeline

# Payloads whose JSON the database and Python might write differently.
_AWKWARD: list[dict[str, Any]] = [
    {"text": 'comillas " y barra \\ y / y </script>'},
    {"text": "control \u0001\u001f\t\n\r\b\f y \u007f"},
    {"text": "ñandú, ação, œuvre, 日本語, emoji 🙂, U+2028 \u2028 y U+2029 \u2029"},
    {"big": 2**70, "negative": -(2**63) - 1, "zero": 0, "minus_zero": -0.0},
    # (1e21 comes back as 1000000000000000000000, as jsonb writes it and always did: the
    # same number; a float beyond 2**53 whose decimal digits are not exact does not.)
    {"float": 0.1 + 0.2, "tiny": 5e-324, "exp": 1e21, "negative_exp": -2.5e-7},
    {"price": 1.5, "whole": 3.0, "list": [1, 2.25, "3", None, True, False, [], {}]},
    {"nested": {"deeper": {"deepest": [{"k": "v"}, {"k": None}]}}, "": "empty key"},
]


async def test_each_event_on_a_page_is_what_the_api_answered_when_it_was_appended(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    customer = await new_customer(client, admin)
    answered: dict[str, dict[str, Any]] = {}
    instants = [
        T0,  # whole seconds
        T0 + timedelta(microseconds=5),
        T0 + timedelta(milliseconds=120),
        T0 + timedelta(seconds=1, microseconds=999_999),
    ]
    for n, payload in enumerate(_AWKWARD):
        at = instants[n % len(instants)] + timedelta(minutes=n)
        body = event(f"custom.awkward_{n}", at=at, payload=payload)
        response = await append(client, admin, customer, body)
        assert response.status_code == 201, response.text
        answered[response.json()["id"]] = response.json()
    original = next(iter(answered))
    corrections = []
    for n, fix in enumerate(
        [
            {"reason": "wrong figure", "payload": {"big": 2**65, "text": "ñ\u0001"}},
            {"reason": "renamed", "summary": 'Corrected "twice" ✓'},
        ]
    ):
        body = event(
            "event.corrected",
            at=T0 + timedelta(hours=1, microseconds=n * 7),
            payload={"corrects_event_id": original, **fix},
        )
        response = await append(client, admin, customer, body)
        assert response.status_code == 201, response.text
        fixed = response.json()
        corrections.append(
            {
                "id": fixed["id"],
                "recorded_at": fixed["recorded_at"],
                "reason": fix["reason"],
                "summary": fix.get("summary"),
                "payload": fix.get("payload"),
            }
        )

    page = await timeline(client, admin, customer, limit=50)

    assert page["next_cursor"] is None
    assert [item["id"] for item in page["items"]] == sorted(
        answered, key=lambda i: (answered[i]["occurred_at"], i), reverse=True
    )
    for item in page["items"]:
        expected = {**answered[item["id"]], "corrections": []}
        if item["id"] == original:
            expected["corrections"] = corrections
        assert item == expected
        # The keys in the models' order, as pydantic writes them.
        assert list(item) == list(expected)
        assert [list(fix) for fix in item["corrections"]] == [
            list(fix) for fix in expected["corrections"]
        ]
        # Instants compare as text too: the API writes them one way.
        assert item["occurred_at"] == answered[item["id"]]["occurred_at"]
        assert item["recorded_at"] == answered[item["id"]]["recorded_at"]
    assert any("." in item["occurred_at"] for item in page["items"])
    assert any("." not in item["occurred_at"] for item in page["items"])


async def test_a_page_with_more_to_follow_names_its_cursor(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    customer = await new_customer(client, admin)
    for n in range(3):
        at = T0 + timedelta(minutes=n)
        assert (await append(client, admin, customer, event(at=at))).status_code == 201
    first = await timeline(client, admin, customer, limit=2)
    assert len(first["items"]) == 2 and isinstance(first["next_cursor"], str)
    rest = await timeline(client, admin, customer, limit=2, cursor=first["next_cursor"])
    assert len(rest["items"]) == 1 and rest["next_cursor"] is None


@pytest.mark.parametrize("key", ["k" * 64, 'a"b'])
def test_a_key_the_database_would_not_write_as_given_is_refused(key: str) -> None:
    """An alias is cut at 63 bytes and ends at a quote: such a key would leave the page
    with another key than the model's."""
    with pytest.raises(ValueError, match="not a key"):
        _json_row([(key, "1")], "x")
    assert _json_row([("k" * 63, "1")], "x") == 'LATERAL (SELECT 1 AS "' + "k" * 63 + '") AS x'
