"""Request and response bodies of the customer API."""

import json
import re
from datetime import datetime, time
from enum import StrEnum
from typing import Annotated, Any, Self
from uuid import UUID

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    HttpUrl,
    RootModel,
    StringConstraints,
    UrlConstraints,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic_extra_types.country import CountryAlpha2

from app.core.config import get_settings
from app.core.merge_patch import merge_patch_schema
from app.customers.identifiers import (
    EMAIL_SYNTAX,
    EXTERNAL_SYNTAX,
    MAX_LENGTH,
    PHONE_SYNTAX,
    SYNTAX,
    IdentifierKind,
    check_syntax,
    normalize_identifier,
)

MAX_ATTRIBUTES_BYTES = 16 * 1024
MAX_URL_LENGTH = 500
_BCP47 = r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$"

Text100 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Text200 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Text300 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]


# An identifier named alone (a query, a path, an event's customer): written as its kind
# is (app/customers/identifiers.py), normalised where it is read.
PhoneText = Annotated[
    str, StringConstraints(max_length=MAX_LENGTH[IdentifierKind.PHONE], pattern=PHONE_SYNTAX)
]
EmailText = Annotated[
    str, StringConstraints(max_length=MAX_LENGTH[IdentifierKind.EMAIL], pattern=EMAIL_SYNTAX)
]
ExternalIdText = Annotated[
    str,
    StringConstraints(max_length=MAX_LENGTH[IdentifierKind.EXTERNAL], pattern=EXTERNAL_SYNTAX),
]


class CustomerKind(StrEnum):
    PERSON = "person"
    ORGANIZATION = "organization"


class Tier(StrEnum):
    STANDARD = "standard"
    PREMIUM = "premium"
    VIP = "vip"


class CustomerStatus(StrEnum):
    ACTIVE = "active"
    MERGED = "merged"
    ERASED = "erased"


class SizeBand(StrEnum):
    MICRO = "micro"
    SMALL = "small"
    MEDIUM = "medium"
    LARGE = "large"
    ENTERPRISE = "enterprise"


class ContactChannel(StrEnum):
    """How a customer is reached (preferences, consents, segments)."""

    EMAIL = "email"
    PHONE = "phone"
    SMS = "sms"
    WHATSAPP = "whatsapp"
    POST = "post"


class Purpose(StrEnum):
    MARKETING = "marketing"
    SERVICE = "service"
    PROFILING = "profiling"


class Weekday(StrEnum):
    MON = "mon"
    TUE = "tue"
    WED = "wed"
    THU = "thu"
    FRI = "fri"
    SAT = "sat"
    SUN = "sun"


# As stored: BCP 47 tags in 35 characters, URLs in 500 once normalised (a domain in
# another script is stored in punycode, longer than written).
Language = Annotated[
    str, StringConstraints(max_length=35, pattern=_BCP47), Field(description="BCP 47")
]


def _storable_url(url: HttpUrl) -> HttpUrl:
    if len(str(url)) > MAX_URL_LENGTH:
        raise ValueError(f"is longer than {MAX_URL_LENGTH} characters once normalised")
    return url


Website = Annotated[
    HttpUrl,
    UrlConstraints(max_length=MAX_URL_LENGTH),
    AfterValidator(_storable_url),
    Field(json_schema_extra={"pattern": "^[Hh][Tt][Tt][Pp][Ss]?://"}),
]


class Address(BaseModel):
    model_config = ConfigDict(extra="forbid")

    street: Annotated[str, Field(max_length=300)] | None = None
    city: Annotated[str, Field(max_length=200)] | None = None
    region: Annotated[str, Field(max_length=200)] | None = None
    postal_code: Annotated[str, Field(max_length=20)] | None = None
    country: CountryAlpha2 | None = Field(default=None, description="ISO 3166-1 alpha-2")


