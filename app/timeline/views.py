"""The timeline's read side: a page of a customer's history, and the newest events a
ficha shows; plain data from the prepared statements of ``queries.py``."""

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from app.auth.access import access_entry
from app.core.db import Executor
from app.core.pagination import cursor_id, cursor_time, keyset_page
from app.core.security import Principal
from app.customers import service as customers
from app.customers.schemas import CustomerStatus
from app.customers.visibility import visibility_args
from app.timeline import queries
from app.timeline.queries import TimelineQuery


async def read_timeline(
    on: Executor,
    customer_id: UUID,
    principal: Principal,
    *,
    types: Sequence[str],
    channels: Sequence[str],
    since: datetime | None,
    until: datetime | None,
    limit: int,
    cursor: str | None,
    contacts: bool = True,
) -> str | customers.Merged:
    """A page of a customer's history and everyone merged into it (and, for an
    organisation with ``contacts``, its contact persons'), newest first, logged as read
    by the statement that reads it: the page as the API writes a TimelinePage (JSON
    text); for a merged customer, only its survivor, and nothing is read or logged."""
    status, family = await customers.visible_family(on, customer_id, principal, contacts)
    if status == CustomerStatus.MERGED:
        return customers.Merged(await customers.survivor_id(on, customer_id))
    exact = [t for t in types if not t.endswith("*")]
    prefixes = [t.rstrip("*") for t in types if t.endswith("*")]
    query = TimelineQuery(
        family, exact, prefixes, channels, since, until, visibility_args(principal)
    )
    rows = await queries.page_rows(
        on,
        query,
        limit=limit + 1,
        after=_after(cursor),
        access=(customer_id, *access_entry(principal, "timeline")),
    )
    page, next_cursor = keyset_page(
        rows, limit, lambda r: {"t": r["occurred_at"].isoformat(), "id": str(r["id"])}
    )
    # The events as the statement wrote them (queries._EVENT_ROW), put in the page.
    items = ",".join([row["event"] for row in page])
    return f'{{"items":[{items}],"next_cursor":{json.dumps(next_cursor)}}}'


def _after(cursor: str | None) -> tuple[datetime, UUID] | None:
    """The position a page's cursor resumes after: its last event's time and id."""
    if not cursor:
        return None
    moment = cursor_time(cursor, "t")
    position = cursor_id(cursor, "id")
    assert position is not None
    return moment, position


_LIKE_SPECIALS = str.maketrans({"\\": "\\\\", "%": "\\%", "_": "\\_"})


def _like(type_: str) -> str:
    """A type as a LIKE pattern: ``call.*`` every call type, else exactly that type."""
    if type_.endswith("*"):
        return type_[:-1].translate(_LIKE_SPECIALS) + "%"
    return type_.translate(_LIKE_SPECIALS)


def recent_wants(wanted: Sequence[tuple[Sequence[str], bool, int]]) -> queries.Wants:
    """For each of ``wanted`` (types, exact or ``prefix.*``, none for any; pinned notes
    only; how many), what the events statement (``recent_sql``) takes, for a ficha that
    reads all its event sections with other things in one query."""
    return queries.recent_wants(_patterns(wanted))


def _patterns(
    wanted: Sequence[tuple[Sequence[str], bool, int]],
) -> list[tuple[list[str], bool, int]]:
    return [([_like(t) for t in types], pinned, n) for types, pinned, n in wanted]


def recent_items(rows: Sequence[Any], wanted: int) -> list[list[dict[str, Any]]]:
    """The events of each want from the rows its statement read (records, or the anonymous
    ones of an array, in the statement's column order), for ``wanted`` wants."""
    found: list[list[dict[str, Any]]] = [[] for _ in range(wanted)]
    for n, event_id, type_, occurred_at, channel, direction, summary, actor, payload, fix in rows:
        found[n - 1].append(
            {
                "id": str(event_id),
                "type": type_,
                "occurred_at": occurred_at.isoformat(),
                "channel": channel,
                "direction": direction,
                "summary": summary,
                "actor": actor,
                "payload": json.loads(payload) if isinstance(payload, str) else payload,
                "correction": json.loads(fix) if isinstance(fix, str) else fix,
            }
        )
    return found
