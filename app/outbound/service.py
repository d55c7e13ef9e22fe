"""Webhook subscriptions (admin): created with a secret shown once, rotated with an
overlap, disabled and enabled again; their deliveries listed, replayed by hand, and a test
sent at once."""

from collections.abc import Sequence
from datetime import timedelta
from typing import Any
from uuid import UUID

from pydantic import AnyHttpUrl
from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.clock import Clock
from app.core.config import Settings
from app.core.errors import EXAMPLE_ID, NotFound, invalid_field
from app.core.pagination import InvalidCursor, cursor_id, decode_cursor, keyset_page
from app.outbound import sender
from app.outbound.destinations import refusal
from app.outbound.models import OutboundDelivery, SubscriptionSecret, WebhookSubscription
from app.outbound.queries import Due
from app.outbound.repository import DeliveryRepository, SubscriptionRepository
from app.outbound.schemas import (
    AttemptOut,
    OutboundDeliveryOut,
    OutboundDeliveryPage,
    RotationIn,
    SecretCreated,
    SecretOut,
    SubscriptionCreated,
    SubscriptionIn,
    SubscriptionOut,
    SubscriptionPage,
    SubscriptionPatch,
)
from app.timeline.catalog import CATALOG, CUSTOM_PREFIX, event_type

# The facts besides the timeline's events that a subscription may ask for.
OTHER_KINDS = frozenset(
    {"alert.raised", "alert.acknowledged", "alert.cleared", "flag.changed", "incident.membership"}
)
FAMILIES = frozenset(
    kind.split(".", 1)[0] for kind in (*CATALOG, *OTHER_KINDS, CUSTOM_PREFIX + "x")
)


class SubscriptionNotFound(NotFound):
    """No webhook subscription with this id."""

    code = "subscription-not-found"
    title = "Subscription not found"
    example = (f"Webhook subscription {EXAMPLE_ID} not found.", {})


class OutboundDeliveryNotFound(NotFound):
    """No delivery with this id for this subscription."""

    code = "outbound-delivery-not-found"
    title = "Delivery not found"
    example = (f"Delivery {EXAMPLE_ID} not found.", {})


def known_kind(kind: str) -> bool:
    """A kind a subscription may ask for: an event type, a family (``call.*``), an
    alert change, ``flag.changed`` or ``incident.membership``."""
    if kind.endswith(".*"):
        return kind[:-2] in FAMILIES
    return kind in OTHER_KINDS or event_type(kind) is not None


def _checked_kinds(kinds: Sequence[str]) -> list[str]:
    for index, kind in enumerate(kinds):
        if not known_kind(kind):
            raise invalid_field(
                f"body.kinds.{index}",
                f"unknown kind '{kind}': an event type (GET /v1/event-types), a family such "
                "as 'call.*', alert.raised, alert.acknowledged, alert.cleared, flag.changed "
                "or incident.membership",
            )
    return list(dict.fromkeys(kinds))


def _checked_url(url: AnyHttpUrl, settings: Settings) -> str:
    reason = None if settings.outbound_private_networks else refusal(url.host or "")
    if reason is not None:
        raise invalid_field(
            "body.url",
            f"{reason}: receivers are public unless CH_OUTBOUND_PRIVATE_NETWORKS is on",
        )
    return str(url)


def _secret_out(secret: SubscriptionSecret) -> SecretOut:
    return SecretOut(id=secret.id, created_at=secret.created_at, expires_at=secret.expires_at)


def _subscription_out(
    subscription: WebhookSubscription, secrets: Sequence[SubscriptionSecret]
) -> dict[str, Any]:
    return {
        "id": subscription.id,
        "url": subscription.url,
        "kinds": subscription.kinds,
        "description": subscription.description,
        "enabled": subscription.enabled,
        "disabled_reason": subscription.disabled_reason,
        "failing_since": subscription.failing_since,
        "created_at": subscription.created_at,
        "updated_at": subscription.updated_at,
        "secrets": [_secret_out(s) for s in secrets if s.subscription_id == subscription.id],
    }


async def _found(repo: SubscriptionRepository, subscription_id: UUID) -> WebhookSubscription:
    subscription = await repo.get_locked(subscription_id)
    if subscription is None:
        raise SubscriptionNotFound(f"Webhook subscription {subscription_id} not found.")
    return subscription


