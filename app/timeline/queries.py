"""Prepared statements on events and idempotency keys (the driver path): the append, its
keys, the timeline page and a ficha's recent events."""

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from app.auth.queries import access_insert_sql
from app.core.db import Executor, driver_connection, new_id
from app.customers.family import history_cte
from app.customers.visibility import follows_alert_sql, hiding_contacts_sql, visible_sql
from app.indicators import queries as stats_queries
from app.indicators.state import Fact
from app.outbox.queries import announce_cte
from app.text import queries as text_queries

NOTIFY_CHANNEL = "ch_events"

# An erasure keeps a key only as its hash, ch_erased_key(key) (a key may spell an email),
# which every key holds from the start as its digest, unique with the scope: claims and
# look-ups go by it, so a retry of an erased fact stays a duplicate (migration 0033).
_CLAIM_KEY = (
    "INSERT INTO event_keys (scope, key, digest, event_id, request_hash) "
    "VALUES ($1, $2::text, ch_erased_key($2::text), $3, $4) ON CONFLICT DO NOTHING "
    "RETURNING event_id"
)
_FIND_KEY = (
    "SELECT event_id, request_hash FROM event_keys "
    "WHERE scope = $1 AND digest = ch_erased_key($2::text)"
)
_COLUMNS = (
    "id, customer_id, type, occurred_at, channel, direction, source, source_event_id, actor, "
    "summary, payload, corrects_id, delivery_id"
)
# One round trip: the row goes in, its NOTIFY goes out with the commit, and the outbox
# gets it when a subscription wants its type.
_INSERT = (
    f"WITH stored AS (INSERT INTO events ({_COLUMNS}) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::jsonb, $12, $13) "
    "RETURNING recorded_at, customer_id, id, type), "
    + announce_cte("announced", "stored", "type", "customer_id", "id")
    + f" SELECT recorded_at, pg_notify('{NOTIFY_CHANNEL}', customer_id::text || ':' || id::text) "
    "FROM stored"
)
# Many events in one round trip: each key is claimed (the first of a batch's rows that
# name it wins, keys taken before or kept erased are not), the rows whose key this
# statement claimed or that have none go in with the analyses of their texts ($17 on),
# each one's NOTIFY goes out with the commit, the outbox gets those a subscription wants,
# and the stats rows of their customers are locked and read for the fold, the first with
# the ids of every event stored (gathered per row, the ids were scanned once per row: a
# batch naming 7,800 customers spent seconds there, docs/performance.md). Keys are
# claimed, then stats rows locked, each in one order, so concurrent batches wait, never
# deadlock.
_STORE = (
    "WITH given AS (SELECT * FROM unnest("
    "$1::uuid[], $2::uuid[], $3::text[], $4::timestamptz[], $5::text[], $6::text[], $7::text[], "
    "$8::text[], $9::text[], $10::text[], $11::jsonb[], $12::uuid[], $13::uuid[], "
    "$14::text[], $15::text[], $16::text[]) WITH ORDINALITY "
    f"AS g({_COLUMNS}, scope, key, request_hash, n)), "
    "claimed AS (INSERT INTO event_keys (scope, key, digest, event_id, request_hash) "
    "SELECT scope, key, ch_erased_key(key), id, request_hash FROM given WHERE key IS NOT NULL "
    "ORDER BY scope, key, n ON CONFLICT DO NOTHING RETURNING event_id), "
    f"stored AS (INSERT INTO events ({_COLUMNS}) SELECT {_COLUMNS} FROM given "
    "WHERE key IS NULL OR id IN (SELECT event_id FROM claimed) ORDER BY n "
    "RETURNING customer_id, id, type), "
    f"analysed AS ({text_queries.storing(17, 'SELECT id FROM stored')}), "
    + announce_cte("announced", "stored", "type", "customer_id", "id")
    # Each NOTIFY's void as text (Citus keeps a CTE's rows, and cannot keep a void), and
    # the ids in a one-row CTE beside the rows: Citus refuses a sub-query in the select
    # list after a window function.
    + f", notified AS (SELECT customer_id, id, pg_notify('{NOTIFY_CHANNEL}', "
    "customer_id::text || ':' || id::text)::text FROM stored), "
    "kept AS (SELECT array_agg(id) AS ids FROM notified), "
    + stats_queries.locking(
        "SELECT DISTINCT customer_id FROM stored",
        "CASE WHEN row_number() OVER (ORDER BY s.customer_id) = 1 THEN k.ids END AS stored",
        "kept k",
    )
)
# The keys found first, in a CTE: Citus joins their rows to the events' shards, where it
# refused a join of the two tables on columns they are not spread by.
_FIND_KEYS = (
    "WITH found AS (SELECT w.scope, w.key, k.event_id, k.request_hash FROM event_keys k "
    "JOIN unnest($1::text[], $2::text[]) AS w(scope, key) "
    "ON k.scope = w.scope AND k.digest = ch_erased_key(w.key)) "
    "SELECT f.scope, f.key, f.event_id, f.request_hash, e.customer_id FROM found f "
    "LEFT JOIN events e ON e.id = f.event_id"
)


