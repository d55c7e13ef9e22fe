"""What customers write, put to work, end to end through the API: analysed at ingestion
and stored beside the event, alerts for the owner and a supervisor, routing, the ficha,
the unsatisfied streak, the topics report, the rules an admin tunes, erasure, and what an
owned-only key sees."""

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import Settings
from app.core.security import Role
from app.text.analyser import TextAnalyser
from app.text.repository import RulesRepository
from app.text.rules import default_rules, load_rules
from app.text.service import default_analyser
from app.timeline.texts import reanalyse_batch
from tests.support.api import new_customer
from tests.support.clock import ControlledClock
from tests.support.webhooks import signed_generic

ANGRY_URGENT = (
    "URGENTE. El pedido SO-9 no ha llegado y es inaceptable, estoy muy enfadada. "
    "Lo necesito hoy mismo.\n\nSaludos,\nLucía"
)
PHONE = "+34612345001"


async def _urgent_email(
    client: httpx.AsyncClient, clock: ControlledClock, email: str, msg_id: str
) -> httpx.Response:
    body = json.dumps(
        {
            "customer": {"email": email, "display_name": "Lucía Romero"},
            "type": "email.received",
            "occurred_at": (clock.now() - timedelta(minutes=5)).isoformat(),
            "source_event_id": msg_id,
            "payload": {"subject": "Pedido SO-9", "excerpt": ANGRY_URGENT},
        }
    ).encode()
    return await client.post(
        "/v1/webhooks/generic", content=body, headers=signed_generic(body, msg_id)
    )


async def test_an_urgent_angry_email_alerts_the_owner_raises_priority_and_shows_on_the_ficha(
    client: httpx.AsyncClient, admin: dict[str, str], clock: ControlledClock
) -> None:
    email = "lucia@example.com"
    customer = await new_customer(
        client,
        admin,
        given_name="Lucía",
        family_name="Romero",
        owner_id="agent-7",
        identifiers=[{"kind": "email", "value": email}, {"kind": "phone", "value": PHONE}],
    )
    before = (await client.get(f"/v1/routing/by-phone/{PHONE}", headers=admin)).json()

    received = await _urgent_email(client, clock, email, "msg-urgent-1")
    assert received.status_code == 200, received.text

    [event] = (await client.get(f"/v1/customers/{customer}/timeline", headers=admin)).json()[
        "items"
    ]
    assert event["payload"]["excerpt"] == ANGRY_URGENT  # the event itself is as it came

    indicators = (await client.get(f"/v1/customers/{customer}/indicators", headers=admin)).json()
    last = indicators["text"]["last_inbound"]
    assert last["event_id"] == event["id"]
    assert (last["language"], last["sentiment"], last["urgency"]) == ("es", "negative", "high")
    assert {"urgent_word", "deadline"} <= set(last["reasons"])
    assert {"delivery", "complaint"} <= set(last["intents"])
    assert "hoy mismo" in [r["term"] for r in last["terms"]["urgency"]]

    alerts = (await client.get("/v1/alerts", params={"owner_id": "agent-7"}, headers=admin)).json()[
        "items"
    ]
    by_rule = {a["rule"]: a for a in alerts}
    urgent = by_rule["urgent_message"]
    assert urgent["owner_id"] == "agent-7" and urgent["severity"] == "danger"
    assert urgent["detail"]["event_id"] == event["id"]
    assert urgent["detail"]["audience"] == "owner"
    assert by_rule["angry_message"]["detail"]["audience"] == "supervisor"

    routed = (await client.get(f"/v1/routing/by-phone/{PHONE}", headers=admin)).json()
    assert routed["priority"] >= before["priority"] + 30
    assert "flag urgent_message" in routed["reasons"]

    ficha = (
        await client.get(
            f"/v1/customers/{customer}/ficha", params={"role": "support"}, headers=admin
        )
    ).json()
    sentiment = ficha["sections"]["indicators"]["sentiment"]
    assert (sentiment["level"], sentiment["icon"]) == ("angry", "sentiment_angry")
    assert sentiment["last_message"]["urgency"] == "high"
    assert "delivery" in sentiment["last_message"]["intents"]
    assert "urgent_message" in ficha["sections"]["flags"]["items"]

    # A day later the message no longer counts as urgent (the maintenance pass then
    # clears the alert and the flag: tests/indicators/test_what_indicators_say.py).
    clock.advance(timedelta(hours=24))
    later = (await client.get(f"/v1/customers/{customer}/indicators", headers=admin)).json()
    assert later["text"]["urgent_24h"] == [] and later["text"]["last_inbound"] == last


