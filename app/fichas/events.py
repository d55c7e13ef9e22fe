"""How a ficha shows an event (pure): its summary in the ficha's language, and what a
person needs of its kind (a note's text, a meeting's title and next step, a quote's amount
and validity, a ticket's subject, status and resolution, the pages of a visit)."""

from datetime import datetime, timedelta
from typing import Any

from app.core.money import money
from app.fichas.templates import text
from app.timeline import service as timeline

# Page views this close to the next one are one visit (the usual web-analytics session).
VISIT_GAP = timedelta(minutes=30)
PAGE_VIEWED = "web.page_viewed"


# What the events statement reads that a card does not show: its summary says what the
# event was, and the timeline has the rest.
_UNSHOWN = ("id", "type", "channel", "direction")


def shown(items: list[dict[str, Any]], language: str) -> list[dict[str, Any]]:
    """Events as a ficha lists them, newest first, from what the events statement read
    (with their payloads): when, what (its summary) and who, and what a person needs of
    its kind; the page views of one visit are one item."""
    visits = _visits([_shown(dict(item), language) for item in items], language)
    return [{k: v for k, v in item.items() if k not in _UNSHOWN} for item in visits]


def _shown(item: dict[str, Any], language: str) -> dict[str, Any]:
    """An event as its latest correction has it (the summary it gives, the fields it
    corrects). A summary its source gave stays as given; one the service made is made
    again, of the corrected fields, in ``language``."""
    payload = item.pop("payload") or {}
    correction = item.pop("correction")
    type_ = item["type"]
    made = item["summary"] == timeline.default_summary(type_, payload)
    if correction is not None:
        payload |= _fitting(type_, payload, correction["payload"] or {})
        if correction["summary"]:
            item["summary"], made = correction["summary"], False
    if made:
        label = text(language, f"event.{type_}")
        item["summary"] = (
            timeline.default_summary(type_, payload)
            if label is None
            else (label + timeline.summary_detail(type_, payload))[:280]
        )
    return item | _content(type_, payload)


def _fitting(type_: str, written: dict[str, Any], fields: dict[str, Any]) -> dict[str, Any]:
    """The corrected ``fields`` the event's type takes as they are. A correction stored
    before its append judged its fields may hold any JSON (an amount of "1,200.00", a date
    of "next week", a subject that is a number), which would fail the card: such a field
    is left as the event has it."""
    refused = {e["loc"][0] for e in timeline.refused_corrections(type_, written, fields)}
    return {name: value for name, value in fields.items() if name not in refused}


def _content(type_: str, p: dict[str, Any]) -> dict[str, Any]:
    family = type_.split(".")[0]
    if type_ == "note.added":  # its summary is its text, or the word "note"
        return {"text": p.get("text"), "summary": None} if p.get("text") else {}
    if type_ == "meeting.held":
        return {"title": p.get("title"), "next_step": p.get("next_step")}
    if family in {"content", "webinar"}:
        return {"title": p.get("title")}
    if family in {"quote", "opportunity"}:
        amount, currency = p.get("amount"), p.get("currency")
        return {
            "amount": money(amount, currency) if amount is not None and currency else None,
            "valid_until": p.get("valid_until"),
            "stage": p.get("stage"),
        }
    if family == "ticket":
        status = "resolved" if type_ == "ticket.resolved" else p.get("status")
        return {
            "subject": p.get("subject"),
            "status": status,
            "resolution": p.get("resolution"),
        }
    if type_ == PAGE_VIEWED:
        return {"pages": [p["url"]] if p.get("url") else []}
    return {}


def _visits(items: list[dict[str, Any]], language: str) -> list[dict[str, Any]]:
    """Runs of page views (newest first) each within VISIT_GAP of the next as one item:
    the newest view's, with the visit's pages in the order seen."""
    out: list[dict[str, Any]] = []
    for item in items:
        last = out[-1] if out else None
        if (
            item["type"] == PAGE_VIEWED
            and last is not None
            and last["type"] == PAGE_VIEWED
            and _at(last["_first"]) - _at(item["occurred_at"]) <= VISIT_GAP
        ):
            last["pages"] = item.get("pages", []) + last["pages"]
            last["_first"] = item["occurred_at"]
            last["summary"] = text(language, "event.web.visit", pages=len(last["pages"]))
            continue
        out.append(item | {"_first": item["occurred_at"]} if item["type"] == PAGE_VIEWED else item)
    for item in out:
        item.pop("_first", None)
    return out


def _at(moment: str) -> datetime:
    return datetime.fromisoformat(moment)
