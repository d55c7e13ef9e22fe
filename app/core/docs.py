"""/docs (Swagger UI) and /redoc (ReDoc), served with their scripts and styles from the
installed ``fastapi-offline`` package, never a CDN: they work on a network without
internet, at the versions pinned in constraints.txt.

/problems lists the problem types of the catalogue and /problems/<name> documents one:
what `urn:customer-history:problem:<name>` means, its status, members and an example.

A Content-Security-Policy keeps each page to the service itself: ReDoc's sidebar shows
its maker's logo from the maker's CDN, unconditionally; the browser now refuses that one
request and ReDoc leaves the logo out. No fonts are fetched, and Swagger UI's validator
badge (an image from the validator's host) is off.
"""

import html
import json
from importlib.resources import files
from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.staticfiles import StaticFiles
from starlette.responses import HTMLResponse

from app.core.errors import (
    PROBLEMS_PATH,
    NotFound,
    ProblemError,
    problem_example,
    problem_model,
    schema_name,
)

ASSETS_URL = "/docs-assets"
# The pages' own inline bootstrap script and the widgets' inline styles need 'unsafe-inline';
# ReDoc renders in a blob: worker; icons are data: URIs.
POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; "
    "connect-src 'self'; frame-ancestors 'none'"
)


def _assets() -> str:
    return str(files("fastapi_offline") / "static")


def install_docs(app: FastAPI) -> None:
    """Add /docs, /redoc and their assets to ``app`` (built with ``docs_url=None`` and
    ``redoc_url=None``)."""
    app.mount(ASSETS_URL, StaticFiles(directory=_assets()), name="docs-assets")
    openapi_url = app.openapi_url or "/openapi.json"

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        page = get_swagger_ui_html(
            openapi_url=f"{root}{openapi_url}",
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{root}{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
            swagger_ui_parameters={"validatorUrl": None},
        )
        page.headers["Content-Security-Policy"] = POLICY
        return page

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        page = get_redoc_html(
            openapi_url=f"{root}{openapi_url}",
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{root}{ASSETS_URL}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
            with_google_fonts=False,
        )
        page.headers["Content-Security-Policy"] = POLICY
        return page

    @app.get(PROBLEMS_PATH, include_in_schema=False)
    async def problems() -> HTMLResponse:
        rows = "".join(
            f'<tr><td><a href="{PROBLEMS_PATH}/{p.code}"><code>{p.code}</code></a></td>'
            f"<td>{p.status}</td><td>{html.escape(p.title)}</td></tr>"
            for p in sorted(ProblemError.catalogue.values(), key=lambda p: (p.status, p.code))
        )
        return _page(
            "Problem types",
            "<p>Every error is RFC 9457 <code>application/problem+json</code> whose "
            "<code>type</code> is <code>urn:customer-history:problem:&lt;name&gt;</code>.</p>"
            f"<table><tr><th>name</th><th>status</th><th>title</th></tr>{rows}</table>",
        )

    @app.get(PROBLEMS_PATH + "/{code}", include_in_schema=False)
    async def problem(code: str) -> HTMLResponse:
        found = ProblemError.catalogue.get(code)
        if found is None:
            raise NotFound(f"No problem type '{code}'.")
        schema = problem_model(found).model_json_schema()
        headers = "".join(f"<li><code>{html.escape(h)}</code></li>" for h in found.headers_sent)
        return _page(
            found.title,
            f"<p><code>{html.escape(found.type_uri())}</code>, status {found.status}; in the "
            f"OpenAPI document: <code>#/components/schemas/{schema_name(found)}</code></p>"
            f"<p>{html.escape(' '.join((found.__doc__ or '').split()))}</p>"
            + (f"<h2>Headers</h2><ul>{headers}</ul>" if headers else "")
            + "<h2>Members</h2>"
            + _members(schema)
            + "<h2>Example</h2><pre>"
            + html.escape(json.dumps(problem_example(found, "/v1/..."), indent=2))
            + "</pre>",
        )


def _members(schema: dict[str, Any]) -> str:
    required = set(schema.get("required", []))
    rows = "".join(
        f"<tr><td><code>{name}</code></td><td>{'yes' if name in required else 'no'}</td>"
        f"<td><code>{html.escape(json.dumps(_without_titles(member)))}</code></td></tr>"
        for name, member in schema["properties"].items()
    )
    return f"<table><tr><th>member</th><th>required</th><th>schema</th></tr>{rows}</table>"


def _without_titles(schema: Any) -> Any:
    if isinstance(schema, dict):
        return {k: _without_titles(v) for k, v in schema.items() if k != "title"}
    if isinstance(schema, list):
        return [_without_titles(v) for v in schema]
    return schema


def _page(title: str, body: str) -> HTMLResponse:
    page = HTMLResponse(
        f"<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>{html.escape(title)}</title></head><body><h1>{html.escape(title)}</h1>"
        f"{body}</body></html>"
    )
    page.headers["Content-Security-Policy"] = POLICY
    return page
