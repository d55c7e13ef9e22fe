"""ASGI middleware: request id, access log, metrics and the request body limit."""

import asyncio
import os
import re
import time

import structlog
from prometheus_client import Counter, Histogram
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.errors import BodyTimeout, PayloadTooLarge, problem_response
from app.core.logging import logs_info
from app.core.metrics import HTTP_LATENCY, HTTP_REQUESTS

REQUEST_ID_HEADER = b"x-request-id"
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")

access_log = structlog.get_logger("app.access")


class BodyTooLarge(PayloadTooLarge):
    """The body grew past the limit while it was being read."""


def _too_large(limit: int, path: str) -> Response:
    return problem_response(
        PayloadTooLarge, detail=f"The request body exceeds {limit} bytes.", instance=path
    )


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
    A body that stops arriving for ``body_idle_timeout`` seconds gets 408: a route that
    checked the caller's key holds a database connection while its body arrives.
    """

    def __init__(
        self,
        app: ASGIApp,
        max_body_bytes: int,
        body_idle_timeout: float,
        larger_bodies: dict[str, int] | None = None,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.body_idle_timeout = body_idle_timeout
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
        response_started = False
        exceeded = False  # the body passed the limit: whatever the app answers becomes 413

        async def send_tagged(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                message["headers"] = [
                    *message.get("headers", []),
                    (REQUEST_ID_HEADER, request_id.encode()),
                ]
            await send(message)

        async def send_from_app(message: Message) -> None:
            if not exceeded:
                await send_tagged(message)
            elif message["type"] == "http.response.start" and not response_started:
                # The app answered a body cut short by the limit: the true answer is 413.
                await _too_large(limit, scope["path"])(scope, receive, send_tagged)

        limit = self.larger_bodies.get(scope["path"], self.max_body_bytes)
        idle = self.body_idle_timeout
        received = 0
        body_done = False  # after it, a receive waits for the client to leave: no deadline

        async def receive_bounded() -> Message:
            nonlocal received, exceeded, body_done
            if body_done:
                return await receive()
            try:
                async with asyncio.timeout(idle):
                    message = await receive()
            except TimeoutError:
                raise BodyTimeout(
                    f"No part of the request body arrived for {idle:g} seconds."
                ) from None
            if message["type"] == "http.request":
                body_done = not message.get("more_body", False)
                received += len(message.get("body", b""))
                if received > limit:
                    exceeded = True
                    raise BodyTooLarge(f"The request body exceeds {limit} bytes.")
            return message

        try:
            declared = headers.get(b"content-length")
            if declared is not None and declared.isdigit() and int(declared) > limit:
                await _too_large(limit, scope["path"])(scope, receive, send_tagged)
            else:
                await self.app(scope, receive_bounded, send_from_app)
        except BodyTooLarge:
            if not response_started:
                await _too_large(limit, scope["path"])(scope, receive, send_tagged)
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