async def create_subscription(
    session: AsyncSession, data: SubscriptionIn, settings: Settings, clock: Clock
) -> SubscriptionCreated:
    """A new subscription and its first secret, shown this once; a URL on an internal
    address is refused unless the deployment allows them."""
    repo = SubscriptionRepository(session)
    subscription = await repo.add(
        WebhookSubscription(
            url=_checked_url(data.url, settings),
            kinds=_checked_kinds(data.kinds),
            description=data.description,
            enabled=data.enabled,
            disabled_reason=None if data.enabled else "admin",
        )
    )
    await session.refresh(subscription)
    secret = await repo.add_secret(
        SubscriptionSecret(
            subscription_id=subscription.id, secret=sender.new_secret(), created_at=clock.now()
        )
    )
    return SubscriptionCreated(**_subscription_out(subscription, [secret]), secret=secret.secret)


async def list_subscriptions(
    session: AsyncSession, limit: int, cursor: str | None, clock: Clock
) -> SubscriptionPage:
    repo = SubscriptionRepository(session)
    rows = await repo.page(limit + 1, cursor_id(cursor, "after"))
    page, next_cursor = keyset_page(rows, limit, lambda s: {"after": str(s.id)})
    secrets = await repo.active_secrets([s.id for s in page], clock.now())
    return SubscriptionPage(
        items=[SubscriptionOut(**_subscription_out(s, secrets)) for s in page],
        next_cursor=next_cursor,
    )


async def get_subscription(
    session: AsyncSession, subscription_id: UUID, clock: Clock
) -> SubscriptionOut:
    repo = SubscriptionRepository(session)
    subscription = await repo.get(subscription_id)
    if subscription is None:
        raise SubscriptionNotFound(f"Webhook subscription {subscription_id} not found.")
    secrets = await repo.active_secrets([subscription.id], clock.now())
    return SubscriptionOut(**_subscription_out(subscription, secrets))


async def update_subscription(
    session: AsyncSession,
    subscription_id: UUID,
    patch: SubscriptionPatch,
    settings: Settings,
    clock: Clock,
) -> SubscriptionOut:
    """Change what is given; enabling clears the run of failures, so a subscription the
    sender disabled starts afresh (its pending deliveries go out again)."""
    repo = SubscriptionRepository(session)
    subscription = await _found(repo, subscription_id)
    given = patch.model_fields_set
    if "url" in given and patch.url is not None:
        subscription.url = _checked_url(patch.url, settings)
    if "kinds" in given and patch.kinds is not None:
        subscription.kinds = _checked_kinds(patch.kinds)
    if "description" in given:
        subscription.description = patch.description
    if "enabled" in given and patch.enabled is not None:
        if patch.enabled and not subscription.enabled:
            subscription.failing_since = None
            subscription.disabled_reason = None
        elif not patch.enabled and subscription.enabled:
            subscription.disabled_reason = "admin"
        subscription.enabled = patch.enabled
    subscription.updated_at = func.now()
    await session.flush()
    await session.refresh(subscription)
    secrets = await repo.active_secrets([subscription.id], clock.now())
    return SubscriptionOut(**_subscription_out(subscription, secrets))


async def delete_subscription(session: AsyncSession, subscription_id: UUID) -> None:
    """Remove a subscription with its deliveries and their log."""
    repo = SubscriptionRepository(session)
    await repo.delete(await _found(repo, subscription_id))


async def rotate_secret(
    session: AsyncSession, subscription_id: UUID, data: RotationIn, clock: Clock
) -> SecretCreated:
    """A new secret, shown this once; the secrets in use now sign beside it for
    ``overlap_seconds`` more, then stop."""
    repo = SubscriptionRepository(session)
    subscription = await _found(repo, subscription_id)
    now = clock.now()
    await repo.expire_secrets(subscription.id, now + timedelta(seconds=data.overlap_seconds))
    secret = await repo.add_secret(
        SubscriptionSecret(
            subscription_id=subscription.id, secret=sender.new_secret(), created_at=now
        )
    )
    active = await repo.active_secrets([subscription.id], now)
    return SecretCreated(
        id=secret.id,
        secret=secret.secret,
        created_at=secret.created_at,
        secrets=[_secret_out(s) for s in active],
    )


