"""Every error is RFC 9457 problem+json, rendered in one place."""

from decimal import Decimal
from enum import StrEnum
from typing import Literal

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from pydantic import BaseModel, EmailStr
from sqlalchemy.exc import ProgrammingError

from app.core import bounded_json
from app.core.errors import PROBLEM_MEDIA_TYPE


class Contact(BaseModel):
    name: str
    email: EmailStr


class Colour(StrEnum):
    RED = "red"
    BLUE = "blue"


class Paint(BaseModel):
    colours: list[Literal[Colour.RED, Colour.BLUE]]


probe = APIRouter(prefix="/_probe")


@probe.post("/contacts")
async def post_contact(contact: Contact) -> Contact:
    return contact


@probe.post("/paints")
async def post_paint(paint: Paint) -> Paint:
    return paint


@probe.get("/boom")
async def boom() -> None:
    raise ProgrammingError("SELECT secret FROM api_keys", {}, Exception("password=hunter2"))


@pytest.fixture
def app(app: FastAPI) -> FastAPI:
    app.include_router(probe)
    return app


def assert_problem(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    body = response.json()
    assert body["status"] == status
    assert body["title"]
    assert body["type"]
    assert body["instance"] == response.request.url.path
    return body


async def test_malformed_json_is_422_naming_the_position(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/_probe/contacts", content=b'{"name": "Ana",', headers={"content-type": "application/json"}
    )
    body = assert_problem(response, 422)
    assert body["errors"][0]["field"].startswith("body")
    assert body["errors"][0]["type"] == "json_invalid"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b'{"name": "Ana\xff"}', "body.13"),  # not UTF-8: names the first bad byte
        (b"[" * 100_000 + b"]" * 100_000, "body"),  # deeper than the parser goes
    ],
    ids=["not_utf8", "nested_too_deep"],
)
async def test_json_the_parser_gives_up_on_is_422_like_other_malformed_json(
    client: httpx.AsyncClient, body: bytes, field: str
) -> None:
    # Found by schemathesis: FastAPI answered these with an undocumented bare 400.
    response = await client.post(
        "/_probe/contacts", content=body, headers={"content-type": "application/json"}
    )
    problem = assert_problem(response, 422)
    assert problem["errors"] == [
        {"field": field, "reason": problem["errors"][0]["reason"], "type": "json_invalid"}
    ]
    assert problem["errors"][0]["reason"].startswith("JSON decode error")


@pytest.mark.parametrize(
    "value",
    [b"NaN", b"Infinity", b"-Infinity", b"9" * 5000],
    ids=["nan", "infinity", "minus_infinity", "5000_digits"],
)
async def test_numbers_json_does_not_have_are_422_not_stored_as_null(
    client: httpx.AsyncClient, admin: dict[str, str], value: bytes
) -> None:
    """Python's parser reads NaN and Infinity, which RFC 8259 has no place for: they were
    stored as null without a word. An integer past 4,300 digits made FastAPI answer a bare
    400. Both are malformed JSON, answered as such."""
    body = b'{"display_name": "Ana", "attributes": {"score": ' + value + b"}}"
    response = await client.post(
        "/v1/customers", content=body, headers={**admin, "content-type": "application/json"}
    )
    problem = assert_problem(response, 422)
    assert problem["errors"][0]["type"] == "json_invalid"
    assert problem["errors"][0]["reason"].startswith("JSON decode error")


@pytest.mark.parametrize(
    ("text", "within"),
    [
        (b'"\\ud800"', ""),
        (b'"a\\uDFFF"', ""),
        (b'["ok", "\\udbff x"]', ".1"),
        (b'"x\xed\xa0\x80y"', ""),  # its bytes, which json.loads reads with "surrogatepass"
    ],
    ids=["high_half", "low_half", "in_a_list", "as_bytes"],
)
async def test_half_a_surrogate_pair_is_422_naming_where_not_a_500(
    client: httpx.AsyncClient, admin: dict[str, str], text: bytes, within: str
) -> None:
    """Python's parser reads ``"\\ud800"`` into a string no encoding can write: an event
    holding one was a 500 where its JSON was written again (pydantic's own parser refuses
    it). Malformed JSON, answered as such, in a payload as in a key."""
    headers = {**admin, "content-type": "application/json"}
    created = await client.post("/v1/customers", json={"display_name": "Ana"}, headers=headers)
    customer = created.json()["id"]
    for path, body, field in (
        (
            f"/v1/customers/{customer}/events",
            b'{"type": "custom.t", "occurred_at": "2026-03-01T09:00:00Z", "payload": {"t": '
            + text
            + b"}}",
            "body.payload.t" + within,
        ),
        (
            "/v1/customers",
            b'{"display_name": "Ana", "attributes": {' + text + b": 1}}",
            "body.attributes",  # the object whose key it is
        ),
    ):
        if path == "/v1/customers" and text.startswith(b"["):
            continue  # a key is a string
        problem = assert_problem(await client.post(path, content=body, headers=headers), 422)
        assert problem["errors"][0]["type"] == "json_invalid"
        assert problem["errors"][0]["field"] == field
        assert "surrogate" in problem["errors"][0]["reason"]


def test_a_surrogate_pair_is_read_and_half_of_one_refused_in_any_encoding() -> None:
    assert bounded_json.loads(b'["\\ud83d\\ude00"]') == ["\U0001f600"]
    assert bounded_json.loads('{"k": "\\u00e9"}'.encode("utf-16")) == {"k": "\u00e9"}
    for raw in (
        '{"k": "\\ud800"}'.encode("utf-16"),
        '{"\\udc00": 1}',
        b'{"a": {"b": ["\\ud800"]}}',
        b'{"a": "\xed\xbf\xbf"}',  # its bytes
        '{"a": "\ud800"}',  # text already decoded
    ):
        with pytest.raises(bounded_json.NotJson, match="surrogate"):
            bounded_json.loads(raw)


