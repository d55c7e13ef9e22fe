"""Building fichas (customer cards) per job, and editing their templates."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from app.alerts.schemas import AlertOut
from app.auth.access import access_entry
from app.core.clock import Clock
from app.core.config import Settings
from app.core.db import Executor
from app.core.errors import Forbidden, NotFound, ValidationFailed
from app.core.money import MoneyValue, money
from app.core.preconditions import digest_etag
from app.core.security import JOB_ROLES, Principal, Role
from app.customers import service as customers
from app.customers.identifiers import IdentifierKind
from app.customers.schemas import (
    CallerCandidates,
    ContactChannel,
    CustomerKind,
    CustomerOut,
    CustomerStatus,
    Purpose,
)
from app.fichas import events, levels, queries
from app.fichas.cache import TemplateCache
from app.fichas.repository import TemplateRepository
from app.fichas.schemas import (
    Action,
    Ficha,
    FichaSections,
    TemplateIn,
    TemplateOut,
    compact,
)
from app.fichas.templates import (
    BASE_SECTIONS,
    DEFAULT_TEMPLATES,
    LANGUAGES,
    Section,
    Template,
    TemplateError,
    label_for,
    text,
    validate_labels,
    validate_sections,
)
from app.indicators import service as indicators
from app.indicators.shapes import (
    ChurnCause,
    Derived,
    DerivedSatisfaction,
    DerivedText,
    DerivedValue,
    FlagEntry,
    Snapshot,
    State,
    TicketEntry,
)
from app.indicators.state import (
    OPEN_ORDER,
    RESOLVED,
    ValuePolicy,
    churn_reason,
    derive,
    sales_series,
)
from app.tasks import service as tasks
from app.timeline import views


class TemplateNotFound(NotFound):
    """No ficha template for this role."""

    code = "ficha-template-not-found"
    title = "Ficha template not found"
    example = ("No ficha template for role 'support'.", {})


class CallerNotFoundFields(BaseModel):
    phone: str = Field(description="The caller's number, normalised to E.164")


class CallerNotFound(NotFound):
    """No customer the key may see holds the caller's number (in any of its readings)."""

    code = "caller-not-found"
    title = "Caller not found"
    Extension = CallerNotFoundFields
    example = ("No customer has the phone +34612345678.", {"phone": "+34612345678"})


def choose_language(lang: str | None, accept_language: str | None) -> str:
    """``?lang=`` if supported, else the first supported language of Accept-Language, else en."""
    if lang and lang.split("-")[0].lower() in LANGUAGES:
        return lang.split("-")[0].lower()
    for part in (accept_language or "").split(","):
        code = part.split(";")[0].strip().split("-")[0].lower()
        if code in LANGUAGES:
            return code
    return "en"


@dataclass
class Context:
    principal: Principal
    customer: CustomerOut
    language: str
    state: State
    indicators: Derived
    flags: list[FlagEntry]
    stats_at: datetime | None
    alerts: list[AlertOut]
    now: datetime
    events: dict[str, list[dict[str, Any]]]  # the items of each event section
    follow_ups: list[dict[str, Any]]  # open tasks, soonest due first
    organization: Derived | None = None  # a contact person's organisation's indicators


# The sections that show events, and which: (types, pinned notes only) from their options.
# Each is built by ``_events`` (BUILDERS) from the events chosen here.
EVENT_SECTIONS: dict[str, Callable[[Section], tuple[list[str], bool]]] = {
    "recent_interactions": lambda section: (section["types"], False),
    "pinned_notes": lambda section: (["note.added"], True),
    "opportunities_and_quotes": lambda section: (["quote.*", "opportunity.*"], False),
    "behaviour": lambda section: (["web.*", "content.*", "webinar.*", "product.*"], False),
}


# The open alerts a ficha reads to give each flag its alert: a rule raises one open alert
# at a time, and there are fewer rules than this.
FLAG_ALERTS = 20


def _money(amount: str | None, currency: str | None) -> MoneyValue | None:
    """An amount the history gave with its currency, as Money; None without either."""
    return money(amount, currency) if amount is not None and currency else None