@dataclass(slots=True)
class EventRow:
    """An event ready to store (already validated and normalised)."""

    id: UUID
    customer_id: UUID
    type: str
    occurred_at: datetime
    channel: str
    direction: str | None
    source: str
    source_event_id: str | None
    actor: str | None
    summary: str
    payload: dict[str, Any]
    corrects_id: UUID | None
    delivery_id: UUID | None = None

    def fact(self, text: Mapping[str, Any] | None = None) -> Fact:
        """What the indicators fold needs of this event (``text``: what the analysis of
        its customer text found)."""
        corrects = str(self.corrects_id) if self.corrects_id else None
        return Fact(
            str(self.id), self.type, self.occurred_at, self.channel, self.payload, corrects, text
        )

    def values(self) -> tuple[Any, ...]:
        return (
            self.id,
            self.customer_id,
            self.type,
            self.occurred_at,
            self.channel,
            self.direction,
            self.source,
            self.source_event_id,
            self.actor,
            self.summary,
            json.dumps(self.payload, separators=(",", ":")),
            self.corrects_id,
            self.delivery_id,
        )


@dataclass(frozen=True, slots=True)
class TimelineQuery:
    customer_ids: Sequence[UUID]
    types: Sequence[str] = ()
    type_prefixes: Sequence[str] = ()
    channels: Sequence[str] = ()
    since: datetime | None = None
    until: datetime | None = None
    # The reader's ``visibility_args``: an owned-only reader does not see the follow-ups
    # of the alerts it does not see (``visibility.py``).
    reader: tuple[bool, str | None] = (False, None)


_PAGE_COLUMNS = (
    "id, customer_id, type, occurred_at, recorded_at, channel, direction, source, "
    "source_event_id, actor, summary, payload"
)


def _instant(column: str) -> str:
    """A timestamptz column as the API writes an instant (pydantic's form of an aware
    datetime in UTC): seconds, microseconds only when there are some, and ``Z``."""
    utc = f"({column} AT TIME ZONE 'UTC')"
    return (
        f"CASE WHEN date_trunc('second', {column}) = {column} "
        f"""THEN to_char({utc}, 'YYYY-MM-DD"T"HH24:MI:SS"Z"') """
        f"""ELSE to_char({utc}, 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') END"""
    )


def _json_row(members: Sequence[tuple[str, str]], alias: str) -> str:
    """A ``LATERAL`` sub-query ``alias`` whose one row, written by ``row_to_json``, is a
    JSON object as pydantic writes a model: each of ``members`` (its key, and the SQL of
    its value) in their order, no spaces, NULL as null. A jsonb value is written as jsonb
    writes itself (a space after each ``:`` and ``,``), a json value as it is."""
    for key, _ in members:  # an alias is cut at 63 bytes, and a quote would end it
        if len(key.encode()) > 63 or '"' in key:
            raise ValueError(f"not a key row_to_json writes as given: {key!r}")
    columns = ", ".join(f'{value} AS "{key}"' for key, value in members)
    return f"LATERAL (SELECT {columns}) AS {alias}"


