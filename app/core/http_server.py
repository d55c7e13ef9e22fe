"""The HTTP protocol `customer-history serve` runs: uvicorn's httptools one, with the
request head bounded.

uvicorn bounds request heads only on its h11 protocol (``h11_max_incomplete_event_size``,
answered with a bare 400); on httptools, the faster one it picks when installed, a 16 MB
header was read whole and handed to the app. Here the request line and headers together
may take ``CH_MAX_HEADER_BYTES`` and there may be ``CH_MAX_HEADERS`` headers; past either
the server answers 431 problem+json and closes the connection, before the app sees the
request and without holding more than one network read beyond the bound. A request that
is not HTTP/1.1 at all gets 400 problem+json (uvicorn's own is text/plain).
"""

import json
from http import HTTPStatus
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from app.core.config import get_settings
from app.core.errors import BadRequest, HeadersTooLarge, ProblemError, problem_example


class _HeadTooLarge(Exception):
    """Raised from a parser callback to stop reading the request head."""


def _problem(problem: type[ProblemError], detail: str) -> bytes:
    """A whole problem+json response that closes the connection."""
    body = json.dumps(problem_example(problem) | {"detail": detail}).encode()
    status = problem.status
    head = (
        f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n"
        "content-type: application/problem+json\r\n"
        f"content-length: {len(body)}\r\n"
        "connection: close\r\n\r\n"
    )
    return head.encode() + body


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol that refuses oversized request heads with 431."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        settings = get_settings()
        self.max_head_bytes = settings.max_header_bytes
        self.max_headers = settings.max_headers
        self._head_bytes = 0  # of the head being read, as the parser reports it
        self._unparsed_bytes = 0  # fed while that head is still unfinished
        self._in_head = False
        self._refusal: str | None = None

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_bytes = self._unparsed_bytes = 0
        self._in_head = True

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value) + 4)  # ": " and CRLF
        if len(self.headers) >= self.max_headers:
            self._refuse(f"has more than {self.max_headers} headers")
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        super().on_headers_complete()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._in_head and self._refusal is None and not self.transport.is_closing():
            # httptools keeps an unfinished header to itself: count what it was fed.
            self._unparsed_bytes += len(data)
            if self._unparsed_bytes > self.max_head_bytes:
                self._refusal = f"head exceeds {self.max_head_bytes} bytes"
                self.send_400_response("")

    def send_400_response(self, msg: str) -> None:
        """Called by uvicorn when parsing fails (a callback above refusing, or a request
        that is not HTTP/1.1): problem+json like every other answer, not uvicorn's text."""
        if self._refusal is None:
            answer = _problem(BadRequest, "The request is not valid HTTP/1.1.")
        else:
            answer = _problem(HeadersTooLarge, f"The request {self._refusal}.")
        self.transport.write(answer)
        self.transport.close()

    def _count(self, size: int) -> None:
        self._head_bytes += size
        if self._head_bytes > self.max_head_bytes:
            self._refuse(f"head exceeds {self.max_head_bytes} bytes")

    def _refuse(self, reason: str) -> None:
        self._refusal = reason
        raise _HeadTooLarge(reason)
