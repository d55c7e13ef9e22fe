"""An organisation's stored indicators, flags and alerts count every contact person's
history: an owned-only key that sees the organisation but not one of its contact persons
reads, on every route that shows them, what the history it sees gives, as it would of an
organisation without that contact person (the twin below); nothing of the hidden one,
not even a count."""

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import Settings
from app.core.security import Role
from app.messages import journeys, sending
from app.tasks.service import follow_up_alerts
from tests.support import providers
from tests.support.api import append, new_customer
from tests.support.clock import ControlledClock
from tests.support.fichas import PERSON_MARKERS, ago, hand_over, rich_customer
from tests.support.fixtures import MakeKey


@dataclass
class Side:
    org: str
    org_phone: str
    colleague: str  # a contact person the key sees
    colleague_phone: str


@dataclass
class B2B:
    hidden: str  # agent-1's contact person of ``seen.org``, who bought, complained, owes
    seen: Side  # agent-2's organisation, with the hidden contact person
    twin: Side  # agent-2's organisation alike, without one


async def _side(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    clock: ControlledClock,
    org: str,
    digit: str,
) -> Side:
    org_phone, colleague_phone = f"+3491000010{digit}", f"+3491000020{digit}"
    added = await client.post(
        f"/v1/customers/{org}/identifiers",
        json={"kind": "phone", "value": org_phone},
        headers=admin,
    )
    assert added.status_code == 201, added.text
    colleague = await new_customer(
        client,
        admin,
        display_name="Pablo Núñez",
        organization_id=org,
        owner_id="agent-2",
        identifiers=[{"kind": "phone", "value": colleague_phone}],
    )
    own = {
        "type": "order.placed",
        "occurred_at": ago(clock, 30),
        "payload": {"order_id": "O-1", "total": "50.00", "currency": "EUR"},
    }
    assert (await append(client, admin, org, own)).status_code == 201
    return Side(org, org_phone, colleague, colleague_phone)


@pytest.fixture
async def b2b(client: httpx.AsyncClient, admin: dict[str, str], clock: ControlledClock) -> B2B:
    rich = await rich_customer(client, admin, clock)
    await hand_over(client, admin, rich["org"], "agent-2")
    twin = await new_customer(
        client,
        admin,
        kind="organization",
        display_name="Talleres Núñez S.L.",
        tier="vip",
        owner_id="agent-2",
    )
    return B2B(
        rich["person"],
        await _side(client, admin, clock, rich["org"], "1"),
        await _side(client, admin, clock, twin, "2"),
    )


@pytest.fixture
async def owned(make_key: MakeKey) -> dict[str, str]:
    """agent-2's owned-only key: it sees both organisations and their colleagues."""
    return await make_key(Role.SUPPORT, agent_id="agent-2", owned_only=True)


async def _body(client: httpx.AsyncClient, path: str, headers: dict[str, str]) -> Any:
    response = await client.get(path, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def _without(body: dict[str, Any], *names: str) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k not in names}


@pytest.mark.parametrize("what", ["indicators", "sales-series"])
async def test_indicators_and_sales_of_an_organisation_are_those_of_the_history_the_key_sees(
    client: httpx.AsyncClient, admin: dict[str, str], b2b: B2B, owned: dict[str, str], what: str
) -> None:
    seen = await _body(client, f"/v1/customers/{b2b.seen.org}/{what}", owned)
    twin = await _body(client, f"/v1/customers/{b2b.twin.org}/{what}", owned)
    assert _without(seen, "customer_id") == _without(twin, "customer_id")
    assert "O-1" in str(seen) or what == "sales-series", "its own history still counts"
    # A key that sees every contact person reads the organisation's whole history.
    whole = await _body(client, f"/v1/customers/{b2b.seen.org}/{what}", admin)
    assert _without(whole, "customer_id") != _without(twin, "customer_id")
    if what == "indicators":
        assert whole["flags"] and not seen["flags"]


