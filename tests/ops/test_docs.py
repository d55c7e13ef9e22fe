"""/docs and /redoc work on a network without internet: every script, style sheet and
icon they reference is served by the service itself (a browser loading them is in
tests/browser)."""

import re

import httpx
import pytest

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