class Profile(BaseModel):
    """The editable profile of a customer (person or organisation)."""

    model_config = ConfigDict(extra="forbid")

    kind: CustomerKind = CustomerKind.PERSON
    display_name: Text300 | None = Field(
        default=None, description="Shown everywhere; derived from the names when omitted."
    )
    given_name: Text200 | None = None
    family_name: Text200 | None = None
    job_title: Text200 | None = None
    organization_id: UUID | None = Field(
        default=None, description="For a person: the organisation they are a contact of."
    )
    legal_name: Text300 | None = None
    sector: Text100 | None = None
    size_band: SizeBand | None = None
    revenue_band: Annotated[str, Field(max_length=50)] | None = None
    website: Website | None = None
    address: Address | None = None
    preferred_language: Language | None = None
    tier: Tier = Tier.STANDARD
    owner_id: Text200 | None = Field(default=None, description="The employee assigned.")
    tags: list[
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)]
    ] = Field(default_factory=list, max_length=50)
    attributes: dict[str, Any] = Field(
        default_factory=dict, description="Free custom fields, at most 16 KiB of JSON."
    )
    unverified: bool = Field(
        default=False,
        description="Created from an unknown caller or sender; clear it once verified.",
    )

    @field_validator("tags")
    @classmethod
    def _unique_tags(cls, tags: list[str]) -> list[str]:
        return list(dict.fromkeys(tags))

    @field_validator("attributes")
    @classmethod
    def _bounded_attributes(cls, attributes: dict[str, Any]) -> dict[str, Any]:
        size = len(json.dumps(attributes, separators=(",", ":")).encode())
        if size > MAX_ATTRIBUTES_BYTES:
            raise ValueError(f"attributes take {size} bytes; at most {MAX_ATTRIBUTES_BYTES}")
        return attributes

    @model_validator(mode="after")
    def _fields_fit_the_kind(self) -> Self:
        if self.kind is CustomerKind.PERSON:
            wrong = ["legal_name", "sector", "size_band", "revenue_band"]
        else:
            wrong = ["given_name", "family_name", "job_title", "organization_id"]
        present = [name for name in wrong if getattr(self, name) is not None]
        if present:
            raise ValueError(f"{', '.join(present)} do not apply to a {self.kind.value}")
        if self.display_name is None:
            parts = [self.given_name, self.family_name]
            derived = " ".join(p for p in parts if p) or self.legal_name
            if not derived:
                raise ValueError("display_name is required (or given/family name, or legal_name)")
            self.display_name = derived
        return self


def _merge_patch_of_profile(schema: dict[str, Any]) -> None:
    schema.update(merge_patch_schema(Profile))
    schema["examples"] = [{"tier": "vip", "owner_id": "agent-3", "address": {"city": "Madrid"}}]


class CustomerPatch(RootModel[dict[str, Any]]):
    """RFC 7396 merge patch of the profile fields of CustomerCreate (identifiers excluded);
    null removes a field. The profile it makes must be valid as a whole (422 otherwise).
    The body of PATCH /v1/customers/{id}, read as JSON by the route."""

    model_config = ConfigDict(json_schema_extra=_merge_patch_of_profile)


def _value_by_kind(schema: dict[str, Any]) -> None:
    """How the value may be written depends on the kind: one branch per kind."""
    schema["oneOf"] = [
        {
            "properties": {
                "kind": {"const": kind.value},
                "value": {"maxLength": MAX_LENGTH[kind], "pattern": SYNTAX[kind]},
            },
            "required": ["kind"],
        }
        for kind in IdentifierKind
    ]
    schema["examples"] = [{"kind": "phone", "value": "612 34 56 78"}]