async def test_routing_an_organisation_or_its_contact_person_tells_nothing_of_a_hidden_one(
    client: httpx.AsyncClient, admin: dict[str, str], b2b: B2B, owned: dict[str, str]
) -> None:
    """Neither the organisation's own call nor a colleague's (routed with the
    organisation's flags) gets a priority, queue or reason from the hidden history."""
    for seen_phone, twin_phone in (
        (b2b.seen.org_phone, b2b.twin.org_phone),
        (b2b.seen.colleague_phone, b2b.twin.colleague_phone),
    ):
        seen = await _body(client, f"/v1/routing/by-phone/{seen_phone}", owned)
        twin = await _body(client, f"/v1/routing/by-phone/{twin_phone}", owned)
        assert seen["known"] is True
        names = ("phone", "customer_id")
        assert _without(seen, *names) == _without(twin, *names)
        whole = await _body(client, f"/v1/routing/by-phone/{seen_phone}", admin)
        assert any(reason.startswith("flag ") for reason in whole["reasons"]), whole


async def test_a_contact_persons_card_shows_its_organisations_indicators_as_the_key_sees_them(
    client: httpx.AsyncClient, admin: dict[str, str], b2b: B2B, make_key: MakeKey
) -> None:
    for role in ("support", "sales"):
        key = await make_key(Role(role), agent_id="agent-2", owned_only=True)
        cards = [
            await _body(client, f"/v1/customers/{side.colleague}/ficha?role={role}", key)
            for side in (b2b.seen, b2b.twin)
        ]
        seen, twin = (card["sections"]["indicators"] for card in cards)
        assert seen == twin, role


async def test_a_hidden_contacts_events_leave_the_organisations_card_as_it_was(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    b2b: B2B,
    owned: dict[str, str],
    clock: ControlledClock,
) -> None:
    """Nor do they move its ETag, by id or by phone."""
    reads = (f"/v1/customers/{b2b.seen.org}/ficha", f"/v1/fichas/by-phone/{b2b.seen.org_phone}")

    async def etags(headers: dict[str, str]) -> list[str]:
        found = []
        for read in reads:
            card = await client.get(read, params={"role": "support"}, headers=headers)
            assert card.status_code == 200, card.text
            assert not [w for w in PERSON_MARKERS if w in card.text] or headers is admin, card.text
            found.append(card.headers["etag"])
        return found

    before, whole = await etags(owned), await etags(admin)
    ticket = {
        "type": "ticket.opened",
        "occurred_at": ago(clock, 0.1),
        "payload": {"ticket_id": "T3", "category": "delivery", "subject": "Lost"},
    }
    assert (await append(client, admin, b2b.hidden, ticket)).status_code == 201
    assert await etags(owned) == before
    assert await etags(admin) != whole, "the organisation's whole card did change"


async def test_the_organisations_alerts_are_not_listed_to_a_key_that_misses_a_contact(
    client: httpx.AsyncClient, admin: dict[str, str], b2b: B2B, owned: dict[str, str]
) -> None:
    """They count the hidden contact person's history (its dispute, its surveys)."""
    for params in ({"customer_id": b2b.seen.org}, {}):
        response = await client.get("/v1/alerts", params=params, headers=owned)
        assert response.status_code == 200, response.text
        listed = response.json()
        assert [a for a in listed["items"] if a["customer_id"] == b2b.seen.org] == []
        assert not [w for w in PERSON_MARKERS if w in response.text], response.text
    whole = await client.get("/v1/alerts", params={"customer_id": b2b.seen.org}, headers=admin)
    assert whole.json()["items"], "the organisation has alerts"


async def test_a_contact_person_merged_away_leaves_the_organisations_stats_and_alerts(
    client: httpx.AsyncClient, admin: dict[str, str], b2b: B2B, owned: dict[str, str]
) -> None:
    """Merged into a customer of its own owner outside the organisation, the hidden contact
    person's history is that customer's, no longer the organisation's: the key that now
    sees every contact person reads the organisation as its twin, and so does the admin
    (its stats and open alerts counted the history that left with it)."""
    elsewhere = await new_customer(client, admin, display_name="Elsewhere", owner_id="agent-1")
    merged = await client.post(
        f"/v1/customers/{elsewhere}/merge", json={"source_customer_id": b2b.hidden}, headers=admin
    )
    assert merged.status_code == 200, merged.text
    for headers in (owned, admin):
        seen = await _body(client, f"/v1/customers/{b2b.seen.org}/indicators", headers)
        twin = await _body(client, f"/v1/customers/{b2b.twin.org}/indicators", headers)
        assert _without(seen, "customer_id") == _without(twin, "customer_id")
        alerts = await _body(client, f"/v1/alerts?customer_id={b2b.seen.org}&status=open", headers)
        assert alerts["items"] == []
    card = await client.get(f"/v1/customers/{b2b.seen.org}/ficha?role=support", headers=owned)
    assert card.status_code == 200, card.text
    assert not [w for w in PERSON_MARKERS if w in card.text], card.text
    moved = await _body(client, f"/v1/customers/{elsewhere}/indicators", admin)
    assert moved["value"]["open_disputes"] == ["pi_9"], "the history went with it"
    # Split back out, the contact person's history is the organisation's again.
    split = await client.post(
        f"/v1/customers/{elsewhere}/unmerge", json={"source_customer_id": b2b.hidden}, headers=admin
    )
    assert split.status_code == 200, split.text
    whole = await _body(client, f"/v1/customers/{b2b.seen.org}/indicators", admin)
    assert whole["value"]["open_disputes"] == ["pi_9"]
    seen = await _body(client, f"/v1/customers/{b2b.seen.org}/indicators", owned)
    twin = await _body(client, f"/v1/customers/{b2b.twin.org}/indicators", owned)
    assert _without(seen, "customer_id") == _without(twin, "customer_id")


