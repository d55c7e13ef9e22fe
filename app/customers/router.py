"""HTTP routes of the customer aggregate."""

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Header, Query, Request, Response, status
from fastapi.responses import JSONResponse, RedirectResponse

from app.auth.dependencies import Reader, Writer
from app.core.bounded_json import BoundedJsonRoute
from app.core.config import SettingsDep
from app.core.db import DriverDep, SessionDep
from app.core.errors import (
    Forbidden,
    PreconditionFailed,
    Unauthorized,
    ValidationFailed,
    invalid_field,
    problem_responses,
)
from app.core.fast_route import fast_get
from app.core.openapi import headers
from app.core.pagination import InvalidCursor, Limit
from app.core.preconditions import IfMatch, etag, not_modified
from app.customers import search, service
from app.customers.identifiers import IdentifierKind, caller_readings, normalize_given
from app.customers.schemas import (
    CallerCandidates,
    Candidate,
    ConsentPage,
    ContactPage,
    CustomerCreate,
    CustomerKind,
    CustomerOut,
    CustomerPage,
    CustomerStatus,
    EmailText,
    ExternalIdText,
    Identification,
    IdentifierIn,
    IdentifierOut,
    PhoneText,
    Tier,
)
from app.customers.service import (
    CustomerNotActive,
    CustomerNotFound,
    IdentifierConflict,
    IdentifierNotFound,
    NotIdentified,
)

router = APIRouter(prefix="/v1", tags=["customers"], route_class=BoundedJsonRoute)

IfNoneMatch = Annotated[
    str | None,
    Header(description="The ETag last read: 304 without a body while it is current."),
]
ETAG_HEADER = headers("ETag")


def _with_etag(response: Response, version: int) -> None:
    response.headers["ETag"] = etag(version)


@router.post(
    "/customers",
    operation_id="create_customer",
    status_code=status.HTTP_201_CREATED,
    summary="Create a customer, optionally with identifiers",
    responses={
        201: {"description": "The customer created", "headers": headers("Location", "ETag")},
        **problem_responses(Unauthorized, Forbidden, IdentifierConflict, ValidationFailed),
    },
)
async def create_customer(
    body: CustomerCreate,
    session: SessionDep,
    principal: Writer,
    request: Request,
    response: Response,
) -> CustomerOut:
    """409 with `conflicting_customer_id` when an identifier already names another customer."""
    customer = await service.create_customer(session, body, principal)
    response.headers["Location"] = str(request.url_for("get_customer", customer_id=customer.id))
    _with_etag(response, customer.version)
    return customer


@router.get(
    "/customers",
    operation_id="search_customers",
    summary="Search customers",
    responses=problem_responses(InvalidCursor, Unauthorized, Forbidden, ValidationFailed),
)
async def search_customers(
    session: SessionDep,
    principal: Reader,
    settings: SettingsDep,
    q: Annotated[
        str | None,
        Query(
            max_length=200,
            description="Name (accent- and case-insensitive, partial words), email or phone.",
        ),
    ] = None,
    phone: Annotated[PhoneText | None, Query(description="Any common spelling.")] = None,
    email: Annotated[EmailText | None, Query()] = None,
    external_id: Annotated[ExternalIdText | None, Query(description="source:type:id")] = None,
    owner_id: Annotated[str | None, Query(max_length=200)] = None,
    tier: Tier | None = None,
    tag: Annotated[str | None, Query(max_length=50)] = None,
    kind: CustomerKind | None = None,
    customer_status: Annotated[
        CustomerStatus | None, Query(alias="status", description="Default: active")
    ] = CustomerStatus.ACTIVE,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    limit: Limit = 50,
) -> CustomerPage:
    filters = search.search_filters(
        q=q,
        phone=phone,
        email=email,
        external_id=external_id,
        owner_id=owner_id,
        tier=tier,
        tag=tag,
        kind=kind,
        status=customer_status,
        default_region=settings.default_region,
    )
    return await search.search_customers(session, filters, principal, limit=limit, cursor=cursor)


@fast_get(
    router,
    "/identify",
    operation_id="identify_customer",
    summary="Who a phone, email or external id belongs to (the fast path)",
    response_model=Identification,
    responses={
        300: {
            "model": CallerCandidates,
            "description": "A bare-digit phone several customers may own: the candidates",
        },
        **problem_responses(Unauthorized, Forbidden, NotIdentified, ValidationFailed),
    },
)
async def identify_customer(
    connection: DriverDep,
    principal: Reader,
    settings: SettingsDep,
    phone: Annotated[PhoneText | None, Query(description="Any common spelling.")] = None,
    email: Annotated[EmailText | None, Query()] = None,
    external_id: Annotated[ExternalIdText | None, Query(description="source:type:id")] = None,
) -> Identification | JSONResponse:
    """Exactly one of `phone`, `email` and `external_id` (422 otherwise), normalised as
    the customer's identifiers are; 404 when it names no customer the key sees. A phone is
    read as the screen-pop and routing read a caller id: in bare digits (`33612345678`)
    both nationally and as international, and 300 with the candidates when the readings
    belong to different customers."""
    given = {"phone": phone, "email": email, "external_id": external_id}
    if sum(value is not None for value in given.values()) != 1:
        raise invalid_field("query", "give exactly one of phone, email or external_id", "missing")
    if phone is not None:
        kind, values = (
            IdentifierKind.PHONE,
            caller_readings(phone, settings.default_region, "query.phone"),
        )
    else:
        [(kind_name, value)] = normalize_given(given, settings.default_region, "query")
        kind, values = IdentifierKind(kind_name), [value]
    found = await search.identify(connection, kind, values, principal)
    if not found:
        raise service.NotIdentified(
            f"No customer is identified by {kind.value} {values[0]}.",
            extra={"identifier": {"kind": kind.value, "value": values[0]}},
        )
    if len({f.customer_id for f in found}) > 1:
        candidates = [
            Candidate(
                customer_id=f.customer_id,
                display_name=f.display_name,
                phone=f.value,
                unverified=f.unverified,
            )
            for f in found
        ]
        return JSONResponse(
            CallerCandidates.of(values, candidates).model_dump(mode="json"), status_code=300
        )
    return Identification(
        customer_id=found[0].customer_id,
        status=CustomerStatus(found[0].status),
        unverified=found[0].unverified,
    )