def test_a_surrogate_pair_beside_numbers_read_as_decimals_is_read() -> None:
    """WooCommerce's adapter reads floats as Decimal; the check for half a pair encodes
    the document again, where a Decimal was a TypeError (a signed delivery's 500)."""
    raw = b'{"\\ud800\\udc00": 0.0, "n": [1.5, 2]}'
    value = bounded_json.loads(raw, parse_float=Decimal)
    assert value == {"\U00010000": Decimal("0.0"), "n": [Decimal("1.5"), 2]}
    with pytest.raises(bounded_json.NotJson, match="surrogate"):
        bounded_json.loads(b'{"\\ud800": 0.5}', parse_float=Decimal)


async def test_invalid_field_is_422_with_field_path(client: httpx.AsyncClient) -> None:
    response = await client.post("/_probe/contacts", json={"name": "Ana", "email": "not-an-email"})
    body = assert_problem(response, 422)
    assert [e["field"] for e in body["errors"]] == ["body.email"]
    assert "email" in body["errors"][0]["reason"]


async def test_a_reason_names_the_values_a_client_sends_not_python_s_enum_members(
    client: httpx.AsyncClient,
) -> None:
    """A choice among an enum's members read "Input should be <TaskStatus.OPEN: 'open'>,
    ..." (PATCH /v1/tasks, a segment's churn_risk)."""
    body = assert_problem(await client.post("/_probe/paints", json={"colours": ["green"]}), 422)
    assert body["errors"][0]["field"] == "body.colours.0"
    assert body["errors"][0]["reason"] == "Input should be 'red' or 'blue'"
    assert body["detail"] == "body.colours.0: Input should be 'red' or 'blue'"


async def test_missing_field_is_422(client: httpx.AsyncClient) -> None:
    body = assert_problem(await client.post("/_probe/contacts", json={"name": "Ana"}), 422)
    assert body["errors"][0]["field"] == "body.email"
    assert body["errors"][0]["type"] == "missing"


async def test_unknown_path_is_404_problem(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/nowhere"), 404)


async def test_wrong_method_is_405_problem(client: httpx.AsyncClient) -> None:
    response = await client.delete("/_probe/contacts")
    assert_problem(response, 405)
    assert "POST" in response.headers["allow"]


@pytest.mark.parametrize(
    ("path", "allow"),
    [
        ("/v1/customers", "GET, POST"),
        ("/v1/customers/01a20b99-cb67-73a6-bf98-394de5edd7c8", "GET, PATCH"),
        ("/v1/ficha-templates/support", "DELETE, GET, PUT"),
    ],
)
async def test_405_allows_every_method_of_the_path(
    client: httpx.AsyncClient, path: str, allow: str
) -> None:
    # Found by schemathesis: Allow named only the methods of the first route that matched.
    response = await client.options(path)
    assert_problem(response, 405)
    assert response.headers["allow"] == allow


async def test_body_over_limit_by_content_length_is_413(client: httpx.AsyncClient) -> None:
    body = b"x" * (2 * 1024 * 1024)
    response = await client.post(
        "/_probe/contacts", content=body, headers={"content-type": "application/json"}
    )
    assert_problem(response, 413)


async def test_streamed_body_over_limit_is_413_before_read_whole(
    client: httpx.AsyncClient,
) -> None:
    sent = 0

    async def chunks():
        nonlocal sent
        for _ in range(64):  # 64 x 64 KiB = 4 MiB, no Content-Length
            sent += 1
            yield b" " * 65536

    response = await client.post(
        "/_probe/contacts", content=chunks(), headers={"content-type": "application/json"}
    )
    assert_problem(response, 413)
    assert sent < 64, "the body was read whole before refusing it"


async def test_text_with_a_nul_character_is_422_wherever_it_is(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    # Found by schemathesis: PostgreSQL refuses U+0000 in text and JSON, which was a 500.
    created = await client.post(
        "/v1/customers", json={"display_name": "Ana", "tags": ["vip\x00"]}, headers=admin
    )
    assert (
        assert_problem(created, 422)["detail"] == "Text cannot contain the NUL character (U+0000)."
    )
    searched = await client.get("/v1/customers", params={"q": "An\x00a"}, headers=admin)
    assert_problem(searched, 422)
    customer = await client.post("/v1/customers", json={"display_name": "Ana"}, headers=admin)
    appended = await client.post(
        f"/v1/customers/{customer.json()['id']}/events",
        json={
            "type": "note.added",
            "occurred_at": "2026-03-01T09:00:00Z",
            "payload": {"text": "Called\x00"},
        },
        headers=admin,
    )
    assert_problem(appended, 422)


async def test_unexpected_error_is_500_without_internals(client: httpx.AsyncClient) -> None:
    response = await client.get("/_probe/boom")
    body = assert_problem(response, 500)
    text = response.text
    assert "SELECT" not in text and "hunter2" not in text and "Traceback" not in text
    assert body["detail"] == "An unexpected error occurred."


async def test_request_id_is_echoed_or_generated(client: httpx.AsyncClient) -> None:
    given = await client.get("/healthz", headers={"X-Request-ID": "call-42"})
    assert given.headers["x-request-id"] == "call-42"
    generated = await client.get("/healthz")
    assert len(generated.headers["x-request-id"]) == 32
    hostile = await client.get("/healthz", headers={"X-Request-ID": "a b\tc" * 50})
    assert hostile.headers["x-request-id"] != "a b\tc" * 50