async def test_segments_by_indicators_leave_out_an_organisation_a_key_sees_only_in_part(
    client: httpx.AsyncClient, admin: dict[str, str], b2b: B2B, make_key: MakeKey
) -> None:
    """Its value, flags and churn count the hidden contact person: filtered by them, the
    organisation is neither listed nor counted (the hidden one is not either)."""
    key = await make_key(Role.MARKETING, agent_id="agent-2", owned_only=True)
    for query in ({"has_flag": "at_risk"}, {"has_open_order": True}):
        body = {"channel": "email", "limit": 10, **query}
        whole = await client.post("/v1/segments/query", json=body, headers=admin)
        assert whole.json()["matched"] >= 2, whole.text  # the organisation and its contact
        seen = await client.post("/v1/segments/query", json=body, headers=key)
        assert seen.status_code == 200, seen.text
        assert seen.json()["matched"] == (1 if "has_open_order" in query else 0), seen.text


async def test_an_incident_does_not_count_an_organisation_affected_by_a_hidden_contact(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    b2b: B2B,
    owned: dict[str, str],
    clock: ControlledClock,
) -> None:
    """The hidden contact person's parcel (A2, shipped by SEUR) puts the organisation in
    the incident: the key counts neither of them."""
    matcher = {
        "carrier": "seur",
        "shipped_from": clock.ago(days=9).isoformat(),
        "shipped_to": clock.now().isoformat(),
    }
    declared = await client.post(
        "/v1/incidents", json={"title": "Strike", "matcher": matcher}, headers=admin
    )
    assert declared.status_code == 201, declared.text
    assert declared.json()["affected"] == 2, "the contact person and its organisation"
    listed = await _body(client, "/v1/incidents", owned)
    assert [i["affected"] for i in listed["items"] if i["id"] == declared.json()["id"]] == [0]


@pytest.fixture
async def followed(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    b2b: B2B,
    session: AsyncSession,
    settings: Settings,
    clock: ControlledClock,
) -> list[dict[str, Any]]:
    """Every rule of the seen organisation's alerts creates a follow-up, shown on the
    support card: the tasks those alerts got (assigned to the organisation's owner)."""
    listed = await _body(client, f"/v1/alerts?customer_id={b2b.seen.org}", admin)
    action = {"kind": "create_follow_up", "due_minutes": 60}
    for rule in {a["rule"] for a in listed["items"]}:
        put = await client.put(f"/v1/rules/{rule}", json={"actions": [action]}, headers=admin)
        assert put.status_code == 200, put.text
    assert await follow_up_alerts(session, settings, clock) >= len(listed["items"])
    await session.commit()
    template = await _body(client, "/v1/ficha-templates/support", admin)
    sections = [*template["sections"], {"name": "follow_ups", "limit": 10}]
    put = await client.put(
        "/v1/ficha-templates/support", json={"sections": sections}, headers=admin
    )
    assert put.status_code == 200, put.text
    followed = await _body(client, f"/v1/tasks?customer_id={b2b.seen.org}", admin)
    assert followed["items"] and all(t["alert_id"] for t in followed["items"])
    assert [w for w in PERSON_MARKERS if w in str(followed)], "the titles name the hidden facts"
    return list(followed["items"])