@router.get(
    "/customers/{customer_id}",
    operation_id="get_customer",
    summary="The customer aggregate",
    response_model=CustomerOut,
    responses={
        200: {"description": "The aggregate", "headers": ETAG_HEADER},
        304: {
            "description": "Not modified: the If-None-Match ETag is current (no body)",
            "headers": ETAG_HEADER,
        },
        308: {"description": "Merged: Location names the customer it was merged into"},
        **problem_responses(Unauthorized, Forbidden, CustomerNotFound, ValidationFailed),
    },
)
async def get_customer(
    customer_id: UUID,
    session: SessionDep,
    principal: Reader,
    request: Request,
    response: Response,
    follow: Annotated[
        bool, Query(description="A merged customer redirects (308) to its survivor unless false")
    ] = True,
    if_none_match: IfNoneMatch = None,
) -> Any:
    """With If-None-Match naming the current ETag: 304 and no body (the read is still in
    the access log). A person in an organisation and an organisation are always answered in
    full: they show other customers, whose changes do not change this ETag; so is a merged
    customer (its owner follows its survivor's)."""
    shown = await service.show_customer(session, customer_id, principal, follow=follow)
    if isinstance(shown, service.Merged):
        url = request.url_for("get_customer", customer_id=shown.survivor)
        return RedirectResponse(str(url), status_code=status.HTTP_308_PERMANENT_REDIRECT)
    customer, dated_by_version = shown
    _with_etag(response, customer.version)
    unchanged = not_modified(if_none_match, etag(customer.version)) if dated_by_version else None
    return unchanged or customer


@router.post(
    "/customers/{customer_id}/identifiers",
    operation_id="add_identifier",
    status_code=status.HTTP_201_CREATED,
    summary="Attach a phone, email or external id",
    responses={
        200: {
            "description": "The identifier already belonged to this customer",
            "model": IdentifierOut,
        },
        **problem_responses(
            Unauthorized,
            Forbidden,
            CustomerNotFound,
            IdentifierConflict,
            CustomerNotActive,
            PreconditionFailed,
            ValidationFailed,
        ),
    },
)
async def add_identifier(
    customer_id: UUID,
    body: IdentifierIn,
    session: SessionDep,
    principal: Writer,
    response: Response,
    if_match: IfMatch = None,
) -> IdentifierOut:
    identifier, created = await service.add_identifier(
        session, customer_id, body, if_match, principal
    )
    if not created:
        response.status_code = status.HTTP_200_OK
    return identifier


@router.delete(
    "/customers/{customer_id}/identifiers/{identifier_id}",
    operation_id="remove_identifier",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Detach an identifier",
    responses=problem_responses(
        Unauthorized,
        Forbidden,
        CustomerNotFound,
        IdentifierNotFound,
        CustomerNotActive,
        PreconditionFailed,
        ValidationFailed,
    ),
)
async def remove_identifier(
    customer_id: UUID,
    identifier_id: UUID,
    session: SessionDep,
    principal: Writer,
    if_match: IfMatch = None,
) -> Response:
    await service.remove_identifier(session, customer_id, identifier_id, if_match, principal)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/customers/{customer_id}/contacts",
    operation_id="list_contacts",
    summary="The contact persons of an organisation",
    responses=problem_responses(
        InvalidCursor, Unauthorized, Forbidden, CustomerNotFound, ValidationFailed
    ),
)
async def list_contacts(
    customer_id: UUID,
    session: SessionDep,
    principal: Reader,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    limit: Limit = 50,
) -> ContactPage:
    return await service.list_contacts(session, customer_id, principal, limit=limit, cursor=cursor)


@router.get(
    "/customers/{customer_id}/consents/history",
    operation_id="consent_history",
    summary="Every consent decision, newest first",
    responses=problem_responses(
        InvalidCursor, Unauthorized, Forbidden, CustomerNotFound, ValidationFailed
    ),
)
async def consent_history(
    customer_id: UUID,
    session: SessionDep,
    principal: Reader,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    limit: Limit = 50,
) -> ConsentPage:
    return await service.consent_history(
        session, customer_id, principal, limit=limit, cursor=cursor
    )
