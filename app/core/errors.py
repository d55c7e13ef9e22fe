"""RFC 9457 problem+json: one base error, one renderer, and the OpenAPI declarations."""

import re
from collections.abc import Iterable, Mapping
from http import HTTPStatus
from typing import Any

import asyncpg
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.core.bounded_json import MAX_JSON_DEPTH, JsonTooDeep, NotJson

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_BASE = "urn:customer-history:problem:"

log = structlog.get_logger("app.errors")


class FieldError(BaseModel):
    """One invalid field: where it is and why it was refused."""

    field: str = Field(description="Dotted path of the field, e.g. body.identifiers.0.value")
    reason: str
    type: str = Field(description="Machine-readable error code")


class Problem(BaseModel):
    """An RFC 9457 problem document."""

    model_config = ConfigDict(extra="allow")

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[FieldError] | None = None


class ProblemError(Exception):
    """Base of every error the service answers on purpose; rendered as problem+json."""

    status: int = 500
    code: str | None = None  # appended to PROBLEM_BASE to form the problem type

    def __init__(
        self,
        detail: str | None = None,
        *,
        extra: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = dict(extra or {})
        self.headers = dict(headers or {})

    @property
    def type(self) -> str:
        return PROBLEM_BASE + self.code if self.code else "about:blank"


class BadRequest(ProblemError):
    status = 400


class Unauthorized(ProblemError):
    status = 401

    def __init__(self, detail: str = "A valid API key is required.") -> None:
        super().__init__(detail, headers={"WWW-Authenticate": "Bearer"})


class Forbidden(ProblemError):
    status = 403


class NotFound(ProblemError):
    status = 404


class Conflict(ProblemError):
    status = 409


class PreconditionFailed(ProblemError):
    status = 412


class PayloadTooLarge(ProblemError):
    status = 413


class UnsupportedMediaType(ProblemError):
    status = 415


class UnprocessableContent(ProblemError):
    status = 422


class PreconditionRequired(ProblemError):
    status = 428


class TooManyRequests(ProblemError):
    status = 429

    def __init__(self, detail: str, retry_after: int = 5) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after)})


class ServiceUnavailable(ProblemError):
    status = 503

    def __init__(self, detail: str, retry_after: int = 5) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after)})


