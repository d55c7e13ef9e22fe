"""POST /v1/text/analyze through the HTTP API."""

import httpx
import pytest

from app.core.security import Role
from tests.support.fixtures import MakeKey

PROBLEM = "application/problem+json"
URL = "/v1/text/analyze"


@pytest.mark.parametrize("role", [Role.ADMIN, Role.INTEGRATION])
async def test_admin_and_integration_keys_get_the_analysis(
    client: httpx.AsyncClient, make_key: MakeKey, role: Role
) -> None:
    body = {"text": "Es la tercera vez que llamo y sigo sin internet. ¡Lo necesito hoy mismo!"}
    response = await client.post(URL, json=body, headers=await make_key(role))
    assert response.status_code == 200, response.text
    analysis = response.json()
    assert analysis["language"] == "es" and analysis["supported"] is True
    assert analysis["sentiment"]["label"] == "negative"
    assert analysis["urgency"]["level"] == "high"
    assert {r["reason"] for r in analysis["urgency"]["reasons"]} >= {
        "repeated_contact",
        "deadline",
        "service_down",
    }
    assert {i["intent"] for i in analysis["intents"]} >= {"technical", "complaint"}
    assert analysis["abusive"] == {"detected": False, "terms": []}
    assert analysis["analyser_version"].startswith("2+rules.")


async def test_the_language_given_is_used(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    response = await client.post(URL, json={"text": "ok", "language": "fr"}, headers=admin)
    assert response.status_code == 200
    assert (response.json()["language"], response.json()["language_confidence"]) == ("fr", 1.0)


async def test_another_language_is_answered_unsupported(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    body = {"text": "Mijn pakket is nog steeds niet bezorgd, al een week te laat."}
    response = await client.post(URL, json=body, headers=admin)
    assert response.status_code == 200
    assert (response.json()["language"], response.json()["supported"]) == ("nl", False)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"text": "x" * 20_001}, "body.text"),
        ({"text": "hola", "language": "spanish"}, "body.language"),
        ({"text": 42}, "body.text"),
        ({}, "body.text"),
    ],
)
async def test_a_bad_body_is_422_naming_the_field(
    client: httpx.AsyncClient, admin: dict[str, str], body: dict[str, object], field: str
) -> None:
    response = await client.post(URL, json=body, headers=admin)
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    assert field in {error["field"] for error in response.json()["errors"]}


async def test_the_longest_text_allowed_is_analysed(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    text = ("Muy contento con el servicio, gracias. " * 600)[:20_000]
    response = await client.post(URL, json={"text": text}, headers=admin)
    assert response.status_code == 200
    assert response.json()["sentiment"]["label"] == "positive"


async def test_a_job_role_is_403_and_no_key_401(
    client: httpx.AsyncClient, make_key: MakeKey
) -> None:
    forbidden = await client.post(URL, json={"text": "hola"}, headers=await make_key(Role.SUPPORT))
    assert forbidden.status_code == 403
    assert forbidden.headers["content-type"] == PROBLEM
    missing = await client.post(URL, json={"text": "hola"})
    assert missing.status_code == 401
