"""Message and message-template bodies of the API."""

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.messages.templates import DEFAULT_TEMPLATES, one_line

Purpose = Literal["service", "marketing"]
MessageStatus = Literal["queued", "sent", "delivered", "failed", "skipped", "cancelled"]
FieldName = Annotated[str, Field(pattern=r"^[a-z_][a-z0-9_]{0,39}$")]
TemplateName = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,79}$")]


class MessageTemplateText(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subject: Annotated[str, Field(min_length=1, max_length=200)] = Field(
        description="The e-mail's subject, one line (SMS and WhatsApp send the body only)"
    )
    body: Annotated[str, Field(min_length=1, max_length=1600)]

    @field_validator("subject")
    @classmethod
    def _one_line(cls, value: str) -> str:
        if one_line(value) != value:
            raise ValueError("a subject is one line: no line breaks")
        return value


class MessageTemplateTexts(BaseModel):
    """The template in every language a customer may get it in."""

    model_config = ConfigDict(extra="forbid")

    es: MessageTemplateText
    pt: MessageTemplateText
    en: MessageTemplateText
    fr: MessageTemplateText


_EXAMPLE = {"name": "abandoned_calls", **DEFAULT_TEMPLATES["abandoned_calls"]}


class MessageTemplateIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{k: v for k, v in _EXAMPLE.items() if k != "name"}]},
    )

    purpose: Purpose = Field(
        description="service: about something the customer has with us; marketing: offers. "
        "Each needs the customer's consent for that purpose on the channel."
    )
    fields: list[FieldName] = Field(
        default_factory=list,
        max_length=20,
        description="The fact's fields the texts use, besides name, given_name and "
        "callback_url; whoever sends the template gives them",
    )
    texts: MessageTemplateTexts


class MessageTemplateOut(MessageTemplateIn):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{**_EXAMPLE, "updated_at": "2026-11-30T09:00:00Z"}]}
    )

    name: str
    updated_at: datetime


class MessageTemplateList(BaseModel):
    items: list[MessageTemplateOut]


class MessageIn(BaseModel):
    """A message to send to the customer, on their preferred channel among those with
    consent for the template's purpose, within their contact hours."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"template": "carrier_delay", "fields": {"incident_title": "SEUR"}}]
        },
    )

    template: TemplateName
    fields: dict[FieldName, Annotated[str, Field(max_length=500)]] = Field(
        default_factory=dict, max_length=20, description="The template's fields"
    )


class MessageOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "0195f0a0-0000-7000-8000-000000000002",
                    "customer_id": "0195f0a0-0000-7000-8000-000000000001",
                    "template": "abandoned_calls",
                    "purpose": "service",
                    "origin": "rule:premium_abandoned_calls",
                    "status": "delivered",
                    "reason": None,
                    "not_before": "2026-11-30T10:30:00Z",
                    "channel": "sms",
                    "language": "es",
                    "provider": "twilio",
                    "provider_message_id": "SM0123456789abcdef0123456789abcdef",
                    "created_at": "2026-11-30T10:00:00Z",
                    "sent_at": "2026-11-30T10:30:02Z",
                    "status_at": "2026-11-30T10:30:05Z",
                    "callback_requested_at": None,
                }
            ]
        }
    )

    id: UUID
    customer_id: UUID
    template: str
    purpose: Purpose
    origin: str = Field(
        description="Who asked for it: api:<key id>, rule:<rule> (a journey), incident:<id>"
    )
    status: MessageStatus
    reason: str | None = Field(description="Why it waits, was skipped, cancelled or failed")
    not_before: datetime = Field(description="Not sent before (contact hours, a delay)")
    channel: Literal["sms", "whatsapp", "email"] | None
    language: str | None
    provider: str | None
    provider_message_id: str | None
    created_at: datetime
    sent_at: datetime | None
    status_at: datetime
    callback_requested_at: datetime | None


class MessagePage(BaseModel):
    items: list[MessageOut]
    next_cursor: str | None