class IdentifierIn(BaseModel):
    """An identifier as given; the value is normalised (E.164, lower-case email...)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_value_by_kind)

    kind: IdentifierKind
    value: Annotated[str, StringConstraints(min_length=1, max_length=320)]

    @field_validator("value")
    @classmethod
    def _normalise(cls, value: str, info: ValidationInfo) -> str:
        kind = info.data.get("kind")
        if kind is None:  # the kind itself was invalid and is reported on its own
            return value
        check_syntax(kind, value)
        return normalize_identifier(kind, value, get_settings().default_region)


class CustomerCreate(Profile):
    identifiers: list[IdentifierIn] = Field(default_factory=list, max_length=50)

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "kind": "person",
                    "given_name": "José",
                    "family_name": "Núñez",
                    "preferred_language": "es",
                    "tier": "premium",
                    "owner_id": "agent-17",
                    "tags": ["wholesale"],
                    "address": {"city": "Sevilla", "country": "ES"},
                    "identifiers": [
                        {"kind": "phone", "value": "612 34 56 78"},
                        {"kind": "email", "value": "Jose.Nunez@example.com"},
                        {"kind": "external", "value": "shopify:customer:7023"},
                    ],
                }
            ]
        },
    )


class IdentifierRef(BaseModel):
    """An identifier by its kind and normalised value."""

    kind: IdentifierKind
    value: str


# The examples of the answers describe one customer, José Núñez.
CUSTOMER_ID = "01933b8e-8a52-7cc2-9d0e-0c6f2b1e3a10"
IDENTIFIERS_EXAMPLE: list[dict[str, Any]] = [
    {
        "id": "01933b8e-8a52-7cc2-9d0e-0c6f2b1e3a20",
        "kind": "phone",
        "value": "+34612345678",
        "created_at": "2026-11-02T09:15:00Z",
    },
    {
        "id": "01933b8e-8a52-7cc2-9d0e-0c6f2b1e3a21",
        "kind": "email",
        "value": "jose.nunez@example.com",
        "created_at": "2026-11-02T09:15:00Z",
    },
]
CONSENT_EXAMPLE: dict[str, Any] = {
    "id": "01933b8e-8a52-7cc2-9d0e-0c6f2b1e3a30",
    "channel": "email",
    "purpose": "marketing",
    "granted": True,
    "source": "web-form",
    "evidence": "checkbox on https://shop.example/signup, IP 203.0.113.7",
    "recorded_at": "2026-11-02T09:20:00Z",
}
CUSTOMER_SUMMARY_EXAMPLE: dict[str, Any] = {
    "id": CUSTOMER_ID,
    "kind": "person",
    "display_name": "José Núñez",
    "organization_id": None,
    "tier": "premium",
    "owner_id": "agent-17",
    "tags": ["wholesale"],
    "status": "active",
    "unverified": False,
    "identifiers": IDENTIFIERS_EXAMPLE,
    "created_at": "2026-11-02T09:15:00Z",
}


class IdentifierOut(BaseModel):
    id: UUID
    kind: IdentifierKind
    value: str
    created_at: datetime


# A time of day on the customer's clock (Preferences.timezone), with no UTC offset: not
# RFC 3339's full-time, so not `format: time`, which requires one.
_WALL_CLOCK = r"^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?$"


def _wall_clock(value: object) -> object:
    # Text only: pydantic would also read a number as seconds, and give it a UTC offset.
    if isinstance(value, time) or (isinstance(value, str) and re.match(_WALL_CLOCK, value)):
        return value
    raise ValueError("must be HH:MM or HH:MM:SS on the customer's clock, without an offset")


WallClock = Annotated[
    time,
    BeforeValidator(_wall_clock),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": _WALL_CLOCK,
            "description": "HH:MM or HH:MM:SS on the customer's clock, without an offset",
            "examples": ["09:00"],
        }
    ),
]


class ContactHours(BaseModel):
    model_config = ConfigDict(extra="forbid")

    days: list[Weekday] = Field(min_length=1)
    start: WallClock = Field(alias="from")
    end: WallClock = Field(alias="to")

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.end <= self.start:
            raise ValueError("'to' must be after 'from'")
        return self


class Preferences(BaseModel):
    """How the customer likes to be contacted."""

    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        json_schema_extra={
            "examples": [
                {
                    "preferred_channel": "email",
                    "contact_hours": [{"days": ["mon", "tue"], "from": "09:00", "to": "13:00"}],
                    "timezone": "Europe/Madrid",
                    "content_interests": ["offers", "new products"],
                    "do_not_call": True,
                    "notes": "Does not like sales calls.",
                }
            ]
        },
    )

    preferred_channel: ContactChannel | None = None
    contact_hours: list[ContactHours] = Field(default_factory=list, max_length=14)
    timezone: str | None = Field(default=None, description="IANA time zone, e.g. Europe/Madrid")
    content_interests: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(
        default_factory=list, max_length=50
    )
    do_not_call: bool = Field(
        default=False, description="No calls, and no SMS or WhatsApp from the service either"
    )
    do_not_contact: bool = Field(
        default=False, description="No message from the service on any channel"
    )
    notes: Annotated[str, Field(max_length=2000)] | None = None

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is None:
            return None
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"{value!r} is not an IANA time zone") from exc
        return value


class ConsentIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "channel": "email",
                    "purpose": "marketing",
                    "granted": True,
                    "source": "web-form",
                    "evidence": "checkbox on https://shop.example/signup, IP 203.0.113.7",
                }
            ]
        },
    )

    channel: ContactChannel
    purpose: Purpose
    granted: bool
    source: Text200
    evidence: Annotated[str, Field(max_length=2000)] | None = None


class ConsentOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [CONSENT_EXAMPLE]})

    id: UUID
    channel: ContactChannel
    purpose: Purpose
    granted: bool
    source: str
    evidence: str | None = None
    recorded_at: datetime


class CustomerRef(BaseModel):
    id: UUID
    display_name: str
    kind: CustomerKind


class ContactOut(BaseModel):
    id: UUID
    display_name: str
    job_title: str | None = None
    identifiers: list[IdentifierOut] = Field(default_factory=list)


class CustomerSummary(BaseModel):
    id: UUID
    kind: CustomerKind
    display_name: str
    organization_id: UUID | None
    tier: Tier
    owner_id: str | None
    tags: list[str]
    status: CustomerStatus
    unverified: bool
    identifiers: list[IdentifierOut]
    created_at: datetime


class CustomerOut(BaseModel):
    """The customer aggregate."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    **CUSTOMER_SUMMARY_EXAMPLE,
                    "given_name": "José",
                    "family_name": "Núñez",
                    "job_title": None,
                    "legal_name": None,
                    "sector": None,
                    "size_band": None,
                    "revenue_band": None,
                    "website": None,
                    "address": {
                        "street": None,
                        "city": "Sevilla",
                        "region": None,
                        "postal_code": None,
                        "country": "ES",
                    },
                    "preferred_language": "es",
                    "attributes": {},
                    "merged_into": None,
                    "updated_at": "2026-11-02T09:20:00Z",
                    "version": 3,
                    "organization": None,
                    "contacts": None,
                    "preferences": None,
                    "consents": [CONSENT_EXAMPLE],
                }
            ]
        }
    )

    id: UUID
    kind: CustomerKind
    display_name: str
    given_name: str | None
    family_name: str | None
    job_title: str | None
    organization_id: UUID | None
    legal_name: str | None
    sector: str | None
    size_band: SizeBand | None
    revenue_band: str | None
    website: str | None
    address: Address | None
    preferred_language: str | None
    tier: Tier
    owner_id: str | None
    tags: list[str]
    attributes: dict[str, Any]
    status: CustomerStatus
    merged_into: UUID | None = Field(description="Set when this customer was merged into another")
    unverified: bool
    created_at: datetime
    updated_at: datetime
    version: int
    identifiers: list[IdentifierOut]
    organization: CustomerRef | None = Field(description="For a person: their organisation.")
    contacts: list[ContactOut] | None = Field(
        description="For an organisation: its contact persons (first 100)."
    )
    preferences: Preferences | None
    consents: list[ConsentOut] = Field(description="Current state per channel and purpose.")


