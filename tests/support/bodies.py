"""Requests whose body never arrives whole, sent to the app as raw ASGI: the routes that
read a body themselves (a webhook, the bulk import, a customer's merge patch) and one whose
body FastAPI reads (a customer created), the first bytes of one, then the client gone,
nothing more at all, or a byte now and then."""

import asyncio
import json
from typing import Any

import httpx
from fastapi import FastAPI

from tests.support.webhooks import generic_note, signed_generic

ROUTES = ["webhook", "bulk import", "customer patch", "customer create"]


async def body_request(
    route: str, client: httpx.AsyncClient, admin: dict[str, str]
) -> tuple[str, str, dict[str, str], bytes]:
    """``route``'s method, path, headers (the key or signature it asks for) and a body."""
    if route == "webhook":
        body = json.dumps(generic_note()).encode()
        return "POST", "/v1/webhooks/generic", signed_generic(body, "msg_cut"), body
    if route == "bulk import":
        headers = {**admin, "content-type": "application/x-ndjson"}
        return "POST", "/v1/events/bulk", headers, b'{"type": "note.added"}\n' * 50
    if route == "customer create":
        headers = {**admin, "content-type": "application/json"}
        return "POST", "/v1/customers", headers, json.dumps({"display_name": "Ana"}).encode()
    created = await client.post("/v1/customers", json={"display_name": "Ana"}, headers=admin)
    headers = {**admin, "content-type": "application/merge-patch+json"}
    path = f"/v1/customers/{created.json()['id']}"
    return "PATCH", path, headers, json.dumps({"display_name": "Ana María"}).encode()


async def cut_short(
    app: FastAPI,
    request: tuple[str, str, dict[str, str], bytes],
    *,
    client_leaves: bool,
    trickle: float | None = None,
) -> list[dict[str, Any]]:
    """The messages ``app`` sends for ``request`` whose body stops after 20 bytes: then the
    client leaves, or (``client_leaves`` false) nothing more ever arrives, or a space every
    ``trickle`` seconds."""
    method, path, headers, body = request
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()]
        + [(b"content-length", str(len(body)).encode())],
        "client": ("203.0.113.9", 4000),
        "server": ("testserver", 80),
        "state": {},
    }
    first = {"type": "http.request", "body": body[:20], "more_body": True}
    arriving: list[dict[str, Any]] = [first]
    if client_leaves:
        arriving.append({"type": "http.disconnect"})
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if arriving:
            return arriving.pop(0)
        if client_leaves:
            return {"type": "http.disconnect"}
        if trickle is not None:
            await asyncio.sleep(trickle)
            return {"type": "http.request", "body": b" ", "more_body": True}
        await asyncio.Event().wait()  # never
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent
