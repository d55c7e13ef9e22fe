"""Every operation of openapi/openapi.json, called by owned-only keys of another owner.

Agent B owns a rich world (tests/support/world.py): a person with a phone, an email and an
external id, events, an open alert, a duplicate merged into it, an organisation with a
contact. Agent A's owned-only keys, one per role, call every operation on B's ids, phones,
emails, events and alerts, and must get a 404 or an answer without them: nothing of B's (no
id, name, phone, email, address, order) may appear in a body or a header, unless the
request itself carried it. Each call is made again on A's own data, to show the key works
and the 404s are not an accident. The whole sweep runs again with a session token minted
by each key (on the live stream sent as `?access_token=`): a token sees what its key sees.

The operations come from the spec: one this sweep does not know how to call fails it, so a
new route cannot slip past; the few left out are listed below with the reason.
"""

import asyncio
import json
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import pytest
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from app.auth.dependencies import RoleCheck
from app.core.db import Database
from app.core.security import JOB_ROLES, Role
from app.main import DOCUMENTED_ORDER
from tests.support.clock import ControlledClock
from tests.support.world import Side, World, build_world, committed_key, leaks

SPEC = json.loads((Path(__file__).parent.parent / "openapi" / "openapi.json").read_text())
OPERATIONS = {
    operation["operationId"]: (method.upper(), template)
    for template, operations in SPEC["paths"].items()
    for method, operation in operations.items()
}

# Operations the sweep does not call, and why. Anything else in the spec must have a recipe.
OUT_OF_SCOPE = {
    # Probes and the scraper's endpoint take no key and answer no customer data.
    "healthz": "liveness probe",
    "readyz": "readiness probe: the migration it is at",
    "metrics": "counters by route template, status, source and outcome: no id ever",
    # Platforms authenticate with their own signatures, not with API keys: there is no key,
    # so no owner to restrict; a bad signature stores nothing (tests/ingest).
    "receive_webhook": "signed by the platform, not called with a key",
    "receive_webhook_with_token": "signed by the platform, not called with a key",
    # A stream answered 200 stays open: tests/alerts/test_stream.py holds an owned-only
    # key's alert stream to its own customers' alerts, never another owner's.
    "stream_alerts": "an open stream; owned-only keys in tests/alerts/test_stream.py",
    # A message's callback link carries its own secret, not a key (tests/messages).
    "show_callback_slots": "opened by the customer with the link's secret, not a key",
    "request_callback": "posted by the customer with the link's secret, not a key",
}

# An admin key cannot be owned-only (a check constraint): every other role is tried.
OWNED_ONLY_ROLES = [role for role in Role if role is not Role.ADMIN]
NOTE = {"type": "note.added", "occurred_at": "2026-01-05T10:00:00Z", "payload": {"text": "x"}}


@dataclass
class Call:
    """One request of a recipe, and the statuses it may answer an admitted owned-only key:
    ``theirs`` when the recipe was given B's side, ``mine`` when given A's own (None: not
    made on A's side, e.g. a stream would stay open)."""

    method: str
    path: str
    theirs: set[int]
    mine: set[int] | None
    params: dict[str, str] | None = None
    json: Any = None
    content: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    check: Callable[[httpx.Response], None] | None = None  # more, on B's side

    def sent(self) -> str:
        """Everything the request carried: what the answer may echo back."""
        return " ".join(
            [
                self.path,
                json.dumps(self.params or {}),
                json.dumps(self.json),
                (self.content or b"").decode(),
            ]
        )


Recipe = Callable[[World, Side, Role], list[Call]]
RECIPES: dict[str, Recipe] = {}


def recipe(operation_id: str) -> Callable[[Recipe], Recipe]:
    def register(build: Recipe) -> Recipe:
        RECIPES[operation_id] = build
        return build

    return register


def ficha_role(role: Role) -> str:
    """The ficha a key may read: its own job's; integration keys read any (support)."""
    return role.value if role in JOB_ROLES else "support"


# --- auth ---------------------------------------------------------------------------


