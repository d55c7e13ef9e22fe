"""A webhook receiver on 127.0.0.1 for outbound tests: verifies every delivery with the
`standardwebhooks` library, dedupes on `webhook-id`, answers what the test says, and can
be down (nothing listening on its port)."""

import asyncio
import contextlib
import json
import socket
from dataclasses import dataclass, field
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


@dataclass
class Received:
    webhook_id: str
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class Receiver:
    """POST / answers ``status`` (after ``delay`` seconds); every request is verified
    with ``secrets`` (any one of them passes)."""

    secrets: list[str] = field(default_factory=list)
    status: int = 200
    delay: float = 0.0
    requests: list[Received] = field(default_factory=list)
    unverified: list[str] = field(default_factory=list)
    port: int = 0
    _server: asyncio.Server | None = None

    def __post_init__(self) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    @property
    def unique(self) -> dict[str, Received]:
        """The deliveries as a receiver that dedupes on webhook-id keeps them, in order."""
        kept: dict[str, Received] = {}
        for received in self.requests:
            kept.setdefault(received.webhook_id, received)
        return kept

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)
            self._server = None

    def verify(self, raw: bytes, headers: dict[str, str]) -> dict[str, Any] | None:
        for secret in self.secrets:
            with contextlib.suppress(WebhookVerificationError):
                verified: dict[str, Any] = Webhook(secret).verify(raw, headers)
                return verified
        return None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        name, _, value = line.partition(":")
                        headers[name.strip().lower()] = value.strip()
                raw = await reader.readexactly(int(headers.get("content-length", "0")))
                body = self.verify(raw, headers)
                if body is None:
                    self.unverified.append(headers.get("webhook-id", ""))
                    status = 401
                else:
                    self.requests.append(Received(headers["webhook-id"], headers, body))
                    status = self.status
                if self.delay:
                    await asyncio.sleep(self.delay)
                answer = json.dumps({"seen": headers.get("webhook-id")}).encode()
                writer.write(
                    f"HTTP/1.1 {status} X\r\ncontent-type: application/json\r\n"
                    f"content-length: {len(answer)}\r\n\r\n".encode()
                    + answer
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()
