"""Outbound webhook bodies of the API: subscriptions, secrets, deliveries and attempts."""

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import (
    AfterValidator,
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    UrlConstraints,
    field_validator,
)
from pydantic.json_schema import SkipJsonSchema

from app.core.errors import EXAMPLE_ID

KINDS = (
    "Open set. An event type (`call.missed`, `customer.merged`, `customer.erased`, "
    "`message.sent`...), a family of them (`call.*`, `order.*`, `custom.*`), or one of "
    "`alert.raised`, `alert.acknowledged`, `alert.cleared` (`alert.*`), `flag.changed`, "
    "`incident.membership`; `webhook.test` is sent by the test-send only"
)
Kind = Annotated[str, Field(min_length=3, max_length=80, description=KINDS)]
_URL = Field(
    description="Where deliveries are POSTed (http or https): a public address, unless the "
    "deployment allows internal ones (CH_OUTBOUND_PRIVATE_NETWORKS)"
)
_MAX_URL = 2000  # the column that keeps it


def _fits(url: AnyHttpUrl) -> AnyHttpUrl:
    """The URL as kept (normalised: a bare host gains its ``/``) fits the column."""
    if len(str(url)) > _MAX_URL:
        raise ValueError(f"the URL is longer than {_MAX_URL} characters once normalised")
    return url


Url = Annotated[AnyHttpUrl, UrlConstraints(max_length=_MAX_URL), AfterValidator(_fits)]
_EXAMPLE_SUBSCRIPTION: dict[str, Any] = {
    "id": EXAMPLE_ID,
    "url": "https://crm.example.com/hooks/customer-history",
    "kinds": ["call.*", "alert.raised", "customer.merged"],
    "description": "CRM: calls, alerts and merges",
    "enabled": True,
    "disabled_reason": None,
    "failing_since": None,
    "created_at": "2026-12-01T09:00:00Z",
    "updated_at": "2026-12-01T09:00:00Z",
    "secrets": [{"id": EXAMPLE_ID, "created_at": "2026-12-01T09:00:00Z", "expires_at": None}],
}
_EXAMPLE_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # noqa: S105 (the spec's example)


class SubscriptionIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "url": "https://crm.example.com/hooks/customer-history",
                    "kinds": ["call.*", "alert.raised", "customer.merged"],
                    "description": "CRM: calls, alerts and merges",
                }
            ]
        },
    )

    url: Url = _URL
    kinds: Annotated[list[Kind], Field(min_length=1, max_length=50)]
    description: Annotated[str | None, Field(max_length=300)] = None
    enabled: StrictBool = True


class SubscriptionPatch(BaseModel):
    """The fields to change; ``enabled: true`` turns a subscription disabled for its
    failures back on."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"enabled": True}]})

    # Left out: kept. null is no value of these (the schema does not offer it) and is
    # refused naming the field, never read as "leave it".
    url: Url | SkipJsonSchema[None] = Field(default=None, description="Where deliveries are POSTed")
    kinds: Annotated[list[Kind] | SkipJsonSchema[None], Field(min_length=1, max_length=50)] = None
    description: Annotated[str | None, Field(max_length=300)] = None
    enabled: StrictBool | SkipJsonSchema[None] = None

    @field_validator("url", "kinds", "enabled", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("null is not a value of this field; leave it out to keep it")
        return value


class SecretOut(BaseModel):
    """A signing secret (never shown again after it was created)."""

    id: UUID
    created_at: datetime
    expires_at: datetime | None = Field(
        description="When it stops signing (rotated out); null while it is the newest"
    )


class SubscriptionOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_EXAMPLE_SUBSCRIPTION]})

    id: UUID
    url: str
    kinds: list[str] = Field(description=KINDS)
    description: str | None
    enabled: bool
    disabled_reason: Literal["admin", "failing"] | None = Field(
        description="`failing`: the sender turned it off after failing for too long"
    )
    failing_since: datetime | None = Field(
        description="The first failed attempt since the last success"
    )
    created_at: datetime
    updated_at: datetime
    secrets: list[SecretOut] = Field(description="The secrets that sign deliveries now")


class SubscriptionCreated(SubscriptionOut):
    """The subscription, with its first secret: shown this once."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{**_EXAMPLE_SUBSCRIPTION, "secret": _EXAMPLE_SECRET}]}
    )

    secret: str = Field(description="`whsec_<base64>`: verify deliveries with it")


