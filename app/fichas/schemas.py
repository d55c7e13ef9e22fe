"""Bodies of the ficha and template API."""

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from app.fichas.templates import (
    BASE_SECTIONS,
    SECTIONS,
    labels_json_schema,
    sections_json_schema,
)

TEMPLATE_EXAMPLE: dict[str, Any] = {
    "sections": [
        {"name": "identity"},
        {"name": "indicators"},
        {"name": "flags"},
        {"name": "open_items"},
        {"name": "tickets", "limit": 5, "open_only": True},
        {"name": "recent_interactions", "limit": 10, "types": ["call.*", "email.*"]},
        {"name": "preferences"},
    ],
    "labels": {"es": {"open_items": "Pendiente"}},
}


class TemplateIn(BaseModel):
    """Sections in the order shown, each with its options; labels per language."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [TEMPLATE_EXAMPLE]})

    # Validated by app/fichas/templates.py, which names the section at fault; the schema
    # says what that admits.
    sections: Annotated[
        list[dict[str, Any]],
        Field(min_length=len(BASE_SECTIONS), max_length=len(SECTIONS)),
        WithJsonSchema(sections_json_schema()),
    ]
    labels: Annotated[dict[str, dict[str, str]], WithJsonSchema(labels_json_schema())] = Field(
        default_factory=dict
    )


class TemplateOut(BaseModel):
    role: str
    sections: list[dict[str, Any]]
    labels: dict[str, dict[str, str]]
    updated_at: datetime


class TemplateList(BaseModel):
    items: list[TemplateOut]


class Action(BaseModel):
    type: str = Field(description="call, email, sms, whatsapp")
    target: str


class Ficha(BaseModel):
    """A customer card for one job: only the sections its template names."""

    customer_id: UUID
    role: str
    language: str
    generated_at: datetime
    sections: dict[str, dict[str, Any]] = Field(
        description="Keyed by section name, in template order; each has its label and as_of"
    )
    actions: list[Action] = Field(description="Ways to reach the customer this job may use")


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
                    "detail": "'33612345678' names several customers; choose one.",
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


class AccessEntry(BaseModel):
    id: UUID
    at: datetime
    key_id: UUID
    agent_id: str | None
    role: str
    what: str


class AccessPage(BaseModel):
    items: list[AccessEntry]
    next_cursor: str | None