@recipe("get_caller")
def _(w: World, s: Side, role: Role) -> list[Call]:
    return [Call("GET", "/v1/me", {200}, {200})]


@recipe("create_session_token")
def _(w: World, s: Side, role: Role) -> list[Call]:
    # The token minted is swept below like the key: it must see no more than its key.
    return [Call("POST", "/v1/session-tokens", {201}, {201})]


# --- customers ----------------------------------------------------------------------


@recipe("create_customer")
def _(w: World, s: Side, role: Role) -> list[Call]:
    return [
        # an identifier B's customer holds: taken, without saying by whom
        Call(
            "POST",
            "/v1/customers",
            {409},
            {409},
            json={"display_name": "Probe", "identifiers": [{"kind": "phone", "value": s.phone}]},
        ),
        # for B: refused outright (the agent id is the caller's, not a customer's)
        Call(
            "POST", "/v1/customers", {403}, {201}, json={"display_name": "P", "owner_id": s.agent}
        ),
    ]


@recipe("search_customers")
def _(w: World, s: Side, role: Role) -> list[Call]:
    searches = [
        {"q": s.name},
        {"q": s.phone},
        {"q": s.email},
        {"phone": s.phone},
        {"email": s.email},
        {"external_id": s.external_id},
        {"owner_id": s.agent},
        {"status": "merged"},
        {"kind": "organization"},
    ]
    return [Call("GET", "/v1/customers", {200}, {200}, params=p) for p in searches]


@recipe("identify_customer")
def _(w: World, s: Side, role: Role) -> list[Call]:
    return [
        Call("GET", "/v1/identify", {404}, {200}, params={name: value})
        for name, value in (("phone", s.phone), ("email", s.email), ("external_id", s.external_id))
    ]


@recipe("get_customer")
def _(w: World, s: Side, role: Role) -> list[Call]:
    return [
        Call("GET", f"/v1/customers/{s.person}", {404}, {200}),
        Call("GET", f"/v1/customers/{s.person}", {404}, {200}, params={"follow": "false"}),
        Call("GET", f"/v1/customers/{s.organization}", {404}, {200}),
        # B's duplicate merged into B's person; A's duplicate was merged into it too
        Call("GET", f"/v1/customers/{s.duplicate}", {404}, {404}),
        Call("GET", f"/v1/customers/{s.duplicate}", {404}, {404}, params={"follow": "false"}),
    ]


@recipe("patch_customer")
def _(w: World, s: Side, role: Role) -> list[Call]:
    headers = {"Content-Type": "application/merge-patch+json", "If-Match": '"1"'}
    body = b'{"tier": "premium"}'
    return [
        Call("PATCH", f"/v1/customers/{s.person}", {404}, {412}, content=body, headers=headers),
        Call("PATCH", f"/v1/customers/{s.duplicate}", {404}, {404}, content=body, headers=headers),
    ]


@recipe("add_identifier")
def _(w: World, s: Side, role: Role) -> list[Call]:
    fresh = {"kind": "external", "value": f"crm:contact:{uuid4().hex[:8]}"}
    return [
        Call("POST", f"/v1/customers/{s.person}/identifiers", {404}, {201}, json=fresh),
        # on A's own customer, a value B's customer holds: taken, without saying by whom
        Call(
            "POST",
            f"/v1/customers/{w.mine.person}/identifiers",
            {409},
            {200},
            json={"kind": "email", "value": s.email},
        ),
    ]


@recipe("remove_identifier")
def _(w: World, s: Side, role: Role) -> list[Call]:
    # A's side: not removed, the sweep still names A's customer by it
    return [Call("DELETE", f"/v1/customers/{s.person}/identifiers/{s.identifier}", {404}, None)]


@recipe("list_contacts")
def _(w: World, s: Side, role: Role) -> list[Call]:
    return [Call("GET", f"/v1/customers/{s.organization}/contacts", {404}, {200})]


@recipe("consent_history")
def _(w: World, s: Side, role: Role) -> list[Call]:
    return [Call("GET", f"/v1/customers/{s.person}/consents/history", {404}, {200})]