def _open_items(ctx: Context, section: Section) -> dict[str, Any]:
    state = ctx.state
    orders = sorted(
        ((k, v) for k, v in state["orders"].items() if v["status"] in OPEN_ORDER),
        key=lambda o: o[1]["at"],
        reverse=True,
    )
    tickets = sorted(
        ((k, v) for k, v in state["tickets"].items() if v.get("status") not in RESOLVED),
        key=lambda t: t[1].get("opened_at") or "",
        reverse=True,
    )
    value = ctx.indicators["value"]
    return {
        "orders": {
            k: {
                "status": v["status"],
                "total": _money(v.get("total"), v.get("currency")),
                "carrier": v.get("carrier"),
            }
            for k, v in orders
        },
        "tickets": {k: _ticket(v) for k, v in tickets},
        "disputes": value["open_disputes"],
        "overdue_invoices": value["overdue_invoices"],
    }


def _ticket(ticket: TicketEntry) -> dict[str, Any]:
    return {
        "subject": ticket.get("subject"),
        "status": ticket.get("status"),
        "resolution": ticket.get("resolution"),
    }


def _identity(ctx: Context, section: Section) -> dict[str, Any]:
    """Who the customer is; what is usual (active, verified, speaking the ficha's
    language) goes without saying, and an organisation says so by its label."""
    c = ctx.customer
    return {
        "display_name": c.display_name,
        "organization": c.organization.display_name if c.organization else None,
        "tier": c.tier.value,
        "language": c.preferred_language if c.preferred_language != ctx.language else None,
        "status": c.status.value if c.status is not CustomerStatus.ACTIVE else None,
        "unverified": True if c.unverified else None,
    }


def _value(value: DerivedValue) -> dict[str, Any]:
    return levels.badge("value", levels.value(value["segment"]))


def _satisfaction(satisfaction: DerivedSatisfaction) -> dict[str, Any] | None:
    level = levels.satisfaction(satisfaction["last_csat"], satisfaction["last_nps"])
    return levels.badge("satisfaction", level) if level else None


def _sentiment(text: DerivedText) -> dict[str, Any] | None:
    level = levels.sentiment(text)
    if level is None:
        return None
    return {
        **levels.badge("sentiment", level),
        "trend": text["sentiment_trend"],
        "last_message": text["last_inbound"],
    }


def _indicators(ctx: Context, section: Section) -> dict[str, Any]:
    """Each indicator by its level and icon; a contact person's organisation's value and
    satisfaction where they differ from the person's own."""
    risk = ctx.indicators["risk"]
    cause = risk["churn_cause"]
    value = _value(ctx.indicators["value"])
    satisfaction = _satisfaction(ctx.indicators["satisfaction"])
    built = {
        "value": value,
        "satisfaction": satisfaction,
        "churn_risk": {
            **levels.badge("churn", risk["churn"]),
            "churn_reason": _churn_reason(cause, ctx.language) if cause else None,
        },
        "sentiment": _sentiment(ctx.indicators["text"]),
    }
    if ctx.customer.organization is not None and ctx.organization is not None:
        theirs = _value(ctx.organization["value"])
        their_satisfaction = _satisfaction(ctx.organization["satisfaction"])
        built["organization"] = {
            "value": theirs if theirs != value else None,
            "satisfaction": their_satisfaction if their_satisfaction != satisfaction else None,
        }
    return built


def _churn_reason(cause: ChurnCause, language: str) -> str:
    """Why the churn risk is what it is, in ``language``."""
    values = {k: v for k, v in cause.items() if k != "code"}
    return text(language, f"churn.{cause['code']}", **values) or churn_reason(cause)


def _flags(ctx: Context, section: Section) -> dict[str, Any]:
    """Each flag once, keyed by its code, with the open alert that raised it (the newest
    of its code)."""
    alert_of: dict[str, UUID] = {}
    for alert in reversed(ctx.alerts):  # newest first: the newest wins
        alert_of[alert.code] = alert.id
    items = {
        flag["code"]: {
            "severity": flag["severity"],
            "label": text(ctx.language, f"flag.{flag['code'].split(':')[0]}") or flag["label"],
            "alert_id": alert_of.get(flag["code"]),
            "orders": flag.get("orders") or [],
        }
        for flag in ctx.flags
    }
    return {"items": items}


def _events(ctx: Context, section: Section) -> dict[str, Any]:
    return {"items": events.shown(ctx.events[section["name"]], ctx.language)}