async def test_three_negative_messages_set_the_unsatisfied_streak_flag(
    client: httpx.AsyncClient, admin: dict[str, str], clock: ControlledClock
) -> None:
    customer = await new_customer(client, admin, given_name="Tiago", family_name="Costa")
    messages = [
        ("chat.conversation", {"transcript": "Cliente: Não estou satisfeito com o atendimento."}),
        ("social.mention", {"network": "x", "text": "Worst service ever, really disappointed."}),
        ("survey.answered", {"nps": 8, "comment": "Service lent et décevant."}),
    ]
    for n, (type_, payload) in enumerate(messages):
        at = clock.now() - timedelta(days=10 - n)
        appended = await client.post(
            f"/v1/customers/{customer}/events",
            json={"type": type_, "occurred_at": at.isoformat(), "payload": payload},
            headers=admin,
        )
        assert appended.status_code == 201, appended.text
        flags = (await client.get(f"/v1/customers/{customer}/indicators", headers=admin)).json()
        assert flags["satisfaction"]["unsatisfied_90d"] == n + 1
    said = (await client.get(f"/v1/customers/{customer}/indicators", headers=admin)).json()
    assert said["text"]["negative_30d"] == 3
    assert [f["code"] for f in said["flags"]] == ["at_risk"]
    assert said["risk"]["churn"] == "high"


async def test_the_topics_report_shows_a_rising_intent_after_a_burst_of_delivery_complaints(
    client: httpx.AsyncClient, admin: dict[str, str], clock: ControlledClock
) -> None:
    day = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday
    customer = await new_customer(client, admin, given_name="Ana", family_name="Gil")
    texts = [
        (day, "¿Cuál es el horario de la tienda?"),
        (day + timedelta(days=1), "El pedido no ha llegado, el envío lleva una semana parado."),
        (day + timedelta(days=1, hours=2), "Mi paquete no llega, ¿dónde está mi pedido?"),
        (day + timedelta(days=1, hours=3), "My parcel never arrived, the delivery is late."),
    ]
    lines = [
        json.dumps(
            {
                "customer": {"id": customer},
                "type": "email.received",
                "occurred_at": at.isoformat(),
                "payload": {"excerpt": excerpt},
            }
        )
        for at, excerpt in texts
    ]
    imported = await client.post(
        "/v1/events/bulk",
        content="\n".join(lines).encode(),
        headers={**admin, "content-type": "application/x-ndjson"},
    )
    assert imported.status_code == 200, imported.text
    params = {
        "from": day.isoformat(),
        "to": (day + timedelta(days=2)).isoformat(),
        "interval": "day",
    }
    report = (await client.get("/v1/reports/topics", params=params, headers=admin)).json()
    first, second = report["periods"]
    assert (first["messages"], second["messages"]) == (1, 3)
    assert [i["intent"] for i in first["intents"]] == ["information"]
    delivery = next(i for i in second["intents"] if i["intent"] == "delivery")
    assert delivery["messages"] == 3
    rising = {r["intent"]: r for r in second["rising"]}
    assert rising["delivery"] == {"intent": "delivery", "messages": 3, "previous": 0, "change": 3}
    assert second["rising"][0]["change"] == 3  # none rose more
    assert "information" not in rising
    assert "no ha llegado" in [t["term"] for t in second["terms"]]
    assert second["negative"] >= 2

    bad = await client.get(
        "/v1/reports/topics", params={**params, "to": params["from"]}, headers=admin
    )
    assert bad.status_code == 422 and "query.to" in bad.text