# --- text ---------------------------------------------------------------------------


@recipe("analyze_text")
def _(w: World, s: Side, role: Role) -> list[Call]:
    # Reads no customer: whatever the answer holds must come from the text sent.
    text = f"URGENTE: {s.name} ({s.email}) llama otra vez, quiere la baja hoy mismo"
    return [Call("POST", "/v1/text/analyze", {200}, {200}, json={"text": text})]


@recipe("get_text_rules")
def _(w: World, s: Side, role: Role) -> list[Call]:
    return [Call("GET", "/v1/text-rules", set(), set())]


@recipe("put_text_rules")
def _(w: World, s: Side, role: Role) -> list[Call]:
    return [Call("PUT", "/v1/text-rules", set(), set(), json={})]


# --- timeline -----------------------------------------------------------------------


@recipe("list_event_types")
def _(w: World, s: Side, role: Role) -> list[Call]:
    return [Call("GET", "/v1/event-types", {200}, {200})]


@recipe("append_event")
def _(w: World, s: Side, role: Role) -> list[Call]:
    correction = {
        "type": "event.corrected",
        "occurred_at": "2026-01-05T10:00:00Z",
        "payload": {"corrects_event_id": s.ids[-1] if s.ids else "", "reason": "x"},
    }
    calls = [
        Call("POST", f"/v1/customers/{s.person}/events", {404}, {201}, json=NOTE),
        Call("POST", f"/v1/customers/{s.duplicate}/events", {404}, {404}, json=NOTE),
    ]
    if s is w.theirs:  # A correcting B's event on A's own timeline: no such event there
        calls.append(
            Call("POST", f"/v1/customers/{w.mine.person}/events", {422}, None, json=correction)
        )
    return calls


@recipe("add_note")
def _(w: World, s: Side, role: Role) -> list[Call]:
    body = {"text": "x", "pinned": True}
    return [
        Call("POST", f"/v1/customers/{s.person}/notes", {404}, {201}, json=body),
        Call("POST", f"/v1/customers/{s.duplicate}/notes", {404}, {404}, json=body),
    ]


@recipe("wrap_up_call")
def _(w: World, s: Side, role: Role) -> list[Call]:
    body = {"disposition": "resolved", "wrap_up_codes": ["billing"]}
    return [Call("POST", f"/v1/customers/{s.person}/wrap-ups", {404}, {201}, json=body)]


@recipe("append_identified_event")
def _(w: World, s: Side, role: Role) -> list[Call]:
    by_event = {"event": {"source": "shop", "source_event_id": s.order_key}}
    return [
        Call("POST", "/v1/events", {404}, {201}, json={**NOTE, "customer": {"id": s.person}}),
        # B's order answers as an order never recorded, B's phone as a phone nobody has
        # (tests/timeline/test_event_keys.py compares those answers word for word).
        Call("POST", "/v1/events", {422}, {201}, json={**NOTE, "customer": by_event}),
        Call("POST", "/v1/events", {404}, {201}, json={**NOTE, "customer": {"phone": s.phone}}),
    ]


@recipe("import_events")
def _(w: World, s: Side, role: Role) -> list[Call]:
    lines = [
        {**NOTE, "customer": {"id": s.person}},
        {**NOTE, "customer": {"email": s.email}},
        {**NOTE, "customer": {"event": {"source": "shop", "source_event_id": s.order_key}}},
    ]
    body = "".join(json.dumps(line) + "\n" for line in lines).encode()
    ndjson = {"Content-Type": "application/x-ndjson"}
    return [Call("POST", "/v1/events/bulk", {200}, {200}, content=body, headers=ndjson)]


@recipe("get_timeline")
def _(w: World, s: Side, role: Role) -> list[Call]:
    return [
        Call("GET", f"/v1/customers/{s.person}/timeline", {404}, {200}),
        Call("GET", f"/v1/customers/{s.duplicate}/timeline", {404}, {404}),
    ]