# The event.corrected events that amend each row of a page (the CTE ``page``), oldest
# first, as the API writes a list of Correction (JSON text), by the id they correct; $1
# is the page's customers. Read by the page's ids (one probe each of the corrections'
# index), not by a correlated sub-query: Citus plans that only while the family's
# customers share one shard, this on one shard (a router query) and across shards alike.
# The rows are read in a CTE of their own and written as JSON from it: across shards
# Citus runs the read on the shards and refuses there a sub-query without FROM that
# calls anything but immutable functions (the instants' to_char).
_CORRECTION_ROW = _json_row(
    [
        ("id", "c.id"),
        ("recorded_at", _instant("c.recorded_at")),
        ("reason", "coalesce(c.payload->>'reason', '')"),
        ("summary", "c.payload->'summary'"),
        ("payload", "c.payload->'payload'"),
    ],
    "fix",
)
_CORRECTIONS = (
    "fixed AS MATERIALIZED (SELECT c.corrects_id, c.id, c.recorded_at, c.payload "
    "FROM events c WHERE c.corrects_id = ANY(ARRAY(SELECT id FROM page)) "
    "AND c.customer_id = ANY($1::uuid[])), "
    "fixes AS (SELECT c.corrects_id, "
    "'[' || string_agg(row_to_json(fix)::text, ',' ORDER BY c.recorded_at, c.id) || ']' "
    f"AS corrections FROM fixed c CROSS JOIN {_CORRECTION_ROW} GROUP BY c.corrects_id)"
)
# A page's event as the API writes an EventOut (JSON text), its fields in the model's
# order: the page answers the statement's JSON as it is, with nothing decoded, validated
# and encoded again in Python (docs/performance.md, "A timeline page as its statement
# writes it").
_EVENT_ROW = _json_row(
    [
        ("id", "p.id"),
        ("customer_id", "p.customer_id"),
        ("type", "p.type"),
        ("occurred_at", _instant("p.occurred_at")),
        ("recorded_at", _instant("p.recorded_at")),
        ("channel", "p.channel"),
        ("direction", "p.direction"),
        ("source", "p.source"),
        ("source_event_id", "p.source_event_id"),
        ("actor", "p.actor"),
        ("summary", "p.summary"),
        ("payload", "p.payload"),
        ("corrections", "coalesce(f.corrections, '[]')::json"),
    ],
    "event",
)


async def claim_key(on: Executor, scope: str, key: str, event_id: UUID, request_hash: str) -> bool:
    """Take an idempotency key; False when it was already taken (waits for its writer)."""
    conn = await driver_connection(on)
    return await conn.fetchval(_CLAIM_KEY, scope, key, event_id, request_hash) is not None


async def find_key(on: Executor, scope: str, key: str) -> tuple[UUID, str] | None:
    conn = await driver_connection(on)
    row = await conn.fetchrow(_FIND_KEY, scope, key)
    return None if row is None else (row["event_id"], row["request_hash"])


async def insert(on: Executor, row: EventRow) -> datetime:
    conn = await driver_connection(on)
    recorded_at: datetime = await conn.fetchval(_INSERT, *row.values())
    return recorded_at


async def store(
    on: Executor,
    rows: Sequence[tuple[EventRow, tuple[str, str] | None, str]],
    analyses: Sequence[dict[str, Any]],
) -> tuple[set[UUID], stats_queries.Locked]:
    """Store many events, each with its idempotency key (scope, key) and request hash, or
    none, and the ``analyses`` of their texts: those whose key another event holds are left
    out. Returns the ids stored, and their customers' stats rows locked with the stored
    policies and the incidents (as ``indicators.queries.lock`` returns them)."""
    if not rows:
        return set(), stats_queries.locked_rows([])
    conn = await driver_connection(on)
    columns = [list(c) for c in zip(*(r.values() for r, _, _ in rows), strict=True)]
    scopes = [key[0] if key else None for _, key, _ in rows]
    keys = [key[1] if key else None for _, key, _ in rows]
    hashes = [fingerprint for _, _, fingerprint in rows]
    found = await conn.fetch(_STORE, *columns, scopes, keys, hashes, *text_queries.arrays(analyses))
    stored = set(found[0]["stored"]) if found else set()
    return stored, stats_queries.locked_rows(found)


