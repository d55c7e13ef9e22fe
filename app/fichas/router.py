"""HTTP routes: fichas per job, the screen-pop by phone, templates."""

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Header, Path, Query, Request, Response, status
from fastapi.responses import JSONResponse

from app.auth.dependencies import Admin, Reader
from app.core.bounded_json import BoundedJsonRoute
from app.core.config import SettingsDep
from app.core.db import DriverDep, SessionDep
from app.core.errors import (
    Forbidden,
    Unauthorized,
    ValidationFailed,
    problem_responses,
)
from app.core.fast_route import fast_get
from app.core.preconditions import not_modified
from app.customers.identifiers import caller_readings
from app.customers.schemas import CallerCandidates, PhoneText
from app.customers.service import CustomerNotFound
from app.fichas import service
from app.fichas.schemas import (
    Ficha,
    TemplateIn,
    TemplateList,
    TemplateOut,
)
from app.fichas.service import CallerNotFound, TemplateNotFound

router = APIRouter(prefix="/v1", tags=["fichas"], route_class=BoundedJsonRoute)

RoleName = Annotated[
    str, Query(pattern=r"^[a-z][a-z0-9_]{1,49}$", description="The job, e.g. support")
]
Lang = Annotated[
    str | None, Query(max_length=35, description="es, en, pt or fr; else Accept-Language")
]
AcceptLanguage = Annotated[str | None, Header(include_in_schema=False)]
TemplateRole = Annotated[str, Path(pattern=r"^[a-z][a-z0-9_]{1,49}$")]
IfNoneMatch = Annotated[
    str | None,
    Header(description="The ficha's ETag last read: 304 without a body while it is current."),
]
_VARY, _CACHE_CONTROL = "Accept-Language", "private, no-cache"
_FICHA_ETAG = {
    "ETag": {
        "description": "Weak: changes whenever anything the card shows changes, for If-None-Match",
        "schema": {"type": "string"},
    },
    "Content-Language": {
        "description": "The language of every text the card writes itself: `lang` if one of "
        "es, en, pt, fr, else the first of those in Accept-Language, else en",
        "schema": {"enum": ["en", "es", "pt", "fr"]},
    },
    "Vary": {
        "description": "Names Accept-Language: the card's language follows it (and Origin "
        "where CORS origins are configured)",
        "schema": {"type": "string"},
    },
    "Cache-Control": {
        "description": "The card is personal data: kept by the reader's own cache only, and "
        "checked again (If-None-Match) before each use",
        "schema": {"const": _CACHE_CONTROL},
    },
}
_FICHA_RESPONSES: dict[int | str, dict[str, object]] = {
    200: {"description": "The card", "headers": _FICHA_ETAG},
    304: {
        "description": "Not modified: the card is still the one the If-None-Match ETag names "
        "(no body; the read is in the access log)",
        "headers": _FICHA_ETAG,
    },
}


def _answer(ficha: Ficha, language: str, if_none_match: str | None) -> Response:
    """The card with its ETag and language, or 304 when the reader holds it already. The
    card is serialised once, for its body and its ETag alike (as its response model:
    the route's answer is that JSON)."""
    body = ficha.__pydantic_serializer__.to_json(ficha, by_alias=True)
    tag = service.ficha_etag(body)
    headers = {"Content-Language": language, "Vary": _VARY, "Cache-Control": _CACHE_CONTROL}
    return not_modified(if_none_match, tag, headers) or Response(
        body, media_type="application/json", headers={"ETag": tag, **headers}
    )


