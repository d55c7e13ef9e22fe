"""RFC 9457 problem+json: one base error, one renderer, and the OpenAPI declarations."""

import re
from collections.abc import Iterable, Mapping
from http import HTTPStatus
from typing import Any, ClassVar, Literal

import asyncpg
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from app.core.bounded_json import MAX_JSON_DEPTH, JsonTooDeep, NotJson

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_BASE = "urn:customer-history:problem:"
EXAMPLE_ID = "01933b8e-8a52-7cc2-9d0e-0c6f2b1e3a10"  # the id examples in the spec use
PROBLEMS_PATH = "/problems"  # where the page of each problem type is served

log = structlog.get_logger("app.errors")


class FieldError(BaseModel):
    """One invalid field: where it is and why it was refused."""

    field: str = Field(description="Dotted path of the field, e.g. body.identifiers.0.value")
    reason: str
    type: str = Field(description="Machine-readable error code")


class Problem(BaseModel):
    """An RFC 9457 problem document: what every problem type has. Each type's own schema
    (`<Name>Problem`) adds its constant `type` and `status` and its extension members."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(description=f"`{PROBLEM_BASE}<name>`, documented at `{PROBLEMS_PATH}/<name>`")
    title: str = Field(description="The same for every problem of a type")
    status: int
    detail: str | None = Field(default=None, description="This occurrence, for humans")
    instance: str | None = Field(default=None, description="The request's path")


class NoExtension(BaseModel):
    """A problem type whose documents carry only the standard members."""


class ProblemError(Exception):
    """Base of every error the service answers on purpose; rendered as problem+json.

    A subclass that sets ``code`` is a problem type of the catalogue: its URN is
    ``PROBLEM_BASE + code``, its page ``/problems/<code>``, its members ``Extension``'s
    fields, its example the real answer that ``example`` (detail, extension) builds.
    """

    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal-error"
    title: ClassVar[str] = "Internal error"
    Extension: ClassVar[type[BaseModel]] = NoExtension
    example: ClassVar[tuple[str, dict[str, Any]]] = ("An unexpected error occurred.", {})
    headers_sent: ClassVar[dict[str, str]] = {}  # response headers it always carries

    catalogue: ClassVar[dict[str, type["ProblemError"]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "code" in cls.__dict__:
            assert cls.code not in ProblemError.catalogue, f"two problem types {cls.code}"
            ProblemError.catalogue[cls.code] = cls

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

    @classmethod
    def type_uri(cls) -> str:
        return PROBLEM_BASE + cls.code

    @property
    def type(self) -> str:
        return self.type_uri()


ProblemError.catalogue[ProblemError.code] = ProblemError


class BadRequest(ProblemError):
    """The request cannot be understood as sent."""

    status = 400
    code = "bad-request"
    title = "Bad request"
    example = ("The request is not valid HTTP/1.1.", {})


class Unauthorized(ProblemError):
    """No API key or session token, or one that is unknown, expired or revoked. The answer
    carries `WWW-Authenticate: Bearer`."""

    status = 401
    code = "unauthorized"
    title = "Authentication required"
    example = ("The API key is unknown or revoked.", {})
    headers_sent = {"WWW-Authenticate": "Bearer"}

    def __init__(self, detail: str = "A valid API key is required.") -> None:
        super().__init__(detail, headers=self.headers_sent)


class Forbidden(ProblemError):
    """The key is valid but its role (or owner, or supervisor capability) does not admit
    the operation."""

    status = 403
    code = "forbidden"
    title = "Forbidden"
    example = ("Role 'marketing' may not call this operation (admin, integration).", {})


class NotFound(ProblemError):
    """Nothing answers at this path (no such route)."""

    status = 404
    code = "not-found"
    title = "Not found"
    example = ("Not Found", {})


class MethodNotAllowed(ProblemError):
    """The path exists but not with this method; `Allow` names those it takes."""

    status = 405
    code = "method-not-allowed"
    title = "Method not allowed"
    example = ("Method Not Allowed", {})


class Conflict(ProblemError):
    """The request conflicts with the state of the resource."""

    status = 409
    code = "conflict"
    title = "Conflict"
    example = ("The request conflicts with the resource's state.", {})


class PreconditionFailedFields(BaseModel):
    current_etag: str = Field(description="The ETag to read again and send", examples=['"4"'])


class PreconditionFailed(ProblemError):
    """`If-Match` names another version than the current one (or a weak ETag, which never
    matches): read again, then change."""

    status = 412
    code = "precondition-failed"
    title = "Precondition failed"
    Extension = PreconditionFailedFields
    example = (
        'If-Match "3" does not match the current version "4".',
        {"current_etag": '"4"'},
    )


class BodyTimeout(ProblemError):
    """The request body stopped arriving: no part of it came for
    `CH_BODY_IDLE_TIMEOUT_SECONDS`, or it came slower on average than
    `CH_BODY_MIN_BYTES_PER_SECOND` past that first allowance (a request holds its database
    connection meanwhile)."""

    status = 408
    code = "body-timeout"
    title = "Request timeout"
    example = (
        "The request body stopped arriving: nothing for 15 seconds, or slower than 1024 "
        "bytes a second.",
        {},
    )


class PayloadTooLarge(ProblemError):
    """The request body is larger than the service reads (`CH_MAX_BODY_BYTES`,
    `CH_MAX_BULK_BODY_BYTES` for bulk imports, 10,000 lines per import)."""

    status = 413
    code = "body-too-large"
    title = "Content too large"
    example = ("The request body exceeds 1048576 bytes.", {})


class UnsupportedMediaType(ProblemError):
    """The body's Content-Type is not one the operation reads."""

    status = 415
    code = "unsupported-media-type"
    title = "Unsupported media type"
    example = ("Send application/merge-patch+json (or application/json).", {})