class SubscriptionPage(BaseModel):
    items: list[SubscriptionOut]
    next_cursor: str | None


class RotationIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"overlap_seconds": 86400}]}
    )

    overlap_seconds: Annotated[StrictInt, Field(ge=0, le=7 * 86400)] = Field(
        default=86400,
        description="How long the secrets in use now keep signing beside the new one",
    )


class SecretCreated(BaseModel):
    """A new secret, shown this once; deliveries carry a signature by each active secret."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": EXAMPLE_ID,
                    "secret": _EXAMPLE_SECRET,
                    "created_at": "2026-12-01T09:00:00Z",
                    "secrets": [
                        {
                            "id": EXAMPLE_ID,
                            "created_at": "2026-11-01T09:00:00Z",
                            "expires_at": "2026-12-02T09:00:00Z",
                        },
                        {
                            "id": EXAMPLE_ID,
                            "created_at": "2026-12-01T09:00:00Z",
                            "expires_at": None,
                        },
                    ],
                }
            ]
        }
    )

    id: UUID
    secret: str = Field(description="`whsec_<base64>`")
    created_at: datetime
    secrets: list[SecretOut] = Field(description="Every secret that signs deliveries now")


class AttemptOut(BaseModel):
    at: datetime
    status_code: int | None = Field(
        default=None, description="The receiver's status; null when none came"
    )
    error: str | None = Field(
        default=None, description="Why no answer came: timeout, connection refused..."
    )
    response_excerpt: str | None = Field(
        default=None, description="The start of the receiver's body"
    )
    duration_ms: int


DeliveryStatus = Literal["pending", "delivered", "failed"]


class OutboundDeliveryOut(BaseModel):
    """A fact for a subscription; ``id`` is the ``webhook-id`` a receiver dedupes on."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": EXAMPLE_ID,
                    "subscription_id": EXAMPLE_ID,
                    "customer_id": EXAMPLE_ID,
                    "kind": "alert.raised",
                    "subject_id": EXAMPLE_ID,
                    "fact_at": "2026-12-01T09:00:00Z",
                    "status": "pending",
                    "attempts": 2,
                    "next_attempt_at": "2026-12-01T09:03:00Z",
                    "created_at": "2026-12-01T09:00:01Z",
                    "attempt_log": [
                        {
                            "at": "2026-12-01T09:00:01Z",
                            "status_code": 503,
                            "error": None,
                            "response_excerpt": "Service Unavailable",
                            "duration_ms": 41,
                        },
                        {
                            "at": "2026-12-01T09:00:11Z",
                            "status_code": None,
                            "error": "timeout",
                            "response_excerpt": None,
                            "duration_ms": 10000,
                        },
                    ],
                }
            ]
        }
    )

    id: UUID
    subscription_id: UUID
    customer_id: UUID | None
    kind: str = Field(description=KINDS)
    subject_id: UUID | None = Field(description="The event or alert the fact names")
    fact_at: datetime = Field(description="When the fact was committed")
    status: DeliveryStatus = Field(description="`failed`: the retries ran out (replay it by hand)")
    attempts: int
    next_attempt_at: datetime | None
    created_at: datetime
    attempt_log: list[AttemptOut] | None = Field(
        default=None, description="Every attempt, oldest first (on a single delivery only)"
    )


class OutboundDeliveryPage(BaseModel):
    items: list[OutboundDeliveryOut]
    next_cursor: str | None
