"""A real browser against the real server: headless Chromium loads a page served from
another origin that trades a key for a session token, reads a ficha across origins
(CORS), revalidates it (304) and follows the customer's timeline with EventSource, the
token in its query string; an event appended from outside shows on the page. And the
API's documentation renders from the service alone, asking no other host for anything.

Run with `pytest -m browser` (CI runs it as its own step, after installing Chromium from
Debian when it is missing). It needs Debian's `chromium`; nothing is downloaded.
"""

import functools
import os
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.support.chromium import chromium, chromium_binary
from tests.support.server import BIN, admin_key, free_port, stop, wait_ready

pytestmark = pytest.mark.browser

HERE = Path(__file__).resolve().parent


class QuietHandler(SimpleHTTPRequestHandler):
    """Serves this directory; the page's requests are not the test's output."""

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def page_origin() -> Iterator[str]:
    """The front end's origin: this directory over HTTP on a port of its own."""
    server = ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(HERE))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class Service:
    """`customer-history serve`, allowing the page's origin, with its log and env."""

    base: str
    admin: dict[str, str]
    env: dict[str, str]
    log: Path


@pytest.fixture(scope="module")
def service(
    database_url: str, page_origin: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Service]:
    env = {**os.environ, "DATABASE_URL": database_url, "CH_CORS_ORIGINS": page_origin}
    env["CH_LOG_LEVEL"] = "DEBUG"  # everything the service would ever write
    log = tmp_path_factory.mktemp("browser") / "service.log"
    port = free_port()
    with log.open("ab") as out:
        process = subprocess.Popen(
            [str(BIN), "serve", "--port", str(port)], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_ready(base, process, 90)
        yield Service(base, admin_key(env, "browser-admin"), env, log)
    finally:
        stop(process)


@pytest.fixture
def browser_binary() -> str:
    binary = chromium_binary()
    if binary is None:
        pytest.fail("Chromium is missing: apt-get install chromium (CI installs it)")
    return binary


def support_key(env: dict[str, str]) -> str:
    """A support key made with `keys create`, as an operator gives one to an agent."""
    created = subprocess.run(
        [str(BIN), "keys", "create", "--role", "support", "--name", "browser-agent"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return created.stdout.strip().splitlines()[-1]


async def test_a_page_of_another_origin_follows_a_customer_with_a_session_token(
    service: Service, page_origin: str, browser_binary: str, tmp_path: Path
) -> None:
    key = support_key(service.env)
    async with httpx.AsyncClient(base_url=service.base, headers=service.admin, timeout=10) as api:
        created = await api.post("/v1/customers", json={"display_name": "Lucía Browser"})
        assert created.status_code == 201, created.text
        customer = created.json()["id"]

        async with chromium(browser_binary, tmp_path / "profile", tmp_path / "chromium.log") as b:
            page = await b.new_page()
            await page.navigate(
                f"{page_origin}/console.html#api={service.base}&key={key}&customer={customer}"
            )
            await page.wait_for(
                "document.getElementById('status')?.textContent === 'listening'", 30
            )
            assert await page.evaluate("document.getElementById('name').textContent") == (
                "Lucía Browser"
            )
            revalidated = await page.evaluate("document.getElementById('revalidated').textContent")
            assert revalidated == "304 true", "If-None-Match through CORS: 304 with its ETag"

            note = {
                "type": "note.added",
                "occurred_at": "2026-11-30T09:00:00Z",
                "summary": "Called about the invoice",
                "payload": {"text": "Called about the invoice"},
            }
            appended = await api.post(f"/v1/customers/{customer}/events", json=note)
            assert appended.status_code == 201, appended.text
            await page.wait_for(
                "[...document.querySelectorAll('#events li')]"
                ".some(li => li.textContent === 'Called about the invoice')",
                15,
            )
            await page.screenshot(tmp_path / "console.png")
            requests = page.requests()

    [stream] = [url for url in requests if "/timeline/stream" in url]
    [token] = parse_qs(urlsplit(stream).query)["access_token"]
    assert token.startswith("cht.")
    logged = service.log.read_text()
    assert "/v1/customers/{customer_id}/timeline/stream" in logged, "the stream was logged"
    assert token not in logged and "access_token" not in logged, "its token was not"
    assert key not in logged


@pytest.mark.parametrize(
    ("path", "rendered"),
    [
        ("/docs", "document.querySelectorAll('.opblock').length > 40"),
        ("/redoc", "document.querySelectorAll('[data-section-id]').length > 40"),
    ],
)
async def test_the_docs_render_asking_no_other_host(
    service: Service, browser_binary: str, tmp_path: Path, path: str, rendered: str
) -> None:
    async with chromium(browser_binary, tmp_path / "profile", tmp_path / "chromium.log") as b:
        page = await b.new_page()
        await page.navigate(f"{service.base}{path}")
        await page.wait_for(rendered, 60)
        assert "Customer history service" in await page.evaluate("document.body.innerText")
        await page.screenshot(tmp_path / "docs.png")
        requests, blocked = page.requests(), page.blocked()
    assert any(url.endswith("/openapi.json") for url in requests)
    # ReDoc always shows its maker's logo from their CDN: the page's policy refuses it.
    assert set(blocked.values()) <= {"csp"}, blocked
    elsewhere = [
        url
        for url in requests
        if urlsplit(url).scheme in ("http", "https", "ws", "wss")
        and not url.startswith(f"{service.base}/")
    ]
    assert not elsewhere, f"the docs asked other hosts: {elsewhere}"
