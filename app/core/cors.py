"""Cross-origin requests from browser front ends (CORS), for an allow-list of origins.

Callers authenticate with a bearer key or session token, never a cookie, so no
credentials mode is needed: a page of an allowed origin reads answers only with a token
it holds. Preflights are answered before any route, so they need no key.
"""

from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response

from app.core.errors import BadRequest, problem_response

# What a front end sends beyond the CORS-safelisted headers: the credential, the
# preconditions, retries made safe, a stream's resume point, its own request id.
ALLOWED_HEADERS = (
    "Authorization",
    "If-Match",
    "If-None-Match",
    "Idempotency-Key",
    "Last-Event-ID",
    "X-Request-ID",
)
ALLOWED_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
# What a page's script may read beyond the safelisted response headers.
EXPOSED_HEADERS = ("ETag", "Location", "Retry-After", "X-Request-ID")
_DEFAULT_PORTS = {"http": 80, "https": 443}


def parse_origins(setting: str) -> list[str]:
    """The origins of ``CH_CORS_ORIGINS`` as browsers send them (lower-case, no default
    port); ValueError naming the first that is not a bare ``scheme://host[:port]``."""
    origins = []
    for raw in (part.strip() for part in setting.split(",")):
        if not raw:
            continue
        try:
            parts = urlsplit(raw)
            port = parts.port
        except ValueError:
            raise ValueError(f"CH_CORS_ORIGINS: {raw!r} is not an origin") from None
        host = parts.hostname
        if (
            parts.scheme not in _DEFAULT_PORTS
            or not host
            or parts.username is not None
            or parts.path not in ("", "/")
            or parts.query
            or parts.fragment
            or "*" in raw
        ):
            raise ValueError(
                f"CH_CORS_ORIGINS: {raw!r} is not an exact origin (scheme://host[:port])"
            )
        if ":" in host:
            host = f"[{host}]"
        suffix = "" if port is None or port == _DEFAULT_PORTS[parts.scheme] else f":{port}"
        origins.append(f"{parts.scheme}://{host}{suffix}")
    return origins


class PreflightRefused(BadRequest):
    """A CORS preflight from an origin not in `CH_CORS_ORIGINS`, or asking for a method or
    headers the service does not allow. The answer never carries Access-Control-Allow-Origin
    (Starlette still adds its other CORS headers, which grant nothing)."""

    code = "cors-preflight-refused"
    title = "CORS preflight refused"
    example = ("Disallowed CORS origin", {})


class ProblemCORSMiddleware(CORSMiddleware):
    """Starlette's CORS middleware, whose refused preflights are problem+json."""

    def preflight_response(self, request_headers: Headers) -> Response:
        """The preflight answer; a refusal names what was refused (origin, method or
        headers), as RFC 9457 problem+json with the CORS headers Starlette gives it."""
        response = super().preflight_response(request_headers)
        if response.status_code < 400:
            return response
        headers = {
            name: value
            for name, value in response.headers.items()
            if name.startswith("access-control-") or name == "vary"
        }
        assert response.status_code == PreflightRefused.status
        return problem_response(
            PreflightRefused, detail=bytes(response.body).decode(), headers=headers
        )


def cors_options(origins: list[str]) -> dict[str, object]:
    """The CORS middleware's options for an allow-list of exact origins."""
    return {
        "allow_origins": origins,
        "allow_methods": ALLOWED_METHODS,
        "allow_headers": ALLOWED_HEADERS,
        "expose_headers": EXPOSED_HEADERS,
        "allow_credentials": False,
    }