async def test_follow_ups_of_the_organisations_alerts_are_kept_from_a_key_that_misses_a_contact(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    b2b: B2B,
    owned: dict[str, str],
    followed: list[dict[str, Any]],
) -> None:
    """A task that follows an alert copies its title (the hidden contact person's dispute,
    its surveys): like the alert, it is neither listed, read, changed nor shown on the card
    or the timeline to that key; a task written by hand on the organisation still is."""
    by_hand = await client.post(
        "/v1/tasks",
        json={"customer_id": b2b.seen.org, "title": "Send the catalogue"},
        headers=owned,
    )
    assert by_hand.status_code == 201, by_hand.text
    for params in ({"customer_id": b2b.seen.org}, {"assignee": "agent-2"}, {}):
        response = await client.get("/v1/tasks", params=params, headers=owned)
        assert response.status_code == 200, response.text
        assert [t["id"] for t in response.json()["items"]] == [by_hand.json()["id"]], params
    for task in followed:
        path = f"/v1/tasks/{task['id']}"
        assert (await client.get(path, headers=owned)).status_code == 404
        patched = await client.patch(
            path, json={"status": "done"}, headers={**owned, "If-Match": '"1"'}
        )
        assert patched.status_code == 404, patched.text
    reads = (
        f"/v1/customers/{b2b.seen.org}/ficha?role=support",
        f"/v1/fichas/by-phone/{b2b.seen.org_phone}?role=support",
        f"/v1/customers/{b2b.seen.org}/timeline",
        f"/v1/customers/{b2b.seen.org}/timeline?contacts=false&type=task.*",
    )
    for read in reads:
        response = await client.get(read, headers=owned)
        assert response.status_code == 200, response.text
        assert "Send the catalogue" in response.text, read
        shown = [t for t in followed if t["id"] in response.text or t["title"] in response.text]
        assert not shown, (read, response.text)
    whole = await client.get(reads[0], headers=admin)
    assert all(t["id"] in whole.text for t in followed), "the whole card shows them"


async def test_follow_ups_of_a_merged_organisations_alerts_stay_off_its_survivors_history(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    b2b: B2B,
    owned: dict[str, str],
    followed: list[dict[str, Any]],
) -> None:
    """Merged into another organisation the key sees whole, the organisation keeps its
    hidden contact person, and the survivor's history (timeline and card) shows the
    absorbed one's events without the follow-ups of its alerts."""
    merged = await client.post(
        f"/v1/customers/{b2b.twin.org}/merge",
        json={"source_customer_id": b2b.seen.org},
        headers=admin,
    )
    assert merged.status_code == 200, merged.text
    history = f"/v1/customers/{b2b.twin.org}/timeline?type=task.*"
    whole = await client.get(history, headers=admin)
    assert all(t["title"] in whole.text for t in followed), "the survivor's history has them"
    for read in (history, f"/v1/customers/{b2b.twin.org}/ficha?role=support"):
        response = await client.get(read, headers=owned)
        assert response.status_code == 200, response.text
        shown = [t for t in followed if t["title"] in response.text]
        assert not shown, (read, response.text)