@pytest.mark.parametrize(
    ("since", "until", "interval"),
    [
        ("0001-01-01T00:00:00Z", "0001-03-01T00:00:00Z", "week"),
        ("0001-01-01T00:00:00Z", "0001-03-01T00:00:00Z", "month"),
        ("0001-01-01T00:00:00Z", "0001-01-03T00:00:00Z", "day"),
        ("9999-12-01T00:00:00Z", "9999-12-31T23:59:59Z", "month"),
        ("9999-12-20T00:00:00Z", "9999-12-31T23:59:59Z", "week"),
        ("9999-12-30T00:00:00Z", "9999-12-31T23:59:59.999999Z", "day"),
    ],
)
async def test_the_topics_report_reaches_the_ends_of_the_calendar(
    client: httpx.AsyncClient, admin: dict[str, str], since: str, until: str, interval: str
) -> None:
    """Every time the query accepts makes a report: the period after December 9999 and
    the one before January of year 1 were computed as dates (a 500). The first period has
    none before it, the last ends at `to`."""
    params = {"from": since, "to": until, "interval": interval}
    response = await client.get("/v1/reports/topics", params=params, headers=admin)
    assert response.status_code == 200, response.text
    periods = response.json()["periods"]
    assert periods[0]["period_from"].startswith(since[:10])
    assert datetime.fromisoformat(periods[-1]["period_to"]) == datetime.fromisoformat(until)
    assert all(p["rising"] == [] and p["messages"] == 0 for p in periods)


async def test_the_topics_report_is_for_admin_keys_only(
    client: httpx.AsyncClient, make_key: Any
) -> None:
    """Company-wide figures: an admin key sees every customer (it cannot be owned-only), and
    no other key reads the report, owned-only or not."""
    params = {"from": "2026-03-02T00:00:00Z", "to": "2026-03-03T00:00:00Z"}
    for key in (
        await make_key(Role.SUPPORT, agent_id="agent-1", owned_only=True),
        await make_key(Role.SUPPORT),
        await make_key(Role.INTEGRATION),
    ):
        refused = await client.get("/v1/reports/topics", params=params, headers=key)
        assert refused.status_code == 403


async def test_an_admin_tunes_the_rules_and_the_next_text_is_read_with_them(
    client: httpx.AsyncClient, admin: dict[str, str], make_key: Any
) -> None:
    rules = (await client.get("/v1/text-rules", headers=admin)).json()
    assert rules["version"] == "2026-11-29" and set(rules["languages"]) == {"es", "pt", "en", "fr"}
    probe = {"text": "El cacharro vino roto otra vez.", "language": "es"}
    before = (await client.post("/v1/text/analyze", json=probe, headers=admin)).json()
    assert before["analyser_version"] == "2+rules.2026-11-29"

    rules["languages"]["es"]["sentiment"]["cacharro"] = -3
    same_version = await client.put("/v1/text-rules", json=rules, headers=admin)
    assert same_version.status_code == 422 and "body.version" in same_version.text
    rules["version"] = "2026-12-01"
    rules["languages"]["es"]["abusive"].append("cacharro")
    saved = await client.put("/v1/text-rules", json=rules, headers=admin)
    assert saved.status_code == 200, saved.text
    after = (await client.post("/v1/text/analyze", json=probe, headers=admin)).json()
    assert after["analyser_version"] == "2+rules.2026-12-01"
    assert after["abusive"] == {"detected": True, "terms": ["cacharro"]}
    assert after["sentiment"]["score"] < before["sentiment"]["score"]

    rules["languages"]["es"]["sentiment"]["cacharro"] = 9
    refused = await client.put("/v1/text-rules", json=rules, headers=admin)
    assert refused.status_code == 422 and "body.languages.es.sentiment" in refused.text
    integration = await make_key(Role.INTEGRATION)
    assert (await client.get("/v1/text-rules", headers=integration)).status_code == 403
    assert (await client.put("/v1/text-rules", json=rules, headers=integration)).status_code == 403


