"""HTTP routes: webhook subscriptions (admin), their secrets and deliveries."""

from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Query, Request, Response, status

from app.auth.dependencies import Admin
from app.core.bounded_json import BoundedJsonRoute
from app.core.clock import ClockDep
from app.core.config import SettingsDep
from app.core.db import SessionDep
from app.core.errors import Forbidden, Unauthorized, ValidationFailed, problem_responses
from app.core.openapi import headers
from app.core.pagination import InvalidCursor, Limit
from app.outbound import service
from app.outbound.schemas import (
    OutboundDeliveryOut,
    OutboundDeliveryPage,
    RotationIn,
    SecretCreated,
    SubscriptionCreated,
    SubscriptionIn,
    SubscriptionOut,
    SubscriptionPage,
    SubscriptionPatch,
)

router = APIRouter(prefix="/v1", tags=["outbound"], route_class=BoundedJsonRoute)
NotFound = service.SubscriptionNotFound


@router.post(
    "/webhook-subscriptions",
    operation_id="create_webhook_subscription",
    status_code=status.HTTP_201_CREATED,
    summary="Subscribe a URL to kinds of facts; its signing secret is shown this once",
    responses={
        201: {"description": "The subscription created", "headers": headers("Location")},
        **problem_responses(Unauthorized, Forbidden, ValidationFailed),
    },
)
async def create_webhook_subscription(
    body: SubscriptionIn,
    session: SessionDep,
    principal: Admin,
    settings: SettingsDep,
    clock: ClockDep,
    request: Request,
    response: Response,
) -> SubscriptionCreated:
    created = await service.create_subscription(session, body, settings, clock)
    response.headers["Location"] = str(
        request.url_for("get_webhook_subscription", subscription_id=created.id)
    )
    return created


@router.get(
    "/webhook-subscriptions",
    operation_id="list_webhook_subscriptions",
    summary="Webhook subscriptions, oldest first",
    responses=problem_responses(InvalidCursor, Unauthorized, Forbidden, ValidationFailed),
)
async def list_webhook_subscriptions(
    session: SessionDep,
    principal: Admin,
    clock: ClockDep,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    limit: Limit = 50,
) -> SubscriptionPage:
    return await service.list_subscriptions(session, limit, cursor, clock)


@router.get(
    "/webhook-subscriptions/{subscription_id}",
    operation_id="get_webhook_subscription",
    summary="A webhook subscription (its secrets by id only)",
    responses=problem_responses(Unauthorized, Forbidden, NotFound, ValidationFailed),
)
async def get_webhook_subscription(
    subscription_id: UUID, session: SessionDep, principal: Admin, clock: ClockDep
) -> SubscriptionOut:
    return await service.get_subscription(session, subscription_id, clock)


@router.patch(
    "/webhook-subscriptions/{subscription_id}",
    operation_id="update_webhook_subscription",
    summary="Change a subscription; `enabled: true` turns one disabled for failing back on",
    responses=problem_responses(Unauthorized, Forbidden, NotFound, ValidationFailed),
)
async def update_webhook_subscription(
    subscription_id: UUID,
    body: SubscriptionPatch,
    session: SessionDep,
    principal: Admin,
    settings: SettingsDep,
    clock: ClockDep,
) -> SubscriptionOut:
    return await service.update_subscription(session, subscription_id, body, settings, clock)


@router.delete(
    "/webhook-subscriptions/{subscription_id}",
    operation_id="delete_webhook_subscription",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Remove a subscription, its deliveries and their log",
    responses=problem_responses(Unauthorized, Forbidden, NotFound, ValidationFailed),
)
async def delete_webhook_subscription(
    subscription_id: UUID, session: SessionDep, principal: Admin
) -> Response:
    await service.delete_subscription(session, subscription_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/webhook-subscriptions/{subscription_id}/secrets",
    operation_id="rotate_webhook_secret",
    status_code=status.HTTP_201_CREATED,
    summary="Rotate the signing secret: a new one, shown this once; the old ones sign "
    "beside it for the overlap",
    responses=problem_responses(Unauthorized, Forbidden, NotFound, ValidationFailed),
)
async def rotate_webhook_secret(
    subscription_id: UUID,
    session: SessionDep,
    principal: Admin,
    clock: ClockDep,
    body: RotationIn | None = None,
) -> SecretCreated:
    return await service.rotate_secret(session, subscription_id, body or RotationIn(), clock)


@router.post(
    "/webhook-subscriptions/{subscription_id}/test",
    operation_id="test_webhook_subscription",
    summary="Send a `webhook.test` delivery now, once, and answer how it went",
    responses=problem_responses(Unauthorized, Forbidden, NotFound, ValidationFailed),
)
async def test_webhook_subscription(
    subscription_id: UUID,
    session: SessionDep,
    principal: Admin,
    settings: SettingsDep,
    clock: ClockDep,
) -> OutboundDeliveryOut:
    return await service.test_send(session, subscription_id, settings, clock)


@router.get(
    "/webhook-subscriptions/{subscription_id}/deliveries",
    operation_id="list_outbound_deliveries",
    summary="A subscription's deliveries, newest first",
    responses=problem_responses(InvalidCursor, Unauthorized, Forbidden, NotFound, ValidationFailed),
)
async def list_outbound_deliveries(
    subscription_id: UUID,
    session: SessionDep,
    principal: Admin,
    delivery_status: Annotated[
        Literal["pending", "delivered", "failed"] | None, Query(alias="status")
    ] = None,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    limit: Limit = 50,
) -> OutboundDeliveryPage:
    return await service.list_deliveries(session, subscription_id, delivery_status, limit, cursor)


@router.get(
    "/webhook-subscriptions/{subscription_id}/deliveries/{delivery_id}",
    operation_id="get_outbound_delivery",
    summary="A delivery with every attempt and what the receiver answered",
    responses=problem_responses(
        Unauthorized, Forbidden, service.OutboundDeliveryNotFound, ValidationFailed
    ),
)
async def get_outbound_delivery(
    subscription_id: UUID, delivery_id: UUID, session: SessionDep, principal: Admin
) -> OutboundDeliveryOut:
    return await service.get_delivery(session, subscription_id, delivery_id)


@router.post(
    "/webhook-subscriptions/{subscription_id}/deliveries/{delivery_id}/replay",
    operation_id="replay_outbound_delivery",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Send a delivery again, with the same webhook-id and a fresh run of retries",
    responses=problem_responses(
        Unauthorized, Forbidden, service.OutboundDeliveryNotFound, ValidationFailed
    ),
)
async def replay_outbound_delivery(
    subscription_id: UUID,
    delivery_id: UUID,
    session: SessionDep,
    principal: Admin,
    clock: ClockDep,
) -> OutboundDeliveryOut:
    return await service.replay(session, subscription_id, delivery_id, clock)