async def test_messages_of_the_organisations_alerts_are_kept_from_a_key_that_misses_a_contact(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    b2b: B2B,
    owned: dict[str, str],
    session: AsyncSession,
    settings: Settings,
    clock: ControlledClock,
) -> None:
    """A rule's message fills its template with the alert's title: sent to the
    organisation, neither the message nor its ``message.sent`` event reaches that key; a
    message written by hand still does."""
    text = {"subject": "Aviso", "body": "Sobre: {alert_title}"}
    template = {
        "purpose": "service",
        "fields": ["alert_title"],
        "texts": dict.fromkeys(("es", "pt", "en", "fr"), text),
    }
    put = await client.put("/v1/message-templates/alert_notice", json=template, headers=admin)
    assert put.status_code == 200, put.text
    org = b2b.seen.org
    await _reachable_by_sms(client, admin, org, clock)
    listed = await _body(client, f"/v1/alerts?customer_id={org}", admin)
    action = {"kind": "message", "template": "alert_notice"}
    for rule in {a["rule"] for a in listed["items"]}:
        put = await client.put(f"/v1/rules/{rule}", json={"actions": [action]}, headers=admin)
        assert put.status_code == 200, put.text
    with providers.twilio() as twilio:
        sending_settings = settings.model_copy(update=providers.twilio_settings(twilio))
        assert await journeys.plan_rule_messages(session, clock) >= 1
        await session.commit()
        async with httpx.AsyncClient() as http:
            await sending.send_due(session, sending_settings, clock, http)
        await session.commit()
        by_hand = await client.post(
            f"/v1/customers/{org}/messages",
            json={"template": "alert_notice", "fields": {"alert_title": "Catálogo nuevo"}},
            headers=admin,
        )
        assert by_hand.status_code in (201, 202), by_hand.text
    whole = await _body(client, f"/v1/customers/{org}/timeline?type=message.*", admin)
    sent = [e for e in whole["items"] if e["payload"].get("alert_id")]
    assert sent and [w for w in PERSON_MARKERS if w in str(sent)], "the bodies name them"
    messages = await _body(client, f"/v1/customers/{org}/messages", owned)
    assert [m["origin"] for m in messages["items"]] == [by_hand.json()["origin"]]
    for message in (await _body(client, f"/v1/customers/{org}/messages", admin))["items"]:
        read = await client.get(f"/v1/customers/{org}/messages/{message['id']}", headers=owned)
        assert read.status_code == (200 if message["id"] == by_hand.json()["id"] else 404)
    for read in (f"/v1/customers/{org}/timeline", f"/v1/customers/{org}/ficha?role=support"):
        response = await client.get(read, headers=owned)
        assert response.status_code == 200, response.text
        shown = [
            e for e in sent if e["id"] in response.text or e["payload"]["body"] in response.text
        ]
        assert not shown, read


async def _reachable_by_sms(
    client: httpx.AsyncClient, admin: dict[str, str], org: str, clock: ControlledClock
) -> None:
    """Consent and SMS preferred, and the clock moved on to the next noon (UTC), inside the
    service's contact hours whatever the hour the test runs at."""
    clock.advance(timedelta(hours=(12 - clock.now().hour) % 24))
    consent = {"channel": "sms", "purpose": "service", "granted": True, "source": "web"}
    posted = await client.post(f"/v1/customers/{org}/consents", json=consent, headers=admin)
    assert posted.status_code == 201, posted.text
    prefs = {"preferred_channel": "sms"}
    put = await client.put(f"/v1/customers/{org}/preferences", json=prefs, headers=admin)
    assert put.status_code == 200, put.text


async def test_an_incidents_message_to_an_organisation_affected_by_a_hidden_contact_is_kept(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    b2b: B2B,
    owned: dict[str, str],
    session: AsyncSession,
    settings: Settings,
    clock: ControlledClock,
) -> None:
    """The hidden contact person's parcel puts the organisation in the incident, which
    messages it: the key reads neither the message nor its event, which would tell it."""
    org = b2b.seen.org
    await _reachable_by_sms(client, admin, org, clock)
    matcher = {
        "carrier": "seur",
        "shipped_from": clock.ago(days=9).isoformat(),
        "shipped_to": clock.now().isoformat(),
    }
    body = {"title": "Strike", "matcher": matcher, "message": {"template": "carrier_delay"}}
    declared = await client.post("/v1/incidents", json=body, headers=admin)
    assert declared.status_code == 201, declared.text
    with providers.twilio() as twilio:
        sending_settings = settings.model_copy(update=providers.twilio_settings(twilio))
        async with httpx.AsyncClient() as http:
            await sending.send_due(session, sending_settings, clock, http)
        await session.commit()
    messages = (await _body(client, f"/v1/customers/{org}/messages", admin))["items"]
    assert [m["origin"] for m in messages] == [f"incident:{declared.json()['id']}"]
    whole = await _body(client, f"/v1/customers/{org}/timeline?type=message.*", admin)
    assert [e["type"] for e in whole["items"]] == ["message.sent"]
    assert (await _body(client, f"/v1/customers/{org}/messages", owned))["items"] == []
    read = await client.get(f"/v1/customers/{org}/messages/{messages[0]['id']}", headers=owned)
    assert read.status_code == 404
    for path in (f"/v1/customers/{org}/timeline", f"/v1/customers/{org}/ficha?role=support"):
        response = await client.get(path, headers=owned)
        assert response.status_code == 200, response.text
        assert whole["items"][0]["id"] not in response.text, path
        assert "Strike" not in response.text, path
