"""/docs (Swagger UI) and /redoc (ReDoc), served with their scripts and styles from the
installed ``fastapi-offline`` package, never a CDN: they work on a network without
internet, at the versions pinned in constraints.txt.

A Content-Security-Policy keeps each page to the service itself: ReDoc's sidebar shows
its maker's logo from the maker's CDN, unconditionally; the browser now refuses that one
request and ReDoc leaves the logo out. No fonts are fetched, and Swagger UI's validator
badge (an image from the validator's host) is off.
"""

from importlib.resources import files

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.staticfiles import StaticFiles
from starlette.responses import HTMLResponse

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