@recipe("stream_timeline")
def _(w: World, s: Side, role: Role) -> list[Call]:
    # A's own stream would stay open: tests/timeline/test_stream.py reads those.
    return [
        Call("GET", f"/v1/customers/{s.person}/timeline/stream", {404}, None),
        Call("GET", f"/v1/customers/{s.duplicate}/timeline/stream", {404}, None),
    ]


@recipe("merge_customers")
def _(w: World, s: Side, role: Role) -> list[Call]:
    return [
        Call(
            "POST",
            f"/v1/customers/{s.person}/merge",
            {404},
            {200},
            json={"source_customer_id": s.contact, "dry_run": True},
        ),
        # into A's own customer, B's as the duplicate: no such customer (the id was sent)
        Call(
            "POST",
            f"/v1/customers/{w.mine.person}/merge",
            {422},
            {200},
            json={"source_customer_id": s.contact, "dry_run": True},
        ),
    ]


@recipe("unmerge_customers")
def _(w: World, s: Side, role: Role) -> list[Call]:
    return [
        Call(
            "POST",
            f"/v1/customers/{s.person}/unmerge",
            {404},
            {404},  # nothing is merged into A's person
            json={"source_customer_id": s.duplicate},
        )
    ]


@recipe("set_preferences")
def _(w: World, s: Side, role: Role) -> list[Call]:
    body = {"do_not_call": False}
    return [Call("PUT", f"/v1/customers/{s.person}/preferences", {404}, {200}, json=body)]


@recipe("record_consent")
def _(w: World, s: Side, role: Role) -> list[Call]:
    body = {"channel": "sms", "purpose": "service", "granted": True, "source": "sweep"}
    return [Call("POST", f"/v1/customers/{s.person}/consents", {404}, {201}, json=body)]


# --- webhook deliveries (admin) -----------------------------------------------------


@recipe("list_webhook_deliveries")
def _(w: World, s: Side, role: Role) -> list[Call]:
    return [Call("GET", "/v1/webhook-deliveries", set(), set(), params={"include": "body"})]


@recipe("replay_webhook_delivery")
def _(w: World, s: Side, role: Role) -> list[Call]:
    return [Call("POST", f"/v1/webhook-deliveries/{uuid4()}/replay", set(), set())]


# --- indicators, alerts, incidents, routing, segments, reports ----------------------


@recipe("get_indicators")
def _(w: World, s: Side, role: Role) -> list[Call]:
    return [
        Call("GET", f"/v1/customers/{s.person}/indicators", {404}, {200}),
        Call("GET", f"/v1/customers/{s.duplicate}/indicators", {404}, {404}),
    ]


@recipe("get_sales_series")
def _(w: World, s: Side, role: Role) -> list[Call]:
    return [Call("GET", f"/v1/customers/{s.person}/sales-series", {404}, {200})]


@recipe("list_rules")
def _(w: World, s: Side, role: Role) -> list[Call]:
    return [Call("GET", "/v1/rules", {200}, {200})]


@recipe("get_rule")
def _(w: World, s: Side, role: Role) -> list[Call]:
    return [Call("GET", "/v1/rules/open_dispute", {200}, {200})]


@recipe("put_rule")
def _(w: World, s: Side, role: Role) -> list[Call]:
    return [Call("PUT", "/v1/rules/open_dispute", set(), set(), json={"enabled": True})]


@recipe("list_alerts")
def _(w: World, s: Side, role: Role) -> list[Call]:
    return [
        Call("GET", "/v1/alerts", {200}, {200}),
        Call("GET", "/v1/alerts", {200}, {200}, params={"customer_id": s.person}),
        Call("GET", "/v1/alerts", {200}, {200}, params={"owner_id": s.agent, "status": "open"}),
    ]


@recipe("acknowledge_alert")
def _(w: World, s: Side, role: Role) -> list[Call]:
    # A's keys carry A's agent: the owner of A's alert acknowledges it
    return [Call("POST", f"/v1/alerts/{s.alert}/ack", {404}, {200})]