async def find_keys(
    on: Executor, keys: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], tuple[UUID, str, UUID | None]]:
    if not keys:
        return {}
    conn = await driver_connection(on)
    rows = await conn.fetch(_FIND_KEYS, [k[0] for k in keys], [k[1] for k in keys])
    return {
        (r["scope"], r["key"]): (r["event_id"], r["request_hash"], r["customer_id"]) for r in rows
    }


async def page_rows(
    on: Executor,
    query: TimelineQuery,
    *,
    limit: int,
    after: tuple[datetime, UUID] | None,
    access: tuple[Any, ...],
) -> list[Any]:
    """Newest first by occurred_at (id breaks ties), strictly after the cursor position:
    each row's ``occurred_at`` and ``id`` (its position) and ``event``, the event with the
    corrections that amend it as the API writes it (JSON text); with the access-log row of
    the read, ``access`` (the customer read, then the key, agent, role and what, as
    ``access_entry`` gives them), written in the same statement. One prepared statement
    per filter combination, so every combination keeps a plan that walks the timeline
    index."""
    conditions = ["customer_id = ANY($1::uuid[])", "type <> 'event.corrected'"]
    arguments: list[Any] = [list(query.customer_ids), new_id(), *access]
    logged = access_insert_sql(*(f"${n}" for n in range(2, len(arguments) + 1)))

    def bind(value: Any, cast: str) -> str:
        arguments.append(value)
        return f"${len(arguments)}::{cast}"

    type_matches = []
    if query.types:
        type_matches.append(f"type = ANY({bind(list(query.types), 'text[]')})")
    if query.type_prefixes:
        prefixes = [p.replace("%", r"\%").replace("_", r"\_") + "%" for p in query.type_prefixes]
        type_matches.append(f"type LIKE ANY({bind(prefixes, 'text[]')})")
    if type_matches:
        conditions.append(f"({' OR '.join(type_matches)})")
    if query.channels:
        conditions.append(f"channel = ANY({bind(list(query.channels), 'text[]')})")
    if query.since is not None:
        conditions.append(f"occurred_at >= {bind(query.since, 'timestamptz')}")
    if query.until is not None:
        conditions.append(f"occurred_at < {bind(query.until, 'timestamptz')}")
    if query.reader[0]:
        owned_only, agent_id = bind(query.reader[0], "boolean"), bind(query.reader[1], "text")
        hiding = hiding_contacts_sql("h.id = ANY($1::uuid[])", owned_only, agent_id)
        conditions.append(f"NOT ({follows_alert_sql('events')} AND customer_id IN ({hiding}))")
    if after is not None:
        moment, position = bind(after[0], "timestamptz"), bind(after[1], "uuid")
        conditions.append(f"(occurred_at, id) < ({moment}, {position})")
    statement = page_sql(" AND ".join(conditions), bind(limit, "integer"), logged)
    conn = await driver_connection(on)
    return list(await conn.fetch(statement, *arguments))


def page_sql(conditions: str, limit: str, logged: str) -> str:
    """A timeline page's statement: the events of the customers ``$1`` (a uuid array) for
    which the SQL ``conditions`` hold, newest first, at most ``limit`` (a parameter), each
    with its corrections (``page_rows``), and the insert ``logged`` (the access-log row of
    the read, ``access_insert_sql``'s): written whatever the page holds, and if it cannot
    be written nothing is read, as a ficha's (``fichas.queries``)."""
    return (
        f"WITH logged AS ({logged}), "
        f"page AS (SELECT {_PAGE_COLUMNS} FROM events WHERE {conditions} "
        f"ORDER BY occurred_at DESC, id DESC LIMIT {limit}), {_CORRECTIONS} "
        "SELECT p.occurred_at, p.id, row_to_json(event)::text AS event FROM page p "
        f"LEFT JOIN fixes f ON f.corrects_id = p.id CROSS JOIN {_EVENT_ROW} "
        "ORDER BY p.occurred_at DESC, p.id DESC"
    )