async def test_erasure_removes_the_matched_words_and_keeps_the_labels(
    live: tuple[httpx.AsyncClient, dict[str, str]], clock: ControlledClock, session: AsyncSession
) -> None:
    client, admin = live
    email = "erase.me@example.com"
    assert (await _urgent_email(client, clock, email, "msg-erase-1")).status_code == 200
    customer = (await client.get("/v1/identify", params={"email": email}, headers=admin)).json()[
        "customer_id"
    ]
    query = text(
        "SELECT sentiment, urgency, intents, terms FROM text_analyses WHERE customer_id = :c"
    )
    [(sentiment, urgency, intents, terms)] = (await session.execute(query, {"c": customer})).all()
    assert terms is not None and "hoy mismo" in json.dumps(terms)
    erased = await client.post(
        f"/v1/customers/{customer}/erasure",
        json={"reason": "GDPR art. 17", "requested_at": clock.now().isoformat()},
        headers=admin,
    )
    assert erased.status_code == 200, erased.text
    [(after_sentiment, after_urgency, after_intents, after_terms)] = (
        await session.execute(query, {"c": customer})
    ).all()
    assert (after_sentiment, after_urgency, after_intents) == (sentiment, urgency, intents)
    assert after_terms is None
    said = (await client.get(f"/v1/customers/{customer}/indicators", headers=admin)).json()
    assert said["text"]["last_inbound"]["sentiment"] == "negative"
    assert said["text"]["last_inbound"]["terms"] is None
    assert "hoy mismo" not in json.dumps(said)


async def test_reanalysis_after_a_rules_change_updates_analyses_and_indicators(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    clock: ControlledClock,
    session: AsyncSession,
    settings: Settings,
) -> None:
    customer = await new_customer(client, admin, given_name="Pau", family_name="Vidal")
    appended = await client.post(
        f"/v1/customers/{customer}/events",
        json={
            "type": "ticket.opened",
            "occurred_at": (clock.now() - timedelta(hours=1)).isoformat(),
            "payload": {"ticket_id": "T-1", "description": "El cacharro vino roto."},
        },
        headers=admin,
    )
    assert appended.status_code == 201, appended.text
    said = (await client.get(f"/v1/customers/{customer}/indicators", headers=admin)).json()
    assert said["text"]["last_inbound"]["abusive"] is False

    document = default_rules().model_dump(mode="json")
    document["version"] = "2026-12-01"
    document["languages"]["es"]["abusive"].append("cacharro")
    analyser = TextAnalyser(load_rules(document))
    analysed, after = await reanalyse_batch(session, analyser, None, None, settings, clock)
    assert analysed >= 1 and after is None
    version = await session.scalar(
        text("SELECT analyser_version FROM text_analyses WHERE customer_id = :c"), {"c": customer}
    )
    assert version == "2+rules.2026-12-01"
    said = (await client.get(f"/v1/customers/{customer}/indicators", headers=admin)).json()
    assert said["text"]["last_inbound"]["abusive"] is True
    assert "angry_customer" in [f["code"] for f in said["flags"]]
    # Analysed with these rules already: nothing to do again.
    assert (await reanalyse_batch(session, analyser, None, None, settings, clock))[0] == 0
    since = clock.now()
    assert (await reanalyse_batch(session, default_analyser(), since, None, settings, clock)) == (
        0,
        None,
    )


async def test_rules_stored_before_a_stricter_check_still_read_every_text(
    client: httpx.AsyncClient, admin: dict[str, str], session: AsyncSession
) -> None:
    """A document an earlier release accepted (here a repeated alternation, refused on PUT
    since) is the one the service analyses with: a stricter check refuses new documents,
    it never stops the texts arriving."""
    rules = default_rules().model_dump(mode="json")
    rules["version"] = "accepted-earlier"
    rules["email"]["reply_headers"] = [*rules["email"]["reply_headers"], r"^(?:(?:re|fwd?):\s*)+"]
    assert (await client.put("/v1/text-rules", json=rules, headers=admin)).status_code == 422
    await RulesRepository(session).put(rules)

    probe = {"text": "Re: re: el pedido no llega y es urgente", "language": "es"}
    analysed = await client.post("/v1/text/analyze", json=probe, headers=admin)
    assert analysed.status_code == 200, analysed.text
    assert analysed.json()["analyser_version"].endswith("rules.accepted-earlier")
    assert (await client.get("/v1/text-rules", headers=admin)).json()[
        "version"
    ] == "accepted-earlier"