@recipe("create_task")
def _(w: World, s: Side, role: Role) -> list[Call]:
    body = {"customer_id": s.person, "title": "Call back", "assignee": s.agent}
    return [
        Call("POST", "/v1/tasks", {404}, {201}, json=body),
        Call("POST", "/v1/tasks", {404}, {404}, json={**body, "customer_id": s.duplicate}),
    ]


@recipe("list_tasks")
def _(w: World, s: Side, role: Role) -> list[Call]:
    return [
        Call("GET", "/v1/tasks", {200}, {200}),
        Call("GET", "/v1/tasks", {200}, {200}, params={"assignee": s.agent}),
        Call("GET", "/v1/tasks", {200}, {200}, params={"customer_id": s.person}),
    ]


@recipe("get_task")
def _(w: World, s: Side, role: Role) -> list[Call]:
    return [Call("GET", f"/v1/tasks/{s.task}", {404}, {200})]


@recipe("change_task")
def _(w: World, s: Side, role: Role) -> list[Call]:
    # A's side: If-Match "*" so that every role's turn finds the task, whatever its version
    headers = {"If-Match": "*"}
    body = {"assignee": s.agent}
    return [Call("PATCH", f"/v1/tasks/{s.task}", {404}, {200}, json=body, headers=headers)]


@recipe("list_incidents")
def _(w: World, s: Side, role: Role) -> list[Call]:
    return [Call("GET", "/v1/incidents", {200}, {200})]


@recipe("declare_incident")
def _(w: World, s: Side, role: Role) -> list[Call]:
    matcher = {"shipped_from": "2026-01-01T00:00:00Z", "shipped_to": "2026-01-02T00:00:00Z"}
    body = {"title": "sweep", "matcher": matcher}
    return [Call("POST", "/v1/incidents", set(), set(), json=body)]


@recipe("close_incident")
def _(w: World, s: Side, role: Role) -> list[Call]:
    return [Call("POST", f"/v1/incidents/{uuid4()}/close", set(), set())]


# --- outbound: admin only (an admin key is never owned-only) ------------------------------


@recipe("create_webhook_subscription")
def _(w: World, s: Side, role: Role) -> list[Call]:
    body = {"url": "https://x.example.com/hooks", "kinds": ["call.*"]}
    return [Call("POST", "/v1/webhook-subscriptions", set(), set(), json=body)]


@recipe("list_webhook_subscriptions")
def _(w: World, s: Side, role: Role) -> list[Call]:
    return [Call("GET", "/v1/webhook-subscriptions", set(), set())]


def _subscription_calls(method: str, tail: str = "", body: Any = None) -> list[Call]:
    path = f"/v1/webhook-subscriptions/{uuid4()}{tail}"
    return [Call(method, path, set(), set(), json=body)]


@recipe("get_webhook_subscription")
def _(w: World, s: Side, role: Role) -> list[Call]:
    return _subscription_calls("GET")


@recipe("update_webhook_subscription")
def _(w: World, s: Side, role: Role) -> list[Call]:
    return _subscription_calls("PATCH", body={"enabled": True})


@recipe("delete_webhook_subscription")
def _(w: World, s: Side, role: Role) -> list[Call]:
    return _subscription_calls("DELETE")


@recipe("rotate_webhook_secret")
def _(w: World, s: Side, role: Role) -> list[Call]:
    return _subscription_calls("POST", "/secrets")


@recipe("test_webhook_subscription")
def _(w: World, s: Side, role: Role) -> list[Call]:
    return _subscription_calls("POST", "/test")


@recipe("list_outbound_deliveries")
def _(w: World, s: Side, role: Role) -> list[Call]:
    return _subscription_calls("GET", "/deliveries")


@recipe("get_outbound_delivery")
def _(w: World, s: Side, role: Role) -> list[Call]:
    return _subscription_calls("GET", f"/deliveries/{uuid4()}")


@recipe("replay_outbound_delivery")
def _(w: World, s: Side, role: Role) -> list[Call]:
    return _subscription_calls("POST", f"/deliveries/{uuid4()}/replay")