@fast_get(
    router,
    "/customers/{customer_id}/ficha",
    operation_id="get_ficha",
    summary="The customer card for one job",
    response_model=Ficha,
    responses={
        **_FICHA_RESPONSES,
        **problem_responses(
            Unauthorized, Forbidden, CustomerNotFound, TemplateNotFound, ValidationFailed
        ),
    },
)
async def get_ficha(
    customer_id: UUID,
    role: RoleName,
    request: Request,
    connection: DriverDep,
    principal: Reader,
    settings: SettingsDep,
    lang: Lang = None,
    accept_language: AcceptLanguage = None,
    if_none_match: IfNoneMatch = None,
) -> Ficha | Response:
    """A job-role key reads its own role's ficha only; admin and integration read any."""
    language = service.choose_language(lang, accept_language)
    state = request.app.state
    ficha = await service.ficha(
        connection, state.templates, settings, state.clock, customer_id, role, language, principal
    )
    return _answer(ficha, language, if_none_match)


@fast_get(
    router,
    "/fichas/by-phone/{phone}",
    operation_id="screen_pop",
    response_model=Ficha,
    summary="The screen-pop: the ficha of whoever calls from this number",
    responses={
        **_FICHA_RESPONSES,
        300: {
            "model": CallerCandidates,
            "description": "A bare-digit caller id several customers may own: the candidates",
        },
        **problem_responses(
            Unauthorized, Forbidden, CallerNotFound, TemplateNotFound, ValidationFailed
        ),
    },
)
async def screen_pop(
    phone: Annotated[
        PhoneText,
        Path(
            description="Any common spelling. By hand, the `+` goes as it is or as `%2B`; "
            "a generated client encodes the path itself: give it the number as written",
        ),
    ],
    role: RoleName,
    request: Request,
    connection: DriverDep,
    principal: Reader,
    settings: SettingsDep,
    lang: Lang = None,
    accept_language: AcceptLanguage = None,
    if_none_match: IfNoneMatch = None,
) -> Ficha | Response:
    """An unknown number is a 404 problem carrying the normalised `phone`. A caller id in
    bare digits (`33612345678`) is read both nationally and as international; when the
    readings belong to different customers the answer is 300 with the candidates."""
    readings = caller_readings(phone, settings.default_region, "path.phone")
    language = service.choose_language(lang, accept_language)
    state = request.app.state
    found = await service.screen_pop(
        connection, state.templates, settings, state.clock, readings, role, language, principal
    )
    if isinstance(found, CallerCandidates):
        return JSONResponse(found.model_dump(mode="json"), status_code=300)
    return _answer(found, language, if_none_match)


@router.get(
    "/ficha-templates",
    operation_id="list_ficha_templates",
    summary="Every ficha template",
    responses=problem_responses(Unauthorized, Forbidden),
)
async def list_ficha_templates(session: SessionDep, principal: Reader) -> TemplateList:
    return TemplateList(items=await service.list_templates(session))


@router.get(
    "/ficha-templates/{role}",
    operation_id="get_ficha_template",
    summary="One job's ficha template",
    responses=problem_responses(Unauthorized, Forbidden, TemplateNotFound, ValidationFailed),
)
async def get_ficha_template(
    role: TemplateRole, session: SessionDep, principal: Reader
) -> TemplateOut:
    return await service.get_template(session, role)


@router.put(
    "/ficha-templates/{role}",
    operation_id="put_ficha_template",
    summary="Create or replace a job's ficha template (used by the next ficha)",
    responses=problem_responses(Unauthorized, Forbidden, ValidationFailed),
)
async def put_ficha_template(
    role: TemplateRole, body: TemplateIn, session: SessionDep, principal: Admin
) -> TemplateOut:
    """Unknown sections or options are a 422 naming them; identity, indicators and flags
    are always present."""
    return await service.put_template(session, role, body)


@router.delete(
    "/ficha-templates/{role}",
    operation_id="delete_ficha_template",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Remove a custom template, or restore a built-in one to its default",
    responses=problem_responses(Unauthorized, Forbidden, TemplateNotFound, ValidationFailed),
)
async def delete_ficha_template(
    role: TemplateRole, session: SessionDep, principal: Admin
) -> Response:
    await service.delete_template(session, role)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