def _purchases(ctx: Context, section: Section) -> dict[str, Any]:
    orders = sorted(
        ctx.state["orders"].items(), key=lambda o: o[1].get("placed") or o[1]["at"], reverse=True
    )
    return {
        "items": {
            k: {
                "status": v["status"],
                "total": _money(v.get("total"), v.get("currency")),
                "products": [
                    {"sku": sku, "name": v.get("names", {}).get(sku)} for sku in v.get("skus", [])
                ],
            }
            for k, v in orders[: section["limit"]]
        },
    }


def _tickets(ctx: Context, section: Section) -> dict[str, Any]:
    tickets = sorted(
        (
            (k, v)
            for k, v in ctx.state["tickets"].items()
            if not section["open_only"] or v.get("status") not in RESOLVED
        ),
        key=lambda t: t[1].get("opened_at") or "",
        reverse=True,
    )
    return {"items": {k: _ticket(v) for k, v in tickets[: section["limit"]]}}


def _preferences(ctx: Context, section: Section) -> dict[str, Any]:
    prefs = ctx.customer.preferences
    return prefs.model_dump(mode="json", by_alias=True) if prefs else {"do_not_call": False}


def _contacts(ctx: Context, section: Section) -> dict[str, Any]:
    items: dict[str, Any] = {}
    for contact in (ctx.customer.contacts or [])[: section["limit"]]:
        first: dict[str, str] = {}
        for identifier in contact.identifiers:
            first.setdefault(identifier.kind, identifier.value)
        items[str(contact.id)] = {
            "display_name": contact.display_name,
            "job_title": contact.job_title,
            "phone": first.get(IdentifierKind.PHONE),
            "email": first.get(IdentifierKind.EMAIL),
        }
    return {"items": items}


def _sales(ctx: Context, section: Section) -> dict[str, Any]:
    return {
        "interval": section["interval"],
        "items": sales_series(ctx.state, section["interval"]),
    }


def _collections(ctx: Context, section: Section) -> dict[str, Any]:
    newest = sorted(ctx.state["payments"].items(), key=lambda p: p[1]["at"], reverse=True)

    def payments(kind: str) -> dict[str, Any]:
        shown = [(k, v) for k, v in newest if v["type"] == kind][: section["limit"]]
        return {
            k: {
                "at": v["at"],
                "amount": _money(v["amount"], v["currency"]),
                "order_id": v.get("order_id"),
                "invoice_id": v.get("invoice_id"),
                "reason": v.get("reason"),
            }
            for k, v in shown
        }

    overdue = ctx.indicators["value"]["overdue_invoices"]
    return {
        "overdue_invoices": {
            k: {"overdue_at": v["overdue_at"], "amount": _money(v.get("amount"), v.get("currency"))}
            for k, v in ctx.state["invoices"].items()
            if k in overdue
        },
        "failed_payments": payments("payment.failed"),
        "disputes": {
            k: {"status": v["status"], "opened_at": v["opened_at"]}
            for k, v in ctx.state["disputes"].items()
        },
        "payment_history": payments("payment.received"),
    }


def _alerts(ctx: Context, section: Section) -> dict[str, Any]:
    """The open alerts, newest first, by what an agent reads of them (the whole alert is
    in ``GET /v1/alerts``); their flags show them already."""
    items = [
        {
            "id": a.id,
            "title": _title(a, ctx.language),
            "severity": a.severity,
            "raised_at": a.raised_at,
        }
        for a in ctx.alerts[: section["limit"]]
    ]
    return {"items": items}


def _title(alert: AlertOut, language: str) -> str:
    """An alert's title in ``language``, from its rule and detail; as stored for a rule
    this version has no text for."""
    rule = alert.rule.split(":")[0]
    detail = alert.detail
    values: dict[str, Any] = {k: v for k, v in detail.items() if isinstance(v, int | str)}
    values |= {k: ", ".join(map(str, v)) for k, v in detail.items() if isinstance(v, list)}
    if rule == "angry_message" and detail.get("abusive"):
        rule = "abusive_message"
    if rule == "incident_affected":  # the incident's own title, as its author wrote it
        values["incident"] = alert.title.partition(": ")[2]
    try:
        return text(language, f"alert.{rule}", **values) or alert.title
    except KeyError:  # a detail this version's text does not find
        return alert.title