def unknown_caller(response: httpx.Response) -> None:
    body = response.json()
    assert body["known"] is False and body["reasons"] == ["unknown caller"], body


@recipe("route_by_phone")
def _(w: World, s: Side, role: Role) -> list[Call]:
    return [
        Call(
            "GET",
            f"/v1/routing/by-phone/{s.phone.replace('+', '%2B')}",
            {200},
            {200},
            check=unknown_caller,
        )
    ]


@recipe("get_routing_policy")
def _(w: World, s: Side, role: Role) -> list[Call]:
    return [Call("GET", "/v1/routing/policy", {200}, {200})]


@recipe("put_routing_policy")
def _(w: World, s: Side, role: Role) -> list[Call]:
    return [Call("PUT", "/v1/routing/policy", set(), set(), json={})]


def nothing_matched(response: httpx.Response) -> None:
    body = response.json()
    counted = body["matched"] + sum(body["excluded"].values())
    assert body["items"] == [] and counted == 0, body


@recipe("query_segment")
def _(w: World, s: Side, role: Role) -> list[Call]:
    as_csv = {"Accept": "text/csv"}
    calls = [
        Call("POST", "/v1/segments/query", {200}, {200}, json={"channel": channel})
        for channel in ("email", "phone", "post")
    ]
    calls += [
        Call("POST", "/v1/segments/query", {200}, {200}, json={"channel": "email"}, headers=as_csv),
        Call(
            "POST",
            "/v1/segments/query",
            {200},
            {200},
            json={"channel": "email", "owner_id": s.agent},
            check=nothing_matched,
        ),
    ]
    return calls


@recipe("get_summary_report")
def _(w: World, s: Side, role: Role) -> list[Call]:
    period = {"from": "2020-01-01T00:00:00Z", "to": "2030-01-01T00:00:00Z"}
    return [Call("GET", "/v1/reports/summary", set(), set(), params=period)]


@recipe("get_topics_report")
def _(w: World, s: Side, role: Role) -> list[Call]:
    period = {"from": "2020-01-01T00:00:00Z", "to": "2020-02-01T00:00:00Z"}
    return [Call("GET", "/v1/reports/topics", set(), set(), params=period)]


# --- fichas ---------------------------------------------------------------------------


@recipe("get_ficha")
def _(w: World, s: Side, role: Role) -> list[Call]:
    params = {"role": ficha_role(role)}
    return [
        Call("GET", f"/v1/customers/{s.person}/ficha", {404}, {200}, params=params),
        Call("GET", f"/v1/customers/{s.organization}/ficha", {404}, {200}, params=params),
        Call("GET", f"/v1/customers/{s.duplicate}/ficha", {404}, {404}, params=params),
    ]


@recipe("screen_pop")
def _(w: World, s: Side, role: Role) -> list[Call]:
    params = {"role": ficha_role(role)}
    return [
        Call(
            "GET", f"/v1/fichas/by-phone/{s.phone.replace('+', '%2B')}", {404}, {200}, params=params
        ),
        Call(
            "GET", f"/v1/fichas/by-phone/{s.phone.removeprefix('+')}", {404}, {200}, params=params
        ),
    ]


@recipe("list_ficha_templates")
def _(w: World, s: Side, role: Role) -> list[Call]:
    return [Call("GET", "/v1/ficha-templates", {200}, {200})]


@recipe("get_ficha_template")
def _(w: World, s: Side, role: Role) -> list[Call]:
    return [Call("GET", "/v1/ficha-templates/support", {200}, {200})]


@recipe("put_ficha_template")
def _(w: World, s: Side, role: Role) -> list[Call]:
    body = {"sections": [{"name": "identity"}]}
    return [Call("PUT", "/v1/ficha-templates/sweep", set(), set(), json=body)]


@recipe("delete_ficha_template")
def _(w: World, s: Side, role: Role) -> list[Call]:
    return [Call("DELETE", "/v1/ficha-templates/sweep", set(), set())]


