"""HTTP routes: message templates, messages to a customer, and the callback link."""

import html
from datetime import datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Form, Path, Query, Request, Response, status
from fastapi.responses import HTMLResponse

from app.auth.dependencies import Admin, Reader, Writer
from app.core.bounded_json import BoundedJsonRoute
from app.core.clock import ClockDep
from app.core.config import SettingsDep
from app.core.db import SessionDep
from app.core.errors import (
    Forbidden,
    Unauthorized,
    ValidationFailed,
    invalid_field,
    problem_responses,
)
from app.core.openapi import headers
from app.core.pagination import InvalidCursor, Limit
from app.customers.service import CustomerNotFound
from app.messages import service
from app.messages.schemas import (
    MessageIn,
    MessageOut,
    MessagePage,
    MessageTemplateIn,
    MessageTemplateList,
    MessageTemplateOut,
    TemplateName,
)
from app.messages.service import CallbackNotFound, MessageNotFound, TemplateNotFound

router = APIRouter(prefix="/v1", tags=["messages"], route_class=BoundedJsonRoute)

NameIn = Annotated[TemplateName, Path(description="The template's name")]
# The callback link's token: the message's id (32 hex digits) and its secret.
Token = Annotated[str, Path(min_length=33, max_length=100, pattern=r"^[0-9a-f]{32}[A-Za-z0-9_-]+$")]


@router.get(
    "/message-templates",
    operation_id="list_message_templates",
    summary="Message templates, by name",
    responses=problem_responses(Unauthorized, Forbidden),
)
async def list_message_templates(session: SessionDep, principal: Writer) -> MessageTemplateList:
    return MessageTemplateList(items=await service.list_templates(session))


@router.get(
    "/message-templates/{name}",
    operation_id="get_message_template",
    summary="One message template",
    responses=problem_responses(Unauthorized, Forbidden, TemplateNotFound, ValidationFailed),
)
async def get_message_template(
    name: NameIn, session: SessionDep, principal: Writer
) -> MessageTemplateOut:
    return await service.get_template(session, name)


@router.put(
    "/message-templates/{name}",
    operation_id="put_message_template",
    summary="Create or replace a message template (every language, placeholders checked)",
    responses=problem_responses(Unauthorized, Forbidden, ValidationFailed),
)
async def put_message_template(
    name: NameIn, body: MessageTemplateIn, session: SessionDep, principal: Admin, clock: ClockDep
) -> MessageTemplateOut:
    """422 naming the text (`body.texts.fr.body`) whose placeholder is unknown or broken."""
    return await service.put_template(session, name, body, clock)


@router.post(
    "/customers/{customer_id}/messages",
    operation_id="send_message",
    status_code=status.HTTP_201_CREATED,
    summary="Send a customer a message from a template, on their preferred channel",
    responses={
        201: {"description": "The message, queued", "headers": headers("Location")},
        **problem_responses(Unauthorized, Forbidden, CustomerNotFound, ValidationFailed),
    },
)
async def send_message(
    customer_id: UUID,
    body: MessageIn,
    session: SessionDep,
    principal: Writer,
    clock: ClockDep,
    request: Request,
    response: Response,
) -> MessageOut:
    """Queued now and sent by the sender within seconds, unless the customer's contact
    hours say later; `status` and `reason` then say what became of it."""
    message = await service.send_by_hand(session, customer_id, body, principal, clock)
    response.headers["Location"] = str(
        request.url_for("get_message", customer_id=message.customer_id, message_id=message.id)
    )
    return message


@router.get(
    "/customers/{customer_id}/messages",
    operation_id="list_messages",
    summary="The messages to a customer with their status, newest first",
    responses=problem_responses(
        InvalidCursor, Unauthorized, Forbidden, CustomerNotFound, ValidationFailed
    ),
)
async def list_messages(
    customer_id: UUID,
    session: SessionDep,
    principal: Reader,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    limit: Limit = 50,
) -> MessagePage:
    return await service.list_messages(session, customer_id, principal, limit=limit, cursor=cursor)


@router.get(
    "/customers/{customer_id}/messages/{message_id}",
    operation_id="get_message",
    summary="One message to a customer, with its status",
    responses=problem_responses(
        Unauthorized, Forbidden, CustomerNotFound, MessageNotFound, ValidationFailed
    ),
)
async def get_message(
    customer_id: UUID, message_id: UUID, session: SessionDep, principal: Reader
) -> MessageOut:
    return await service.get_message(session, customer_id, message_id, principal)


_PAGE = """<!doctype html><html><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width"><title>{title}</title></head>
<body><h1>{title}</h1>{content}</body></html>"""
# A link used again: the first choice stands, and the page does not pretend otherwise.
_CHOSEN = "<p>You had already chosen a time: we will call you then.</p>"


@router.get(
    "/callbacks/{token}",
    operation_id="show_callback_slots",
    summary="The page a message's callback link opens: times to choose from (no key)",
    response_class=HTMLResponse,
    openapi_extra={"security": []},
    responses={
        200: {"description": "A form with the times offered", "content": {"text/html": {}}},
        **problem_responses(CallbackNotFound, ValidationFailed),
    },
)
async def show_callback_slots(token: Token, session: SessionDep, clock: ClockDep) -> HTMLResponse:
    """Opening the link records nothing (link previews open it too); choosing a time does."""
    slots = await service.callback_slots(session, token, clock)
    if not slots:
        return HTMLResponse(_PAGE.format(title="Thank you", content=_CHOSEN))
    buttons = "".join(
        f'<button name="slot" value="{s.isoformat()}">{html.escape(s.isoformat())}</button>'
        for s in slots
    )
    form = f'<form method="post">{buttons}</form>'
    return HTMLResponse(_PAGE.format(title="When shall we call you?", content=form))


@router.post(
    "/callbacks/{token}",
    operation_id="request_callback",
    summary="The customer chooses a time to be called back: callback.requested (no key)",
    response_class=HTMLResponse,
    openapi_extra={"security": []},
    responses={
        200: {
            "description": "Thanks; recorded once (used again, the page says the first "
            "choice stands)",
            "content": {"text/html": {}},
        },
        **problem_responses(CallbackNotFound, ValidationFailed),
    },
)
async def request_callback(
    token: Token,
    slot: Annotated[datetime, Form(description="The time chosen (RFC 3339)")],
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
) -> HTMLResponse:
    if slot.tzinfo is None:
        raise invalid_field("body.slot", "must be a time with its UTC offset")
    if not await service.request_callback(session, token, slot, settings, clock):
        return HTMLResponse(_PAGE.format(title="Thank you", content=_CHOSEN))
    content = f"<p>We will call you at {html.escape(slot.isoformat())}.</p>"
    return HTMLResponse(_PAGE.format(title="Thank you", content=content))