def _follow_ups(ctx: Context, section: Section) -> dict[str, Any]:
    return {"items": ctx.follow_ups[: section["limit"]]}


def _consents(ctx: Context, section: Section) -> dict[str, Any]:
    """Per channel and purpose, whether the customer consents."""
    channels: dict[str, dict[str, bool]] = {}
    for consent in ctx.customer.consents:
        channels.setdefault(consent.channel.value, {})[consent.purpose.value] = consent.granted
    return {"channels": channels}


def _segments(ctx: Context, section: Section) -> dict[str, Any]:
    return {"value_segment": ctx.indicators["value"]["segment"], "tags": ctx.customer.tags}


BUILDERS: dict[str, Callable[[Context, Section], dict[str, Any]]] = {
    "identity": _identity,
    "indicators": _indicators,
    "flags": _flags,
    "open_items": _open_items,
    "purchases": _purchases,
    "tickets": _tickets,
    "preferences": _preferences,
    "contacts": _contacts,
    "sales_series": _sales,
    "collections": _collections,
    "alerts": _alerts,
    "follow_ups": _follow_ups,
    "consents": _consents,
    "segments": _segments,
    **dict.fromkeys(EVENT_SECTIONS, _events),
}


def _actions(customer: CustomerOut, role: str, language: str) -> list[Action]:
    """Ways to reach the customer; marketing needs consent, nobody calls a do-not-call.
    A text (SMS or WhatsApp) is offered when the customer prefers it and consented to it,
    for service (marketing: for marketing); never to a do-not-call, as the sender decides
    (``app/messages/reach.py``)."""
    do_not_call = bool(customer.preferences and customer.preferences.do_not_call)
    consent = {(c.channel.value, c.purpose.value): c.granted for c in customer.consents}
    marketing = role == Role.MARKETING.value
    purpose = Purpose.MARKETING.value if marketing else Purpose.SERVICE.value
    may_call = not do_not_call and (not marketing or consent.get(("phone", "marketing")))
    may_email = not marketing or consent.get(("email", "marketing"))
    preferred = customer.preferences.preferred_channel if customer.preferences else None
    texting = (
        preferred.value
        if preferred in (ContactChannel.SMS, ContactChannel.WHATSAPP)
        and not do_not_call
        and consent.get((preferred.value, purpose))
        else None
    )
    found: list[tuple[str, str]] = []
    for identifier in customer.identifiers:
        if identifier.kind is IdentifierKind.PHONE and may_call:
            found.append(("call", identifier.value))
        if identifier.kind is IdentifierKind.PHONE and texting:
            found.append((texting, identifier.value))
        if identifier.kind is IdentifierKind.EMAIL and may_email:
            found.append(("email", identifier.value))
    return [
        Action(type=kind, label=text(language, f"action.{kind}") or kind, target=target)
        for kind, target in found
    ]


def _check_role(principal: Principal, role: str) -> None:
    if principal.role in JOB_ROLES and principal.role.value != role:
        raise Forbidden(
            f"A {principal.role.value} key reads the {principal.role.value} ficha only."
        )


async def ficha(
    on: Executor,
    templates: TemplateCache,
    settings: Settings,
    clock: Clock,
    customer_id: UUID,
    role: str,
    language: str,
    principal: Principal,
) -> Ficha:
    """The ficha of one customer for one job: only what its template names."""
    _check_role(principal, role)
    template = await _template(on, templates, role)
    customer = await customers.get_customer(on, customer_id, principal)
    policy = indicators.value_policy(settings)
    return await _ficha(
        on, template, customer, role, language, principal, f"ficha:{role}", policy, clock.now()
    )