def problem_response(
    status: int,
    *,
    detail: str | None = None,
    instance: str | None = None,
    type_: str = "about:blank",
    title: str | None = None,
    extra: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """Render one problem document; the only place that builds problem+json."""
    body: dict[str, Any] = {
        "type": type_,
        "title": title or HTTPStatus(status).phrase,
        "status": status,
    }
    if detail is not None:
        body["detail"] = detail
    if instance is not None:
        body["instance"] = instance
    body.update(extra or {})
    return JSONResponse(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def field_errors(errors: Iterable[Mapping[str, Any]]) -> list[dict[str, str]]:
    """Turn pydantic error dicts into the ``errors`` member of a validation problem."""
    return [
        {
            "field": ".".join(str(part) for part in err.get("loc", ())),
            "reason": str(err.get("msg", "invalid")),
            "type": str(err.get("type", "invalid")),
        }
        for err in errors
    ]


# Deadlock and serialization failures: PostgreSQL aborted one transaction; a retry succeeds.
_TRANSIENT_SQLSTATES = {"40P01", "40001"}
# Text PostgreSQL cannot store: a NUL character (U+0000) in text (22021) or in JSON (22P05).
_UNSTORABLE_TEXT_SQLSTATES = {"22021", "22P05"}


def _sqlstate(exc: Exception) -> str | None:
    """The SQLSTATE of a database error, raised through SQLAlchemy or by the driver itself."""
    original = getattr(exc, "orig", None)
    for raised in (exc, original, getattr(original, "__cause__", None)):
        if state := getattr(raised, "sqlstate", None):
            return str(state)
    return None


# Connection exceptions (class 08) and the server shutting down or starting up (57P0x),
# as the driver raises them on the prepared hot paths that bypass SQLAlchemy.
_UNAVAILABLE_SQLSTATES = ("08", "57P01", "57P02", "57P03")


def _is_database_unavailable(exc: BaseException) -> bool:
    """The database is away: SQLAlchemy's errors, the driver's, and the adapter's own
    (which wraps the driver's as its cause), found anywhere along the cause chain."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OperationalError | InterfaceError | asyncpg.InterfaceError):
            return True
        if isinstance(seen, DBAPIError) and seen.connection_invalidated:
            return True
        if isinstance(seen, ConnectionError | OSError):
            return True
        if str(getattr(seen, "sqlstate", "") or "").startswith(_UNAVAILABLE_SQLSTATES):
            return True
        seen = seen.__cause__ or getattr(seen, "orig", None)
    return False


def _undecodable_json(cause: BaseException | None) -> dict[str, Any] | None:
    """The validation error for a JSON body the parser gave up on before reading it.

    FastAPI answers these with a bare 400 while other malformed JSON is a 422 naming
    the position; a body that is not UTF-8 (RFC 8259), nested past the parser's depth or
    holding what JSON has no place for (NaN, a 5,000-digit integer) is malformed JSON too,
    so it gets the same answer.
    """
    if isinstance(cause, UnicodeDecodeError):
        return {
            "type": "json_invalid",
            "loc": ("body", cause.start),
            "msg": f"JSON decode error: not UTF-8 ({cause.reason})",
        }
    if isinstance(cause, RecursionError | JsonTooDeep):
        return {
            "type": "json_invalid",
            "loc": ("body",),
            "msg": f"JSON decode error: nests deeper than {MAX_JSON_DEPTH} levels",
        }
    if isinstance(cause, NotJson):
        return {"type": "json_invalid", "loc": ("body",), "msg": f"JSON decode error: {cause}"}
    return None


def _allowed_methods(request: Request) -> set[str]:
    """The methods of every documented operation at the request's path, for a 405's ``Allow``.

    RFC 9110 asks for all the methods the resource supports; Starlette names only those
    of the first route whose path matched (``Allow: POST`` on ``/v1/customers``).
    """
    return {
        method.upper()
        for template, operations in request.app.openapi()["paths"].items()
        if re.fullmatch(
            "".join(
                "[^/]+" if part.startswith("{") else re.escape(part)
                for part in re.split(r"(\{[^}]+\})", template)
            ),
            request.url.path,
        )
        for method in operations
    }


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that render every error as problem+json."""

    async def on_problem(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ProblemError)
        return problem_response(
            exc.status,
            detail=exc.detail,
            instance=request.url.path,
            type_=exc.type,
            extra=exc.extra,
            headers=exc.headers,
        )

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = field_errors(exc.errors())
        return problem_response(
            422,
            detail="; ".join(f"{e['field']}: {e['reason']}" for e in errors)[:1000],
            instance=request.url.path,
            type_=ValidationFailed().type,
            title="Request validation failed",
            extra={"errors": errors},
        )

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        if undecodable := _undecodable_json(exc.__cause__):
            return await on_validation(request, RequestValidationError([undecodable]))
        detail = exc.detail if isinstance(exc.detail, str) else None
        headers = exc.headers
        if exc.status_code == 405 and (allowed := _allowed_methods(request)):
            headers = {**(headers or {}), "Allow": ", ".join(sorted(allowed))}
        return problem_response(
            exc.status_code,
            detail=detail,
            instance=request.url.path,
            headers=headers,
        )

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        sqlstate = _sqlstate(exc)
        if sqlstate in _UNSTORABLE_TEXT_SQLSTATES:
            # Any text of the request may carry it (a field, a payload, a search); the
            # database is the one place that sees them all.
            return problem_response(
                422,
                detail="Text cannot contain the NUL character (U+0000).",
                instance=request.url.path,
                type_=ValidationFailed().type,
            )
        if sqlstate in _TRANSIENT_SQLSTATES:
            log.warning("transaction_aborted", error=type(exc).__name__)
            return problem_response(
                503,
                detail="A concurrent change aborted this request; retry it.",
                instance=request.url.path,
                headers={"Retry-After": "1"},
            )
        if _is_database_unavailable(exc):
            log.warning("database_unavailable", error=type(exc).__name__)
            return problem_response(
                503,
                detail="The database is unavailable; retry shortly.",
                instance=request.url.path,
                headers={"Retry-After": "5"},
            )
        log.exception("unhandled_error", error=type(exc).__name__)
        return problem_response(
            500, detail="An unexpected error occurred.", instance=request.url.path
        )

    app.add_exception_handler(ProblemError, on_problem)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    # Database errors are answered by the inner exception middleware, which ends the
    # request cleanly; only what is left reaches the outermost handler, which re-raises
    # after answering (and the server then drops the client's connection).
    for database_error in (DBAPIError, asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
        app.add_exception_handler(database_error, on_unexpected)
    app.add_exception_handler(Exception, on_unexpected)


_EXAMPLES: dict[int, dict[str, Any]] = {
    400: {"title": "Bad Request", "detail": "The request cannot be understood."},
    401: {"title": "Unauthorized", "detail": "A valid API key is required."},
    403: {"title": "Forbidden", "detail": "Role 'marketing' may not call this operation."},
    404: {"title": "Not Found", "detail": "Customer not found."},
    409: {"title": "Conflict", "detail": "The resource conflicts with another."},
    412: {"title": "Precondition Failed", "detail": "If-Match does not match version 3."},
    413: {"title": "Content Too Large", "detail": "The body exceeds 1048576 bytes."},
    415: {"title": "Unsupported Media Type", "detail": "Send application/json."},
    422: {
        "title": "Request validation failed",
        "detail": "body.email: value is not a valid email address",
        "errors": [
            {
                "field": "body.email",
                "reason": "value is not a valid email address",
                "type": "value_error",
            }
        ],
    },
    428: {"title": "Precondition Required", "detail": "Send If-Match with the current ETag."},
    429: {"title": "Too Many Requests", "detail": "This key holds 50 open streams already."},
    503: {"title": "Service Unavailable", "detail": "The database is unavailable."},
}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries declaring problem+json for the given statuses."""
    return {
        status: {
            "description": HTTPStatus(status).phrase,
            "content": {
                PROBLEM_MEDIA_TYPE: {
                    "schema": {"$ref": "#/components/schemas/Problem"},
                    "example": {"type": "about:blank", "status": status, **_EXAMPLES[status]},
                }
            },
        }
        for status in statuses
    }


class ValidationFailed(UnprocessableContent):
    """A 422 raised below the router, shaped like request validation errors."""

    code = "validation"


def invalid_field(field: str, reason: str, type_: str = "value_error") -> ValidationFailed:
    """A 422 that names one field, e.g. ``invalid_field("query.phone", "not a number")``."""
    return ValidationFailed(
        f"{field}: {reason}", extra={"errors": [{"field": field, "reason": reason, "type": type_}]}
    )


def invalid_fields(exc: ValidationError, *at: str | int) -> ValidationFailed:
    """A 422 naming every field a model refused, each under ``at`` (``"body"``,
    ``"line", 3``), as request validation names them."""
    errors = field_errors({**e, "loc": (*at, *e["loc"])} for e in exc.errors(include_url=False))
    return ValidationFailed(
        "; ".join(f"{e['field']}: {e['reason']}" for e in errors), extra={"errors": errors}
    )