# The payload fields a ficha shows of an event (app/fichas/events.py) or makes its
# default summary of (service.summary_detail): a ficha reads these, not whole payloads,
# which may hold transcripts of 10,000 characters.
SHOWN_FIELDS = (
    "text", "title", "next_step", "amount", "currency", "valid_until", "stage", "subject",
    "status", "resolution", "url", "duration_s", "order_id", "total", "ticket_id", "csat",
    "nps",
)  # fmt: skip
_SHOWN = ", ".join(f"'{name}'" for name in SHOWN_FIELDS)


# A ficha's event sections in one round trip: for each want (numbered from 1 in the order
# given: its type patterns for LIKE, none for any type; pinned notes only or not; how
# many), the newest events of a customer's history (everyone merged into it and, for an
# organisation, its contact persons the reader sees, as its timeline shows them, without
# the follow-ups of alerts the reader does not see). The
# wants come as one JSON document: PostgreSQL then plans this statement once per
# connection, where with array parameters it planned it again on every call, for longer
# than the query ran (docs/performance.md). Each want is a top-N query of its own, the
# branches of one UNION ALL (a statement per number of wants), not a lateral query over
# the wants' rows: Citus refuses a LIMIT in a lateral query that reads a table function,
# and runs each branch as a top-N on the shards of the history (docs/scaling.md). The
# customers whose alerts' follow-ups are hidden from the reader are read once, beside the
# history, where a sub-query correlated with each event probed them per event.
def recent_sql(
    customer: str, wants: str, owned_only: str, agent_id: str, limits: Sequence[str]
) -> str:
    """The statement reading a ficha's event sections (columns n, id, type, occurred_at,
    channel, direction, summary, actor, payload (its SHOWN_FIELDS) and correction (the
    latest correction's summary and payload fields, or null), in the order shown),
    on the parameters named: a uuid, the wants' JSON document, the reader's
    ``visibility_args`` and how many events each want takes (integers, one per want: a
    constant LIMIT, which Citus passes on to the shards)."""
    if not limits:  # the same columns, no rows; the parameter typed all the same
        return _NO_RECENT + f" AND {wants}::jsonb IS NULL"
    hiding = hiding_contacts_sql("h.id IN (SELECT id FROM family)", owned_only, agent_id)
    branches = " UNION ALL ".join(
        _recent_branch(n, f"({wants}::jsonb -> {n - 1})", limit)
        for n, limit in enumerate(limits, start=1)
    )
    return (
        "WITH "
        + history_cte(f"{customer}::uuid", visible_sql("c", owned_only, agent_id))
        + f", hiding(id) AS ({hiding}), recent AS MATERIALIZED ({branches}), "
        + _LATEST_CORRECTIONS
        + "\nSELECT r.*, f.correction FROM recent r LEFT JOIN fixes f ON f.corrects_id = r.id "
        "ORDER BY r.n, r.occurred_at DESC, r.id DESC"
    )