class ValidationFields(BaseModel):
    errors: list[FieldError] = Field(description="Every field refused, with its reason")


class ValidationFailed(ProblemError):
    """A field of the request is missing or invalid: `errors` names each one by its path
    (`body.identifiers.0.value`, `query.phone`, `path.customer_id`, `header.If-Match`,
    `line.3.occurred_at` in a bulk import)."""

    status = 422
    code = "validation"
    title = "Request validation failed"
    Extension = ValidationFields
    example = (
        "body.identifiers.0.value: value is not a valid email address",
        {
            "errors": [
                {
                    "field": "body.identifiers.0.value",
                    "reason": "value is not a valid email address",
                    "type": "value_error",
                }
            ]
        },
    )


class PreconditionRequired(ProblemError):
    """The change needs `If-Match` with the ETag last read."""

    status = 428
    code = "precondition-required"
    title = "Precondition required"
    example = ("Send If-Match with the ETag you last read.", {})


class TooManyRequests(ProblemError):
    """Too many live streams open for this key (`CH_MAX_STREAMS_PER_KEY`); `Retry-After`
    says when to try again."""

    status = 429
    code = "too-many-streams"
    title = "Too many streams"
    example = ("This key holds 50 open streams already; close one first.", {})
    headers_sent = {"Retry-After": "5"}

    def __init__(self, detail: str, retry_after: int = 5) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after)})


class HeadersTooLarge(ProblemError):
    """The request line and headers are longer than `CH_MAX_HEADER_BYTES`, or more than
    `CH_MAX_HEADERS`; the connection is closed."""

    status = 431
    code = "headers-too-large"
    title = "Request header fields too large"
    example = ("The request head exceeds 32768 bytes.", {})


class ServiceUnavailable(ProblemError):
    """The database is unreachable, not at the newest migration, or aborted this request
    in favour of a concurrent one: retry after `Retry-After` seconds."""

    status = 503
    code = "service-unavailable"
    title = "Service unavailable"
    example = ("The database is unavailable; retry shortly.", {})
    headers_sent = {"Retry-After": "5"}

    def __init__(self, detail: str, retry_after: int = 5) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after)})