async def screen_pop(
    on: Executor,
    templates: TemplateCache,
    settings: Settings,
    clock: Clock,
    readings: list[str],
    role: str,
    language: str,
    principal: Principal,
) -> Ficha | CallerCandidates:
    """The ficha of whoever calls from one of ``readings`` (the caller id's possible E.164
    numbers); 404 when nobody holds one, the candidates when several customers do. One
    statement reads the caller's cards and the ficha with its access-log row."""
    _check_role(principal, role)
    template = await templates.sections(on, role)
    national, international = customers.caller_readings(readings)
    what = f"screen-pop:{role}"
    if template is None:  # the caller's errors come first; then the template's
        rows = await customers.caller_rows(on, readings, principal)
    else:
        alert_limit, wanted = _wants(template)
        rows = await queries.screen_pop_rows(
            on,
            national,
            international,
            principal,
            alert_limit,
            views.recent_wants(wanted),
            access_entry(principal, what),
        )
    if not rows:
        raise CallerNotFound(f"No customer has the phone {national}.", extra={"phone": national})
    if len({r["holder_id"] for r in rows}) > 1:
        return CallerCandidates.of(readings, customers.caller_candidates(rows))
    if template is None:
        raise TemplateNotFound(f"No ficha template for role '{role}'.")
    read = rows[0]
    customer = customers.caller_card(read)
    policy = indicators.value_policy(settings)
    if customer.status == CustomerStatus.MERGED:
        return await _ficha(
            on, template, customer, role, language, principal, what, policy, clock.now()
        )
    stored = {
        "state": read["stats_state"],
        "flags": read["stats_flags"],
        "updated_at": read["stats_updated_at"],
        "hidden": read["stats_hidden"],
        "open_alerts": read["open_alerts"],
    }
    events = views.recent_items(read["recent"], len(wanted))
    now = clock.now()
    return await _completed(
        on, template, customer, role, language, principal, policy, now, stored, events
    )


async def _completed(
    on: Executor,
    template: Template,
    customer: CustomerOut,
    role: str,
    language: str,
    principal: Principal,
    policy: ValuePolicy,
    now: datetime,
    stored: Any,
    events: list[list[dict[str, Any]]],
) -> Ficha:
    """The ficha of what its one statement read (``stored``, the snapshot's columns), with
    what some cards read besides: the open follow-ups (when shown), a contact person's
    organisation's indicators, and an organisation's own as a key that cannot see some of
    its contact persons may read them (``indicators.seen``)."""
    snap = await indicators.seen(on, customer.id, stored, principal, now, policy)
    follow_ups = await _open_follow_ups(on, template, customer.id, now, not stored["hidden"])
    organization = await _organization(on, customer, principal, now, policy)
    return _built(
        template,
        customer,
        role,
        language,
        principal,
        policy,
        now,
        snap,
        events,
        follow_ups,
        organization,
    )


def _wants(template: Template) -> tuple[int, list[tuple[list[str], bool, int]]]:
    """How many open alerts a ficha reads (those its alerts section shows, and enough for
    its flags), and what its event sections want."""
    sections, _ = template
    listed = max((s["limit"] for s in sections if s["name"] == "alerts"), default=0)
    alert_limit = max(listed, FLAG_ALERTS)
    shown = [s for s in sections if s["name"] in EVENT_SECTIONS]
    return alert_limit, [(*EVENT_SECTIONS[s["name"]](s), s["limit"]) for s in shown]


async def _template(on: Executor, templates: TemplateCache, role: str) -> Template:
    found = await templates.sections(on, role)
    if found is None:
        raise TemplateNotFound(f"No ficha template for role '{role}'.")
    return found


async def _ficha(
    on: Executor,
    template: Template,
    customer: CustomerOut,
    role: str,
    language: str,
    principal: Principal,
    what: str,
    policy: ValuePolicy,
    now: datetime,
) -> Ficha:
    """The ficha as of ``now``. What it reads once the customer is known is one statement
    with the access-log row of the read: on a bare connection it commits before the ficha
    is answered, and if the row cannot be written nothing is answered."""
    if customer.status == CustomerStatus.MERGED:
        survivor = await customers.survivor_id(on, customer.id)
        customer = await customers.get_customer(on, survivor, principal)
    alert_limit, wanted = _wants(template)
    read = await queries.ficha_reads(
        on,
        customer.id,
        principal,
        alert_limit,
        views.recent_wants(wanted),
        access_entry(principal, what),
    )
    events = views.recent_items(read["recent"], len(wanted))
    return await _completed(
        on, template, customer, role, language, principal, policy, now, read, events
    )


async def _open_follow_ups(
    on: Executor, template: Template, customer_id: UUID, now: datetime, alerts_seen: bool
) -> list[dict[str, Any]]:
    """The open follow-ups a template shows (no statement when it shows none); those of
    the customer's alerts only if the reader sees them (``alerts_seen``)."""
    sections, _ = template
    limit = max((s["limit"] for s in sections if s["name"] == "follow_ups"), default=0)
    if not limit:
        return []
    return await tasks.open_for_ficha(on, customer_id, now, limit, alerts_seen)