# The latest correction of each event of ``recent`` (by its occurrence, as the indicators
# take it: app/indicators/state.py), as a ficha shows it: the summary it gives and the
# fields it corrects among those a ficha shows. Read by the events' ids, as the timeline
# page reads its corrections (``_CORRECTIONS``), so that Citus plans it on the history's
# shards.
_LATEST_CORRECTIONS = (
    "fixes AS (SELECT corrects_id, jsonb_build_object('summary', fix->>'summary', 'payload', "
    "(SELECT jsonb_object_agg(p.key, p.value) FROM jsonb_each(CASE WHEN "
    "jsonb_typeof(fix->'payload') = 'object' THEN fix->'payload' END) AS p "
    f"WHERE p.key IN ({_SHOWN}))) AS correction "
    "FROM (SELECT c.corrects_id, (jsonb_agg(c.payload ORDER BY c.occurred_at DESC, c.id DESC))->0 "
    "AS fix FROM events c WHERE c.corrects_id = ANY(ARRAY(SELECT id FROM recent)) "
    "AND c.customer_id IN (SELECT id FROM family) AND c.type = 'event.corrected' "
    "GROUP BY c.corrects_id) AS latest)"
)


def _recent_branch(n: int, want: str, limit: str) -> str:
    """The newest events of the history for the want numbered ``n`` (its JSON ``want``)."""
    return f"""(SELECT {n} AS n, id, type, occurred_at, channel, direction, summary, actor,
       (SELECT jsonb_object_agg(f.key, f.value) FROM jsonb_each(payload) AS f
        WHERE f.key IN ({_SHOWN})) AS payload
    FROM events
    WHERE customer_id IN (SELECT id FROM family) AND type <> 'event.corrected'
      AND ({want}->'patterns' = '[]' OR EXISTS (
          SELECT FROM jsonb_array_elements_text({want}->'patterns') AS p(pattern)
          WHERE type LIKE p.pattern))
      AND (NOT ({want}->'pinned')::boolean OR payload @> '{{"pinned": true}}')
      AND NOT ({follows_alert_sql("events")} AND customer_id IN (SELECT id FROM hiding))
    ORDER BY occurred_at DESC, id DESC LIMIT {limit}::integer)"""


# A ficha without event sections.
_NO_RECENT = (
    "SELECT NULL::integer AS n, NULL::uuid AS id, NULL::text AS type, "
    "NULL::timestamptz AS occurred_at, NULL::text AS channel, NULL::text AS direction, "
    "NULL::text AS summary, NULL::text AS actor, NULL::jsonb AS payload, "
    "NULL::jsonb AS correction WHERE false"
)


# What recent_sql reads, as its parameters take it: the wants' JSON document and how many
# events each want takes.
Wants = tuple[str, list[int]]


def recent_wants(wanted: Sequence[tuple[Sequence[str], bool, int]]) -> Wants:
    """The wants of :func:`recent_sql` as its JSON document (LIKE patterns and pinned only,
    each) and how many events each takes."""
    return (
        json.dumps([{"patterns": list(p), "pinned": pinned} for p, pinned, _ in wanted]),
        [n for _, _, n in wanted],
    )


# The events that carry customer text, in key order from a key on, each with whether its
# analysis is of the current version; erased analyses are left out (their words are gone).
_TEXT_EVENTS = (
    "SELECT e.customer_id, e.occurred_at, e.id, e.type, e.payload, "
    "a.analyser_version IS NOT DISTINCT FROM $1 AS current "
    "FROM events e LEFT JOIN text_analyses a ON a.customer_id = e.customer_id "
    "AND a.occurred_at = e.occurred_at AND a.event_id = e.id "
    "WHERE e.type = ANY($2::text[]) AND e.occurred_at >= $3 "
    "AND (e.customer_id, e.occurred_at, e.id) > ($4::uuid, $5::timestamptz, $6::uuid) "
    "AND (a.event_id IS NULL OR a.terms IS NOT NULL) "
    "ORDER BY e.customer_id, e.occurred_at, e.id LIMIT $7"
)


async def text_events_after(
    on: Executor,
    version: str,
    types: Sequence[str],
    since: datetime,
    after: tuple[UUID, datetime, UUID],
    limit: int,
) -> list[Any]:
    """The next ``limit`` events of ``types`` occurred since ``since`` after the key
    ``after``, each with ``current``: whether its analysis is of ``version``."""
    conn = await driver_connection(on)
    return list(await conn.fetch(_TEXT_EVENTS, version, list(types), since, *after, limit))