@recipe("list_message_templates")
def _(w: World, s: Side, role: Role) -> list[Call]:
    return [Call("GET", "/v1/message-templates", {200}, {200})]


@recipe("get_message_template")
def _(w: World, s: Side, role: Role) -> list[Call]:
    return [Call("GET", "/v1/message-templates/carrier_delay", {200}, {200})]


@recipe("put_message_template")
def _(w: World, s: Side, role: Role) -> list[Call]:
    text = {"subject": "s", "body": "b"}
    body = {"purpose": "service", "texts": {lang: text for lang in ("es", "pt", "en", "fr")}}
    return [Call("PUT", "/v1/message-templates/sweep", set(), set(), json=body)]


@recipe("send_message")
def _(w: World, s: Side, role: Role) -> list[Call]:
    body = {"template": "carrier_delay", "fields": {"incident_title": "sweep"}}
    return [
        Call("POST", f"/v1/customers/{s.person}/messages", {404}, {201}, json=body),
        Call("POST", f"/v1/customers/{s.duplicate}/messages", {404}, {404}, json=body),
    ]


@recipe("list_messages")
def _(w: World, s: Side, role: Role) -> list[Call]:
    return [Call("GET", f"/v1/customers/{s.person}/messages", {404}, {200})]


@recipe("get_message")
def _(w: World, s: Side, role: Role) -> list[Call]:
    return [Call("GET", f"/v1/customers/{s.person}/messages/{uuid4()}", {404}, {404})]


@recipe("get_access_log")
def _(w: World, s: Side, role: Role) -> list[Call]:
    return [Call("GET", f"/v1/customers/{s.person}/access-log", set(), set())]


# --- privacy (admin) --------------------------------------------------------------------


@recipe("export_customer")
def _(w: World, s: Side, role: Role) -> list[Call]:
    return [Call("GET", f"/v1/customers/{s.person}/export", set(), set())]


@recipe("erase_customer")
def _(w: World, s: Side, role: Role) -> list[Call]:
    body = {"reason": "sweep", "requested_at": "2026-01-01T00:00:00Z"}
    return [Call("POST", f"/v1/customers/{s.person}/erasure", set(), set(), json=body)]


@recipe("get_retention_policy")
def _(w: World, s: Side, role: Role) -> list[Call]:
    return [Call("GET", "/v1/retention-policy", set(), set())]


@recipe("put_retention_policy")
def _(w: World, s: Side, role: Role) -> list[Call]:
    return [Call("PUT", "/v1/retention-policy", set(), set(), json={})]


# --- the sweep ------------------------------------------------------------------------


def admitted_roles() -> dict[str, frozenset[Role] | None]:
    """Who may call each operation, read from its routes' role checks (None: no key)."""

    def role_check(dependant: Dependant) -> RoleCheck | None:
        for sub in dependant.dependencies:
            if isinstance(sub.call, RoleCheck):
                return sub.call
            if found := role_check(sub):
                return found
        return None

    admitted: dict[str, frozenset[Role] | None] = {}
    for route in (route for router in DOCUMENTED_ORDER for route in router.routes):
        if isinstance(route, APIRoute):
            check = role_check(route.dependant)
            admitted[route.name] = None if check is None else check.admitted
    return admitted


def template_matches(template: str, path: str) -> bool:
    pattern = "".join(
        "[^/]+" if part.startswith("{") else re.escape(part)
        for part in re.split(r"(\{[^}]+\})", template)
    )
    return re.fullmatch(pattern, path) is not None


def test_the_sweep_knows_every_operation_of_the_spec() -> None:
    """A new operation fails here until it has a recipe (or a reason to be left out)."""
    unknown = set(OPERATIONS) - set(RECIPES) - set(OUT_OF_SCOPE)
    assert not unknown, f"operations the owned-only sweep does not know how to call: {unknown}"
    assert not set(RECIPES) & set(OUT_OF_SCOPE)
    assert set(RECIPES) | set(OUT_OF_SCOPE) <= set(OPERATIONS), "recipes of removed operations"
    admitted = admitted_roles()
    for operation_id in RECIPES:
        assert admitted.get(operation_id), f"{operation_id} takes no API key: out of scope?"


