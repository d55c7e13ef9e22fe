"""Headless Chromium driven over the Chrome DevTools Protocol (a websocket of JSON
messages): open a page, evaluate script in it, record every request it makes.

Chromium is Debian's `chromium` package; nothing is downloaded. The flags keep it off the
network on its own account (no component updates, sync or background requests) and out of
the way of other runs (a fresh profile directory each time).
"""

import asyncio
import base64
import contextlib
import itertools
import json
import shutil
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

FLAGS = (
    "--headless",
    "--no-sandbox",  # runs as root in CI
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-port=0",  # any free port, written to DevToolsActivePort
)


def chromium_binary() -> str | None:
    """The Chromium on this machine, if any."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


class Page:
    """One tab, attached with its own CDP session."""

    def __init__(self, browser: "Browser", session_id: str) -> None:
        self._browser = browser
        self._session_id = session_id

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        return await self._browser.send(method, session_id=self._session_id, **params)

    def _events(self, method: str) -> list[dict[str, Any]]:
        return [
            event["params"]
            for event in self._browser.events
            if event.get("sessionId") == self._session_id and event.get("method") == method
        ]

    def blocked(self) -> dict[str, str]:
        """Requests the browser itself refused to send (a Content-Security-Policy, say),
        by URL: why."""
        urls = {
            e["requestId"]: e["request"]["url"] for e in self._events("Network.requestWillBeSent")
        }
        return {
            urls[e["requestId"]]: e["blockedReason"]
            for e in self._events("Network.loadingFailed")
            if e.get("blockedReason") and e["requestId"] in urls
        }

    def requests(self) -> list[str]:
        """The URL of every request the page sent since it was opened (not those the
        browser refused to send)."""
        blocked = self.blocked()
        return [
            e["request"]["url"]
            for e in self._events("Network.requestWillBeSent")
            if e["request"]["url"] not in blocked
        ]

    async def navigate(self, url: str) -> None:
        answer = await self.send("Page.navigate", url=url)
        assert "errorText" not in answer, answer

    async def evaluate(self, expression: str) -> Any:
        """The value of a script expression in the page (awaited if it is a promise)."""
        answer = await self.send(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        assert "exceptionDetails" not in answer, answer["exceptionDetails"]
        return answer["result"].get("value")

    async def wait_for(self, expression: str, seconds: float) -> Any:
        """Poll ``expression`` until it is truthy; its value. Fails after ``seconds``."""
        deadline = time.monotonic() + seconds
        while True:
            value = await self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                text = await self.evaluate("document.body && document.body.innerText")
                raise AssertionError(f"{expression} still false after {seconds} s; page: {text}")
            await asyncio.sleep(0.1)

    async def screenshot(self, path: Path) -> None:
        shot = await self.send("Page.captureScreenshot", format="png")
        path.write_bytes(base64.b64decode(shot["data"]))


class Browser:
    """A Chromium process and its browser-wide CDP connection."""

    def __init__(self, connection: ClientConnection) -> None:
        self._connection = connection
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.events: list[dict[str, Any]] = []
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for raw in self._connection:
            message = json.loads(raw)
            waiting = self._waiting.pop(message.get("id", -1), None)
            if waiting is not None and not waiting.done():
                waiting.set_result(message)
            elif "method" in message:
                self.events.append(message)

    async def send(self, method: str, *, session_id: str | None = None, **params: Any) -> Any:
        """Send one command; its result, or AssertionError with the protocol's error."""
        message: dict[str, Any] = {"id": next(self._ids), "method": method, "params": params}
        if session_id is not None:
            message["sessionId"] = session_id
        answer = asyncio.get_running_loop().create_future()
        self._waiting[message["id"]] = answer
        await self._connection.send(json.dumps(message))
        reply = await asyncio.wait_for(answer, 30)
        assert "error" not in reply, f"{method}: {reply['error']}"
        return reply["result"]

    async def new_page(self) -> Page:
        """A blank tab with the page, network and runtime domains enabled."""
        target = await self.send("Target.createTarget", url="about:blank")
        attached = await self.send(
            "Target.attachToTarget", targetId=target["targetId"], flatten=True
        )
        page = Page(self, attached["sessionId"])
        for domain in ("Page", "Network", "Runtime"):
            await page.send(f"{domain}.enable")
        return page

    async def close(self) -> None:
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader
        await self._connection.close()


@contextlib.asynccontextmanager
async def chromium(binary: str, profile: Path, log: Path) -> AsyncIterator[Browser]:
    """Start headless Chromium on a fresh ``profile`` directory (its output in ``log``)
    and connect to it; stopped afterwards."""
    with log.open("ab") as out:
        process = subprocess.Popen(
            [binary, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not port_file.exists() or len(port_file.read_text().splitlines()) < 2:
            if process.poll() is not None:
                raise AssertionError(f"chromium exited with {process.returncode}: {log}")
            if time.monotonic() > deadline:
                raise AssertionError(f"chromium opened no DevTools port in 30 s: {log}")
            await asyncio.sleep(0.1)
        port, path = port_file.read_text().splitlines()[:2]
        async with connect(f"ws://127.0.0.1:{port}{path}", max_size=None) as connection:
            browser = Browser(connection)
            try:
                yield browser
            finally:
                await browser.close()
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
