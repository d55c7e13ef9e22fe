"""Webhook receivers and the operations on stored deliveries."""

from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Query, Request, Response, status

from app.auth.dependencies import Admin
from app.core.bounded_json import BoundedJsonRoute
from app.core.clock import Clock, ClockDep
from app.core.config import Settings, SettingsDep
from app.core.db import DriverUnit, DriverUnitDep, SessionDep
from app.core.errors import Forbidden, Unauthorized, ValidationFailed, problem_responses
from app.core.fast_route import fast_post
from app.core.pagination import InvalidCursor, Limit
from app.ingest import service
from app.ingest.adapters.base import Delivery
from app.ingest.schemas import DeliveryPage, ReplayOutcome, WebhookReceipt
from app.ingest.service import (
    DeliveryNotFound,
    DeliveryPastBounds,
    InvalidSignature,
    NoAdapter,
    SourceNotFound,
)
from app.text.service import RulesCache, TextRulesDep

router = APIRouter(prefix="/v1", tags=["webhooks"], route_class=BoundedJsonRoute)


_WEBHOOK_BODY = {
    "requestBody": {
        "required": True,
        "description": "Exactly as the platform sends it; each source's adapter reads it.",
        "content": {
            "application/json": {"schema": {}},
            "application/x-www-form-urlencoded": {"schema": {"type": "object"}},
            "multipart/form-data": {"schema": {"type": "object"}},
        },
    },
    # Platforms authenticate with their own signature schemes, not with API keys.
    "security": [],
}
_WEBHOOK_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "Accepted, ignored, or a duplicate of a delivery already stored"},
    202: {
        "description": "Stored but not understood: kept as failed for a replay",
        "model": WebhookReceipt,
    },
    **problem_responses(InvalidSignature, SourceNotFound, DeliveryPastBounds, ValidationFailed),
}


def _public_url(request: Request, settings: Settings) -> str:
    """The URL the platform called (and Twilio signed), never one the caller chose: the
    public base URL; else, with trusted proxies, the URL as the proxy forwarded it (uvicorn
    believes X-Forwarded-Proto from them alone); else the address the server is bound to,
    whatever Host the request names (a callback signed for another deployment's URL,
    replayed here under that Host, must not verify)."""
    path = request.url.path
    if settings.public_base_url:
        base = settings.public_base_url.rstrip("/")
    elif settings.trusted_proxies:
        base = f"{request.url.scheme}://{request.url.netloc}"
    else:
        host, port = request.scope.get("server") or ("127.0.0.1", None)
        host = f"[{host}]" if ":" in host else host
        base = f"{request.scope.get('scheme', 'http')}://{host}" + (f":{port}" if port else "")
    return f"{base}{path}?{request.url.query}" if request.url.query else f"{base}{path}"


def _without_token(url: str) -> str:
    """The URL as stored and shown: a path token is a secret, so its segment (always the
    last one) becomes ``{token}``."""
    address, mark, query = url.partition("?")
    return f"{address.rsplit('/', 1)[0]}/{{token}}{mark}{query}"


async def _receive(
    source: str,
    token: str | None,
    request: Request,
    unit: DriverUnit,
    settings: Settings,
    clock: Clock,
    rules: RulesCache,
) -> Any:
    url = _public_url(request, settings)
    body = await request.body()  # a sender gone mid-body: a 400 (install_error_handlers)
    delivery = Delivery(
        url=url,
        headers={k.lower(): v for k, v in request.headers.items()},
        body=body,
        path_token=token,
        received_at=clock.now(),  # when it happened, for payloads that carry no time
    )
    stored_url = url if token is None else _without_token(url)
    receipt = await service.receive(unit, source, delivery, settings, stored_url, clock, rules)
    code = status.HTTP_202_ACCEPTED if receipt.status == "failed" else status.HTTP_200_OK
    return Response(receipt.model_dump_json(exclude_none=True), code, media_type="application/json")


@fast_post(
    router,
    "/webhooks/{source}",
    operation_id="receive_webhook",
    summary="Receive a platform's webhook delivery",
    response_model=WebhookReceipt,
    responses=_WEBHOOK_RESPONSES,
    openapi_extra=_WEBHOOK_BODY,
)
async def receive_webhook(
    source: str,
    request: Request,
    unit: DriverUnitDep,
    settings: SettingsDep,
    clock: ClockDep,
    rules: TextRulesDep,
) -> Any:
    """Verified with the source's own signature scheme (401 and nothing stored when it fails),
    stored raw, normalised into timeline events. A repeated delivery is a `duplicate`."""
    return await _receive(source, None, request, unit, settings, clock, rules)


@fast_post(
    router,
    "/webhooks/{source}/{token}",
    operation_id="receive_webhook_with_token",
    summary="Receive a webhook delivery authenticated by a secret path token",
    response_model=WebhookReceipt,
    responses=_WEBHOOK_RESPONSES,
    openapi_extra=_WEBHOOK_BODY,
)
async def receive_webhook_with_token(
    source: str,
    token: str,
    request: Request,
    unit: DriverUnitDep,
    settings: SettingsDep,
    clock: ClockDep,
    rules: TextRulesDep,
) -> Any:
    """For platforms configured with a secret in the URL (SendGrid Inbound Parse)."""
    return await _receive(source, token, request, unit, settings, clock, rules)


@router.get(
    "/webhook-deliveries",
    operation_id="list_webhook_deliveries",
    summary="Stored webhook deliveries, newest first",
    responses=problem_responses(InvalidCursor, Unauthorized, Forbidden, ValidationFailed),
)
async def list_webhook_deliveries(
    session: SessionDep,
    principal: Admin,
    source: Annotated[str | None, Query(max_length=50)] = None,
    delivery_status: Annotated[
        Literal["received", "processed", "ignored", "failed"] | None, Query(alias="status")
    ] = None,
    include: Annotated[
        Literal["body"] | None, Query(description="`body` adds the raw bodies")
    ] = None,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    limit: Limit = 50,
) -> DeliveryPage:
    return await service.list_deliveries(
        session,
        source=source,
        status=delivery_status,
        include_body=include == "body",
        limit=limit,
        cursor=cursor,
    )


@router.post(
    "/webhook-deliveries/{delivery_id}/replay",
    operation_id="replay_webhook_delivery",
    summary="Normalise a stored delivery again",
    status_code=status.HTTP_200_OK,
    responses=problem_responses(
        Unauthorized, Forbidden, DeliveryNotFound, NoAdapter, ValidationFailed
    ),
)
async def replay_webhook_delivery(
    delivery_id: UUID,
    session: SessionDep,
    principal: Admin,
    settings: SettingsDep,
    clock: ClockDep,
    rules: TextRulesDep,
) -> ReplayOutcome:
    """Idempotent: events already stored are not stored again, so replaying twice adds nothing."""
    return await service.replay(session, delivery_id, settings, clock, rules)