def problem_response(
    problem: type[ProblemError],
    *,
    detail: str | None = None,
    instance: str | None = None,
    extra: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """Render one problem document of a catalogued type; the only place that builds
    problem+json."""
    body: dict[str, Any] = {
        "type": problem.type_uri(),
        "title": problem.title,
        "status": problem.status,
    }
    if detail is not None:
        body["detail"] = detail
    if instance is not None:
        body["instance"] = instance
    body.update(extra or {})
    return JSONResponse(
        body, status_code=problem.status, media_type=PROBLEM_MEDIA_TYPE, headers=headers
    )


# How pydantic writes an enum member a Literal allows (``<TaskStatus.OPEN: 'open'>``):
# a reason names the value a client sends ('open') instead.
_ENUM_MEMBER = re.compile(r"<[A-Za-z_][\w.]*: ('[^'<>]*')>")


def field_errors(errors: Iterable[Mapping[str, Any]]) -> list[dict[str, str]]:
    """Turn pydantic error dicts into the ``errors`` member of a validation problem."""
    return [
        {
            "field": ".".join(str(part) for part in err.get("loc", ())),
            "reason": _ENUM_MEMBER.sub(r"\1", str(err.get("msg", "invalid"))),
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
        if isinstance(seen, asyncpg.InternalClientError):
            # The connection's protocol is mid-way through an operation the server's
            # going away interrupted ("another operation is in progress"): unusable.
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
        return {
            "type": "json_invalid",
            "loc": ("body", *cause.where),
            "msg": f"JSON decode error: {cause}",
        }
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


# The problem types of Starlette's own refusals, by status; any other status it may raise
# is answered with RFC 9457's about:blank (none is known to reach a client).
_FRAMEWORK_PROBLEMS: dict[int, type[ProblemError]] = {
    400: BadRequest,
    404: NotFound,
    405: MethodNotAllowed,
    413: PayloadTooLarge,
}


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that render every error as problem+json."""

    async def on_problem(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ProblemError)
        return problem_response(
            type(exc),
            detail=exc.detail,
            instance=request.url.path,
            extra=exc.extra,
            headers=exc.headers,
        )

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = field_errors(exc.errors())
        return problem_response(
            ValidationFailed,
            detail="; ".join(f"{e['field']}: {e['reason']}" for e in errors)[:1000],
            instance=request.url.path,
            extra={"errors": errors},
        )

    async def on_client_gone(request: Request, exc: Exception) -> JSONResponse:
        # The client hung up before its body arrived whole: its own doing, not an error of
        # the service (nobody reads this answer; the access line and metrics count a 400).
        return problem_response(
            BadRequest, detail="The body did not arrive whole.", instance=request.url.path
        )

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        if undecodable := _undecodable_json(exc.__cause__):
            return await on_validation(request, RequestValidationError([undecodable]))
        detail = exc.detail if isinstance(exc.detail, str) else None
        headers = exc.headers
        if exc.status_code == 405 and (allowed := _allowed_methods(request)):
            headers = {**(headers or {}), "Allow": ", ".join(sorted(allowed))}
        problem = _FRAMEWORK_PROBLEMS.get(exc.status_code)
        if problem is None:
            body = {
                "type": "about:blank",
                "title": HTTPStatus(exc.status_code).phrase,
                "status": exc.status_code,
                "detail": detail,
                "instance": request.url.path,
            }
            return JSONResponse(
                body, exc.status_code, headers=headers, media_type=PROBLEM_MEDIA_TYPE
            )
        return problem_response(problem, detail=detail, instance=request.url.path, headers=headers)

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        sqlstate = _sqlstate(exc)
        if sqlstate in _UNSTORABLE_TEXT_SQLSTATES:
            # Any text of the request may carry it (a field, a payload, a search); the
            # database is the one place that sees them all.
            reason = "Text cannot contain the NUL character (U+0000)."
            return problem_response(
                ValidationFailed,
                detail=reason,
                instance=request.url.path,
                extra={"errors": [{"field": "request", "reason": reason, "type": "string_nul"}]},
            )
        if sqlstate in _TRANSIENT_SQLSTATES:
            log.warning("transaction_aborted", error=type(exc).__name__)
            return problem_response(
                ServiceUnavailable,
                detail="A concurrent change aborted this request; retry it.",
                instance=request.url.path,
                headers={"Retry-After": "1"},
            )
        if isinstance(exc, PoolTimeout):
            log.warning("database_connections_all_in_use")
            return problem_response(
                ServiceUnavailable,
                detail="Every database connection of this process is in use; retry shortly.",
                instance=request.url.path,
                headers={"Retry-After": "1"},
            )
        if _is_database_unavailable(exc):
            log.warning("database_unavailable", error=type(exc).__name__)
            return problem_response(
                ServiceUnavailable,
                detail="The database is unavailable; retry shortly.",
                instance=request.url.path,
                headers={"Retry-After": "5"},
            )
        log.exception("unhandled_error", error=type(exc).__name__)
        return problem_response(
            ProblemError, detail="An unexpected error occurred.", instance=request.url.path
        )

    app.add_exception_handler(ProblemError, on_problem)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(ClientDisconnect, on_client_gone)
    # Database errors are answered by the inner exception middleware, which ends the
    # request cleanly; only what is left reaches the outermost handler, which re-raises
    # after answering (and the server then drops the client's connection).
    database_errors = (
        DBAPIError,
        PoolTimeout,
        asyncpg.PostgresError,
        asyncpg.InterfaceError,
        OSError,
    )
    for database_error in database_errors:
        app.add_exception_handler(database_error, on_unexpected)
    app.add_exception_handler(Exception, on_unexpected)


def schema_name(problem: type[ProblemError]) -> str:
    """The component name of a problem type's schema: ``customer-not-found`` is
    ``CustomerNotFoundProblem``."""
    return "".join(part.capitalize() for part in problem.code.split("-")) + "Problem"


_MODELS: dict[str, type[BaseModel]] = {}


def problem_model(problem: type[ProblemError]) -> type[BaseModel]:
    """The model of one problem type's documents: the standard members, its constant
    ``type`` and ``status``, and its extension members (no others)."""
    if problem.code not in _MODELS:
        _MODELS[problem.code] = _model(problem)
    return _MODELS[problem.code]


def _model(problem: type[ProblemError]) -> type[BaseModel]:
    fields: dict[str, Any] = {
        "type": (Literal[problem.type_uri()], Field(description=f"{PROBLEMS_PATH}/{problem.code}")),
        "title": (str, Field(examples=[problem.title])),
        "status": (Literal[problem.status], ...),
        "detail": (str | None, Field(default=None, description="This occurrence, for humans")),
        "instance": (str | None, Field(default=None, description="The request's path")),
    }
    fields.update(
        {name: (field.annotation, field) for name, field in problem.Extension.model_fields.items()}
    )
    doc = " ".join((problem.__doc__ or problem.title).split())
    return create_model(
        schema_name(problem),
        __doc__=f"{doc} Documented at {PROBLEMS_PATH}/{problem.code}.",
        __config__=ConfigDict(extra="forbid", title=schema_name(problem)),
        **fields,
    )


def problem_example(problem: type[ProblemError], instance: str | None = None) -> dict[str, Any]:
    """The answer a problem type's example gives, as the service renders it."""
    detail, extra = problem.example
    body = {"type": problem.type_uri(), "title": problem.title, "status": problem.status}
    body |= {"detail": detail} | ({"instance": instance} if instance else {})
    return body | extra


def problem_responses(*problems: type[ProblemError]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for the problem types an operation may answer: one
    schema per type (several of one status are told apart by ``type``), each with its
    example, and the headers they carry."""
    by_status: dict[int, list[type[ProblemError]]] = {}
    for problem in problems:
        by_status.setdefault(problem.status, []).append(problem)
    responses: dict[int | str, dict[str, Any]] = {}
    for status, group in sorted(by_status.items()):
        refs = {p.type_uri(): f"#/components/schemas/{schema_name(p)}" for p in group}
        schema: dict[str, Any] = (
            {"$ref": next(iter(refs.values()))}
            if len(group) == 1
            else {
                "oneOf": [{"$ref": ref} for ref in refs.values()],
                "discriminator": {"propertyName": "type", "mapping": refs},
            }
        )
        headers = {
            name: {"$ref": f"#/components/headers/{name}"} for p in group for name in p.headers_sent
        }
        responses[status] = {
            "description": "; ".join(p.title for p in group),
            "content": {
                PROBLEM_MEDIA_TYPE: {
                    "schema": schema,
                    "examples": {
                        p.code: {"summary": p.title, "value": problem_example(p)} for p in group
                    },
                }
            },
            **({"headers": headers} if headers else {}),
        }
    return responses


def invalid_field(field: str, reason: str, type_: str = "value_error") -> ValidationFailed:
    """A 422 that names one field, e.g. ``invalid_field("query.phone", "not a number")``."""
    return ValidationFailed(
        f"{field}: {reason}", extra={"errors": [{"field": field, "reason": reason, "type": type_}]}
    )


def invalid_fields(exc: ValidationError, *at: str | int) -> ValidationFailed:
    """A 422 naming every field a model refused, each under ``at`` (``"body"``,
    ``"line", 3``), as request validation names them."""
    return invalid_errors(exc.errors(include_url=False), *at)


def invalid_errors(refused: Iterable[Mapping[str, Any]], *at: str | int) -> ValidationFailed:
    """A 422 naming the fields of pydantic's ``refused`` errors, each under ``at``."""
    errors = field_errors({**e, "loc": (*at, *e["loc"])} for e in refused)
    return ValidationFailed(
        "; ".join(f"{e['field']}: {e['reason']}" for e in errors), extra={"errors": errors}
    )