def _delivery_out(
    delivery: OutboundDelivery, attempts: list[AttemptOut] | None
) -> OutboundDeliveryOut:
    return OutboundDeliveryOut(
        id=delivery.id,
        subscription_id=delivery.subscription_id,
        customer_id=delivery.customer_id,
        kind=delivery.kind,
        subject_id=delivery.subject_id,
        fact_at=delivery.fact_at,
        status=delivery.status,
        attempts=delivery.attempts,
        next_attempt_at=delivery.next_attempt_at,
        created_at=delivery.created_at,
        attempt_log=attempts,
    )


def _seq_cursor(cursor: str | None) -> int | None:
    if not cursor:
        return None
    value = decode_cursor(cursor).get("before")
    if not isinstance(value, int) or isinstance(value, bool) or not 0 < value < 2**63:
        raise InvalidCursor("The cursor is not one this service issued.")
    return value


async def list_deliveries(
    session: AsyncSession,
    subscription_id: UUID,
    status: str | None,
    limit: int,
    cursor: str | None,
) -> OutboundDeliveryPage:
    """A subscription's deliveries, newest first."""
    if await SubscriptionRepository(session).get(subscription_id) is None:
        raise SubscriptionNotFound(f"Webhook subscription {subscription_id} not found.")
    rows = await DeliveryRepository(session).page(
        subscription_id, status, limit + 1, _seq_cursor(cursor)
    )
    page, next_cursor = keyset_page(rows, limit, lambda d: {"before": d.seq})
    return OutboundDeliveryPage(
        items=[_delivery_out(d, None) for d in page], next_cursor=next_cursor
    )


async def _with_log(session: AsyncSession, delivery: OutboundDelivery) -> OutboundDeliveryOut:
    attempts = await DeliveryRepository(session).attempts(delivery.id)
    log = [AttemptOut.model_validate(a, from_attributes=True) for a in attempts]
    return _delivery_out(delivery, log)


async def _delivery(
    session: AsyncSession, subscription_id: UUID, delivery_id: UUID, *, locked: bool = False
) -> OutboundDelivery:
    delivery = await DeliveryRepository(session).get(subscription_id, delivery_id, locked=locked)
    if delivery is None:
        raise OutboundDeliveryNotFound(f"Delivery {delivery_id} not found.")
    return delivery


async def get_delivery(
    session: AsyncSession, subscription_id: UUID, delivery_id: UUID
) -> OutboundDeliveryOut:
    """A delivery with every attempt and what the receiver answered."""
    return await _with_log(session, await _delivery(session, subscription_id, delivery_id))


async def replay(
    session: AsyncSession, subscription_id: UUID, delivery_id: UUID, clock: Clock
) -> OutboundDeliveryOut:
    """Send a delivery again (same ``webhook-id``), from its next attempt on, with a fresh
    run of retries; it waits for its customer's earlier deliveries as any other."""
    delivery = await _delivery(session, subscription_id, delivery_id, locked=True)
    delivery.status = "pending"
    delivery.next_attempt_at = clock.now()
    delivery.attempts = 0
    await session.flush()
    return await _with_log(session, delivery)


async def test_send(
    session: AsyncSession, subscription_id: UUID, settings: Settings, clock: Clock
) -> OutboundDeliveryOut:
    """Send a ``webhook.test`` delivery now, once, and answer how it went."""
    repo = SubscriptionRepository(session)
    subscription = await _found(repo, subscription_id)
    now = clock.now()
    data = {"subscription_id": str(subscription.id), "message": "A test from the service"}
    delivery = await DeliveryRepository(session).add(
        OutboundDelivery(
            subscription_id=subscription.id,
            kind=sender.TEST_KIND,
            data=data,
            fact_at=now,
            status="pending",
        )
    )
    await session.refresh(delivery)
    secrets = await repo.active_secrets([subscription.id], now)
    due = Due(
        id=delivery.id,
        subscription_id=subscription.id,
        customer_id=None,
        kind=sender.TEST_KIND,
        subject_id=None,
        data=data,
        fact_at=now,
        attempts=0,
        url=subscription.url,
        secrets=[s.secret for s in secrets],
    )
    body = (await sender.render(session, [due]))[due.id]
    async with sender.http_client(settings) as http:
        outcome = await sender.send(due, body, clock, http)
    status = "delivered" if outcome.succeeded else "failed"
    await sender.record(session, due, outcome, status, None, settings)
    await session.refresh(delivery)
    return await _with_log(session, delivery)
