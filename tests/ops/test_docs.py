"""/docs and /redoc work on a network without internet: every script, style sheet and
icon they reference is served by the service itself (a browser loading them is in
tests/browser)."""

import re

import httpx
import pytest

from app.core.errors import ProblemError, problem_example, problem_model, schema_name
from app.main import create_app

# src= and href= attributes, and the url: of Swagger UI's spec (the only one).
REFERENCE = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']|url:\s*["']([^"']+)["']""")


@pytest.mark.parametrize(
    ("page", "assets"),
    [
        ("/docs", {"swagger-ui-bundle.js", "swagger-ui.css", "favicon.png"}),
        ("/redoc", {"redoc.standalone.js", "favicon.png"}),
    ],
)
async def test_the_docs_reference_no_other_host_and_their_assets_are_served(
    client: httpx.AsyncClient, page: str, assets: set[str]
) -> None:
    html = await client.get(page)
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    references = [a or b for a, b in REFERENCE.findall(html.text)]
    assert references, html.text
    for reference in references:
        assert reference.startswith("/") and not reference.startswith("//"), reference
    assert "fonts.googleapis" not in html.text and "cdn" not in html.text.lower()
    assert {ref.rsplit("/", 1)[-1] for ref in references} >= assets
    for reference in references:
        served = await client.get(reference)
        assert served.status_code == 200, reference
        assert len(served.content) > 0
    assert "openapi.json" in html.text
    policy = html.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "img-src 'self' data:" in policy


async def test_swagger_ui_asks_no_validator_on_the_internet(client: httpx.AsyncClient) -> None:
    html = (await client.get("/docs")).text
    assert '"validatorUrl": null' in html


async def test_each_problem_type_has_its_page_and_its_schema(client: httpx.AsyncClient) -> None:
    """A problem's `type` URN resolves to /problems/<name>: a page naming its status,
    members and an example; the spec has the same type as `<Name>Problem`."""
    schemas = create_app().openapi()["components"]["schemas"]
    index = await client.get("/problems")
    assert index.status_code == 200
    for code, problem in ProblemError.catalogue.items():
        assert f'href="/problems/{code}"' in index.text
        page = await client.get(f"/problems/{code}")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert problem.type_uri() in page.text and f"status {problem.status}" in page.text
        for member in problem.Extension.model_fields:
            assert f"<code>{member}</code>" in page.text
        schema = schemas[schema_name(problem)]
        assert schema["properties"]["type"]["const"] == problem.type_uri()
        assert schema["properties"]["status"]["const"] == problem.status
        example = problem_example(problem, "/v1/customers")
        problem_model(problem).model_validate(example)
    unknown = await client.get("/problems/no-such-problem")
    assert unknown.status_code == 404 and unknown.json()["type"].endswith(":not-found")
    expected = {"identifier-conflict", "precondition-failed", "caller-not-found", "validation"}
    assert expected <= ProblemError.catalogue.keys()