class CustomerPage(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"items": [CUSTOMER_SUMMARY_EXAMPLE], "next_cursor": None}]}
    )

    items: list[CustomerSummary]
    next_cursor: str | None


class Identification(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"customer_id": CUSTOMER_ID, "status": "active", "unverified": False}]
        }
    )

    customer_id: UUID
    status: CustomerStatus
    unverified: bool


class Candidate(BaseModel):
    customer_id: UUID
    display_name: str
    phone: str = Field(description="The reading of the caller's number this customer holds")
    unverified: bool


class CallerCandidates(BaseModel):
    """A caller id several customers may own: the caller is asked, not guessed."""

    detail: str
    candidates: list[Candidate]

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "detail": "The number may be +5533612345678 or +33612345678; several "
                    "customers hold one.",
                    "candidates": [
                        {
                            "customer_id": "01933b8e-8a52-7cc2-9d0e-0c6f2b1e3a10",
                            "display_name": "Ana Souza",
                            "phone": "+5533612345678",
                            "unverified": False,
                        },
                        {
                            "customer_id": "01933b8e-8a52-7cc2-9d0e-0c6f2b1e3a11",
                            "display_name": "Claire Martin",
                            "phone": "+33612345678",
                            "unverified": False,
                        },
                    ],
                }
            ]
        }
    }

    @classmethod
    def of(cls, readings: list[str], found: list[Candidate]) -> "CallerCandidates":
        """The answer to a caller id whose readings several customers hold."""
        return cls(
            detail=f"The number may be {' or '.join(readings)}; several customers hold one.",
            candidates=found,
        )


class ContactPage(BaseModel):
    items: list[ContactOut]
    next_cursor: str | None


class ConsentPage(BaseModel):
    items: list[ConsentOut]
    next_cursor: str | None