@pytest.fixture
async def world(
    live: tuple[httpx.AsyncClient, dict[str, str]], clock: ControlledClock
) -> AsyncIterator[World]:
    """Committed (the live app): the CSV and the streams read in sessions of their own."""
    client, admin = live
    yield await build_world(client, admin, clock)


async def call(client: httpx.AsyncClient, request: Call, headers: dict[str, str]) -> httpx.Response:
    # A stream answered 200 would never end: a bounded wait turns that into a failure.
    return await asyncio.wait_for(
        client.request(
            request.method,
            request.path,
            params=request.params,
            json=request.json,
            content=request.content,
            headers={**headers, **request.headers},
        ),
        timeout=10,
    )


async def session_token(client: httpx.AsyncClient, key: dict[str, str]) -> dict[str, str]:
    """A session token minted by ``key``, as an Authorization header."""
    minted = await client.post("/v1/session-tokens", headers=key)
    assert minted.status_code == 201, minted.text
    return {"Authorization": f"Bearer {minted.json()['token']}"}


def as_query_token(request: Call, headers: dict[str, str]) -> tuple[Call, dict[str, str]]:
    """The request with its session token in ``?access_token=``, as EventSource sends it."""
    token = headers["Authorization"].removeprefix("Bearer ")
    moved = Call(**{**vars(request), "params": {**(request.params or {}), "access_token": token}})
    return moved, {}


@pytest.mark.parametrize("credential", ["key", "session token"])
async def test_owned_only_keys_see_nothing_of_another_owner(
    live: tuple[httpx.AsyncClient, dict[str, str]],
    database: Database,
    world: World,
    credential: str,
) -> None:
    """Every call is made with each owned-only key, then again with a session token each
    key minted (on the live stream, in the query string as a browser's EventSource sends
    it): a token sees exactly what its key sees, and cannot mint another."""
    client, _ = live
    admitted = admitted_roles()
    keys = {
        role: await committed_key(database, role, agent_id=world.mine.agent, owned_only=True)
        for role in OWNED_ONLY_ROLES
    }
    if credential == "session token":
        keys = {role: await session_token(client, key) for role, key in keys.items()}
    failures: list[str] = []
    calls = 0
    for operation_id, build in RECIPES.items():
        method, template = OPERATIONS[operation_id]
        roles = admitted[operation_id] or frozenset()
        for role, headers in keys.items():
            for side in (world.theirs, world.mine):
                for request in build(world, side, role):
                    where = f"{operation_id} as {role.value} on {side.agent}: {request.path}"
                    assert request.method == method, where
                    assert template_matches(template, request.path), (where, template)
                    expected = request.theirs if side is world.theirs else request.mine
                    if expected is None:
                        continue
                    if role not in roles or (
                        credential == "session token" and operation_id == "create_session_token"
                    ):
                        expected = {403}
                    sending = headers
                    if credential == "session token" and operation_id == "stream_timeline":
                        request, sending = as_query_token(request, headers)
                    response = await call(client, request, sending)
                    calls += 1
                    if response.status_code not in expected:
                        failures.append(
                            f"{where}: {response.status_code} not in {sorted(expected)}: "
                            f"{response.text[:300]}"
                        )
                        continue
                    # B's data shows nowhere: not on B's ids, nor through A's own customers
                    # (A's person is in B's organisation, B's person among A's contacts)
                    shown = response.text + " " + json.dumps(dict(response.headers))
                    if found := leaks(world, shown, sent=request.sent()):
                        failures.append(f"{where}: shows {found}: {response.text[:300]}")
                    if side is world.theirs and request.check and role in roles:
                        try:
                            request.check(response)
                        except AssertionError as exc:
                            failures.append(f"{where}: {exc}")
    assert not failures, f"{len(failures)} of {calls} calls:\n" + "\n".join(failures)