async def _organization(
    on: Executor, customer: CustomerOut, principal: Principal, now: datetime, policy: ValuePolicy
) -> Derived | None:
    """A contact person's organisation's indicators, as ``principal`` may read them (one
    statement more, for contact persons only)."""
    if customer.organization is None:
        return None
    held = await indicators.snapshot(on, customer.organization.id, 0, principal, now, policy)
    return derive(held["state"], now, policy)


# The sections an organisation's card labels otherwise: its identity says what it is.
_ORGANIZATION_LABEL = {"identity": "identity.organization"}


def _built(
    template: Template,
    customer: CustomerOut,
    role: str,
    language: str,
    principal: Principal,
    policy: ValuePolicy,
    now: datetime,
    snap: Snapshot,
    events: list[list[dict[str, Any]]],
    follow_ups: list[dict[str, Any]],
    organization: Derived | None,
) -> Ficha:
    """The ficha of what was read: only what its template names."""
    sections, labels = template
    shown = [s for s in sections if s["name"] in EVENT_SECTIONS]
    ctx = Context(
        principal=principal,
        customer=customer,
        language=language,
        state=snap["state"],
        indicators=derive(snap["state"], now, policy),
        flags=snap["flags"],
        stats_at=snap["updated_at"],
        alerts=snap["alerts"],
        now=now,
        events={s["name"]: items for s, items in zip(shown, events, strict=True)},
        follow_ups=follow_ups,
        organization=organization,
    )
    built: dict[str, Any] = {}
    is_organization = customer.kind is CustomerKind.ORGANIZATION
    for section in sections:
        name = section["name"]
        content = BUILDERS[name](ctx, section)
        if name not in BASE_SECTIONS and not compact(content):
            continue  # an empty section is left out
        labelled = _ORGANIZATION_LABEL.get(name, name) if is_organization else name
        built[name] = {"label": label_for(labels, language, labelled), **content}
    return Ficha(
        customer_id=customer.id,
        sections=FichaSections.shown(built),
        actions=_actions(customer, role, language),
    )


def _template_out(
    role: str, sections: list[dict[str, Any]], labels: dict[str, Any], at: datetime
) -> TemplateOut:
    return TemplateOut(role=role, sections=sections, labels=labels, updated_at=at)


async def list_templates(session: AsyncSession) -> list[TemplateOut]:
    return [
        _template_out(t.role, t.sections, t.labels, t.updated_at)
        for t in await TemplateRepository(session).all()
    ]


async def get_template(session: AsyncSession, role: str) -> TemplateOut:
    found = await TemplateRepository(session).get(role)
    if found is None:
        raise TemplateNotFound(f"No ficha template for role '{role}'.")
    return _template_out(found.role, found.sections, found.labels, found.updated_at)


async def put_template(session: AsyncSession, role: str, body: TemplateIn) -> TemplateOut:
    """Validate and store a template; the next ficha uses it, no restart."""
    try:
        sections = validate_sections(body.sections)
        labels = validate_labels(body.labels)
    except TemplateError as exc:
        raise ValidationFailed(
            f"{exc.field}: {exc}",
            extra={"errors": [{"field": exc.field, "reason": str(exc), "type": "value_error"}]},
        ) from None
    repo = TemplateRepository(session)
    await repo.put(role, sections, labels)
    return await get_template(session, role)


async def delete_template(session: AsyncSession, role: str) -> None:
    """Remove a custom template; a built-in one goes back to its default."""
    repo = TemplateRepository(session)
    if role in DEFAULT_TEMPLATES:
        await repo.put(role, validate_sections(DEFAULT_TEMPLATES[role]), {})
    elif not await repo.delete(role):
        raise TemplateNotFound(f"No ficha template for role '{role}'.")


def ficha_etag(body: bytes) -> str:
    """The ficha's ETag: a digest of the card's JSON, so that it changes with what the
    card shows and not when it is only read again."""
    # The answer's own bytes: one serialisation for both, several times cheaper than a
    # JSON-mode dict walk (docs/performance.md, "Measurements behind the code").
    return digest_etag(body)
