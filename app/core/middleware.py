"""ASGI middleware: request id, access log, metrics and the request body limit."""

import asyncio
import os
import re
import time

import structlog
from prometheus_client import Counter, Histogram
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.errors import BodyTimeout, PayloadTooLarge, ProblemError, problem_response
from app.core.logging import logs_info
from app.core.metrics import HTTP_LATENCY, HTTP_REQUESTS

REQUEST_ID_HEADER = b"x-request-id"
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")

access_log = structlog.get_logger("app.access")


class BodyTooLarge(PayloadTooLarge):
    """The body grew past the limit while it was being read."""


def _refused(body: ProblemError, path: str) -> Response:
    """The answer to a body refused (too large, or too slow). The connection is left to the
    server: closed at once, a client still sending would see a reset, not this answer."""
    return problem_response(type(body), detail=body.detail, instance=path)


_SERIES: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}


def _series(method: str, template: str, status: int) -> tuple[Counter, Histogram]:
    """The request counter and latency histogram of one method, route and status, found
    once: ``labels()`` looked them up under a lock on every request."""
    key = (method, template, status)
    if key not in _SERIES:
        _SERIES[key] = (
            HTTP_REQUESTS.labels(method, template, str(status)),
            HTTP_LATENCY.labels(method, template),
        )
    return _SERIES[key]


class RequestContextMiddleware:
    """Tags each request with an id, logs it as one JSON line and counts it.

    Bodies larger than ``max_body_bytes`` get 413: at once when Content-Length says so,
    otherwise as soon as the streamed body passes the limit, never after reading it whole.
    A body must keep arriving (a route that checked the caller's key holds a database
    connection meanwhile): a pause of ``body_idle_timeout`` seconds, or a body slower on
    average than ``body_min_rate`` bytes a second past that first allowance (Apache's
    ``RequestReadTimeout body=...,MinRate=...`` rule), gets 408. Either answer replaces
    whatever the app makes of the body it was refused.
    """

    def __init__(
        self,
        app: ASGIApp,
        max_body_bytes: int,
        body_idle_timeout: float,
        body_min_rate: int,
        larger_bodies: dict[str, int] | None = None,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.body_idle_timeout = body_idle_timeout
        self.body_min_rate = body_min_rate
        self.larger_bodies = larger_bodies or {}  # path -> limit, for import endpoints

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = dict(scope["headers"])
        given = headers.get(REQUEST_ID_HEADER, b"").decode("latin-1")
        request_id = given if _VALID_REQUEST_ID.match(given) else os.urandom(16).hex()
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        status = 500
        response_started = response_ended = False
        cut: ProblemError | None = None  # the body was refused: the app's answer is this
        stopped_sending = False  # a client silent after its answer began, told gone

        async def send_tagged(message: Message) -> None:
            nonlocal status, response_started, response_ended
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                message["headers"] = [
                    *message.get("headers", []),
                    (REQUEST_ID_HEADER, request_id.encode()),
                ]
            elif message["type"] == "http.response.body":
                response_ended = not message.get("more_body", False)
            await send(message)

        async def send_from_app(message: Message) -> None:
            if cut is None:
                await send_tagged(message)
            elif message["type"] == "http.response.start" and not response_started:
                # The app answered a body it was refused: the true answer is the refusal.
                await _refused(cut, scope["path"])(scope, receive, send_tagged)

        limit = self.larger_bodies.get(scope["path"], self.max_body_bytes)
        idle, rate = self.body_idle_timeout, self.body_min_rate
        received = 0
        body_done = False  # after it, a receive waits for the client to leave: no deadline
        reading_since: float | None = None  # when the app first asked for the body

        async def receive_bounded() -> Message:
            nonlocal received, cut, body_done, stopped_sending, reading_since
            if body_done:
                return await receive()
            now = time.perf_counter()
            if reading_since is None:  # not before: a route may wait for a connection first
                reading_since = now
            allowed = reading_since + idle + received / rate - now
            try:
                async with asyncio.timeout(max(0.0, min(idle, allowed))):
                    message = await receive()
            except TimeoutError:
                if response_started:  # a stream waiting for its client to leave: it has
                    stopped_sending = True
                    return {"type": "http.disconnect"}
                cut = BodyTimeout(
                    f"The request body stopped arriving: nothing for {idle:g} seconds, or "
                    f"slower than {rate} bytes a second."
                )
                raise cut from None
            if message["type"] == "http.request":
                body_done = not message.get("more_body", False)
                received += len(message.get("body", b""))
                if received > limit:
                    cut = BodyTooLarge(f"The request body exceeds {limit} bytes.")
                    raise cut
            return message

        try:
            declared = headers.get(b"content-length")
            if declared is not None and declared.isdigit() and int(declared) > limit:
                too_large = BodyTooLarge(f"The request body exceeds {limit} bytes.")
                await _refused(too_large, scope["path"])(scope, receive, send_tagged)
            else:
                await self.app(scope, receive_bounded, send_from_app)
                if stopped_sending and not response_ended:
                    # The stream stopped as for a client gone, but the connection is still
                    # open: its answer is ended, not left cut off.
                    await send_tagged({"type": "http.response.body", "body": b""})
        except (BodyTooLarge, BodyTimeout) as refused:
            if not response_started:
                await _refused(refused, scope["path"])(scope, receive, send_tagged)
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            template = getattr(route, "path", "unmatched")
            counted, timed = _series(scope["method"], template, status)
            counted.inc()
            timed.observe(elapsed)
            # The route template, never the path: paths carry phone numbers (screen-pops)
            # and secret tokens (webhooks), query strings search terms.
            if logs_info():
                access_log.info(
                    "request",
                    method=scope["method"],
                    route=template,
                    status=status,
                    duration_ms=round(elapsed * 1000, 2),
                )
