"""Each rule raises one alert per episode and clears when its condition ends."""

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import Settings
from app.indicators import service as indicators
from app.indicators.queries import CONCERNS
from app.indicators.rules import DEFAULT_RULES
from tests.support.api import append, new_customer
from tests.support.clock import ControlledClock


def at(clock: ControlledClock, hours_ago: float) -> str:
    """The clock's now less ``hours_ago``, as an event's ``occurred_at``."""
    return clock.ago(hours=hours_ago).isoformat()


async def alerts(
    client: httpx.AsyncClient, admin: dict[str, str], customer: str, **params: Any
) -> list[dict[str, Any]]:
    response = await client.get(
        "/v1/alerts", params={"customer_id": customer, **params}, headers=admin
    )
    assert response.status_code == 200, response.text
    return response.json()["items"]


async def flags(client: httpx.AsyncClient, admin: dict[str, str], customer: str) -> list[str]:
    found = (await client.get(f"/v1/customers/{customer}/indicators", headers=admin)).json()[
        "flags"
    ]
    assert all(f["severity"] in {"info", "warning", "danger"} and f["label"] for f in found)
    return [f["code"] for f in found]


async def test_unsatisfied_streak(
    client: httpx.AsyncClient, admin: dict[str, str], clock: ControlledClock
) -> None:
    customer = await new_customer(client, admin, owner_id="agent-5")
    surveys = []
    for n in range(4):
        surveys.append(
            (
                await append(
                    client,
                    admin,
                    customer,
                    {
                        "type": "survey.answered",
                        "occurred_at": at(clock, 48 - n),
                        "payload": {"csat": 1},
                    },
                )
            ).json()
        )
        raised = await alerts(client, admin, customer)
        assert len(raised) == (1 if n >= 2 else 0), "raised at the third, once for the episode"
    [alert] = raised
    assert (
        alert["rule"] == "unsatisfied_streak"
        and alert["code"] == "at_risk"
        and alert["owner_id"] == "agent-5"
    )
    assert "loyalty" in alert["title"].lower() and alert["status"] == "open"
    assert "at_risk" in await flags(client, admin, customer)
    for survey in surveys[:2]:  # two answers were mistyped: the streak is over
        await append(
            client,
            admin,
            customer,
            {
                "type": "event.corrected",
                "occurred_at": at(clock, 1),
                "payload": {
                    "corrects_event_id": survey["id"],
                    "reason": "mistyped",
                    "payload": {"csat": 5},
                },
            },
        )
    [cleared] = await alerts(client, admin, customer)
    assert cleared["status"] == "cleared" and "at_risk" not in await flags(client, admin, customer)
    for n in range(2):
        await append(
            client,
            admin,
            customer,
            {
                "type": "survey.answered",
                "occurred_at": at(clock, 0.5 - n / 10),
                "payload": {"nps": 3},
            },
        )
    assert len(await alerts(client, admin, customer)) == 2, "a new episode, a new alert"


async def test_premium_abandoned_calls(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    session: AsyncSession,
    settings: Settings,
    clock: ControlledClock,
) -> None:
    customer = await new_customer(client, admin, tier="premium", owner_id="agent-7")
    for n in range(5):
        await append(
            client,
            admin,
            customer,
            {"type": "call.abandoned", "occurred_at": at(clock, 3 - n / 2), "payload": {}},
        )
    [alert] = await alerts(client, admin, customer)
    assert alert["severity"] == "danger" and alert["rule"] == "premium_abandoned_calls"
    assert alert["detail"] == {"missed_calls_4h": 4} and alert["owner_id"] == "agent-7"
    acked = await client.post(f"/v1/alerts/{alert['id']}/ack", headers=admin)
    assert acked.json()["status"] == "acknowledged"
    assert (await alerts(client, admin, customer, status="open")) == []
    standard = await new_customer(client, admin, tier="standard")
    for n in range(5):
        await append(
            client,
            admin,
            standard,
            {"type": "call.missed", "occurred_at": at(clock, 1 - n / 10), "payload": {}},
        )
    assert await alerts(client, admin, standard) == [], "only premium and vip customers"
    patched = await client.patch(
        f"/v1/customers/{customer}", json={"tier": "standard"}, headers={**admin, "If-Match": '"1"'}
    )
    assert patched.status_code == 200
    await indicators.reevaluate(session, [UUID(customer)], settings, clock)
    [cleared] = await alerts(client, admin, customer)
    assert cleared["cleared_at"] is not None


async def test_recurring_problem_and_editable_threshold(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    session: AsyncSession,
    settings: Settings,
    clock: ControlledClock,
) -> None:
    customer = await new_customer(client, admin)
    for n in range(2):
        await append(
            client,
            admin,
            customer,
            {
                "type": "ticket.opened",
                "occurred_at": at(clock, 24 * (10 - n)),
                "payload": {"ticket_id": f"T{n}", "category": "billing"},
            },
        )
    [alert] = await alerts(client, admin, customer)
    assert alert["rule"] == "recurring_problem" and alert["detail"] == {"categories": ["billing"]}
    assert "recurring_problem" in await flags(client, admin, customer)
    put = await client.put("/v1/rules/recurring_problem", json={"threshold": 3}, headers=admin)
    assert put.status_code == 200 and put.json()["config"]["threshold"] == 3
    await indicators.reevaluate(session, [UUID(customer)], settings, clock)
    [cleared] = await alerts(client, admin, customer)
    assert cleared["status"] == "cleared"
    bad = await client.put("/v1/rules/recurring_problem", json={"threshold": 0}, headers=admin)
    assert bad.status_code == 422
    unknown = await client.put("/v1/rules/open_dispute", json={"threshold": 2}, headers=admin)
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "body.threshold"
    assert (await client.put("/v1/rules/nope", json={}, headers=admin)).status_code == 404


async def test_open_dispute(
    client: httpx.AsyncClient, admin: dict[str, str], clock: ControlledClock
) -> None:
    customer = await new_customer(client, admin)
    dispute = {
        "payment_id": "pi_1",
        "amount": "47.00",
        "currency": "EUR",
        "dispute_status": "needs_response",
    }
    await append(
        client,
        admin,
        customer,
        {"type": "payment.disputed", "occurred_at": at(clock, 5), "payload": dispute},
    )
    [alert] = await alerts(client, admin, customer)
    assert alert["code"] == "open_dispute"
    await append(
        client,
        admin,
        customer,
        {
            "type": "payment.disputed",
            "occurred_at": at(clock, 1),
            "payload": {**dispute, "dispute_status": "won"},
        },
    )
    [cleared] = await alerts(client, admin, customer)
    assert cleared["status"] == "cleared"


async def test_rules_are_listed_and_admin_only(
    client: httpx.AsyncClient, admin: dict[str, str], make_key: Any
) -> None:
    rules = (await client.get("/v1/rules", headers=admin)).json()["items"]
    assert [r["rule"] for r in rules] == [
        "unsatisfied_streak",
        "premium_abandoned_calls",
        "recurring_problem",
        "open_dispute",
        "incident_affected",
        "urgent_message",
        "angry_message",
    ]
    support = await make_key("support")
    assert (
        await client.put("/v1/rules/open_dispute", json={"enabled": False}, headers=support)
    ).status_code == 403


# --- the 4-hour window of premium_abandoned_calls, and "today" --------------------------


async def abandon(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    customer: str,
    clock: ControlledClock,
    hours_ago: float,
) -> None:
    response = await append(
        client,
        admin,
        customer,
        {"type": "call.abandoned", "occurred_at": at(clock, hours_ago), "payload": {}},
    )
    assert response.status_code == 201, response.text


async def contact(
    client: httpx.AsyncClient, admin: dict[str, str], customer: str
) -> dict[str, Any]:
    found = await client.get(f"/v1/customers/{customer}/indicators", headers=admin)
    assert found.status_code == 200, found.text
    return dict(found.json()["contact"])


async def test_the_fourth_abandoned_call_within_four_hours_raises_an_urgent_alert(
    client: httpx.AsyncClient, admin: dict[str, str], clock: ControlledClock
) -> None:
    customer = await new_customer(client, admin, tier="vip", owner_id="agent-7")
    for hours_ago in (3.95, 2, 1):
        await abandon(client, admin, customer, clock, hours_ago)
    assert await alerts(client, admin, customer) == [], "three calls are not four"
    await abandon(client, admin, customer, clock, 0)
    [alert] = await alerts(client, admin, customer)
    assert (alert["rule"], alert["severity"], alert["status"]) == (
        "premium_abandoned_calls",
        "danger",
        "open",
    )
    assert alert["detail"] == {"missed_calls_4h": 4}
    assert alert["raised_at"] == clock.now().isoformat().replace("+00:00", "Z")


async def test_four_abandoned_calls_spread_over_more_than_four_hours_raise_nothing(
    client: httpx.AsyncClient, admin: dict[str, str], clock: ControlledClock
) -> None:
    customer = await new_customer(client, admin, tier="premium")
    for hours_ago in (4 + 1 / 60, 3, 2, 0):  # the first one minute outside the window
        await abandon(client, admin, customer, clock, hours_ago)
    assert await alerts(client, admin, customer) == []
    assert (await contact(client, admin, customer))["missed_calls_4h"] == 3


async def test_the_alert_clears_on_the_customers_next_event_after_the_window(
    client: httpx.AsyncClient, admin: dict[str, str], clock: ControlledClock
) -> None:
    customer = await new_customer(client, admin, tier="premium")
    for hours_ago in (3, 2, 1, 0):
        await abandon(client, admin, customer, clock, hours_ago)
    note = {"type": "note.added", "payload": {"text": "Called back"}}
    clock.advance(timedelta(minutes=59))  # the first call is 3 h 59 min old: still inside
    await append(client, admin, customer, {**note, "occurred_at": clock.now().isoformat()})
    [alert] = await alerts(client, admin, customer)
    assert alert["status"] == "open"
    clock.advance(timedelta(minutes=2))  # now 4 h 1 min: three calls left in the window
    await append(client, admin, customer, {**note, "occurred_at": clock.now().isoformat()})
    [cleared] = await alerts(client, admin, customer)
    assert cleared["status"] == "cleared"
    assert cleared["cleared_at"] == clock.now().isoformat().replace("+00:00", "Z")
    assert "abandoned_calls" not in await flags(client, admin, customer)


async def test_abandoned_calls_today_start_again_at_midnight_utc(
    client: httpx.AsyncClient, admin: dict[str, str], clock: ControlledClock
) -> None:
    """ "Today" is the UTC day (the service keeps no time zone of its own)."""
    clock.set(datetime(2026, 3, 10, 23, 59, tzinfo=UTC))
    customer = await new_customer(client, admin)
    for hours_ago in (25, 1, 0.5):  # yesterday's, then two this evening
        await abandon(client, admin, customer, clock, hours_ago)
    before = await contact(client, admin, customer)
    assert (before["missed_calls_today"], before["missed_calls_4h"]) == (2, 2)
    clock.set(datetime(2026, 3, 11, 0, 0, tzinfo=UTC))
    after = await contact(client, admin, customer)
    assert (after["missed_calls_today"], after["missed_calls_4h"]) == (0, 2)
    await abandon(client, admin, customer, clock, 0)
    assert (await contact(client, admin, customer))["missed_calls_today"] == 1


# --- what an admin changes, and when it takes effect ------------------------------------


async def test_every_setting_a_rule_shows_is_settable(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    """Issue 21: GET /v1/rules showed window_days, and PUT refused it."""
    for rule in (await client.get("/v1/rules", headers=admin)).json()["items"]:
        put = await client.put(f"/v1/rules/{rule['rule']}", json=rule["config"], headers=admin)
        assert put.status_code == 200, (rule["rule"], put.text)
        assert put.json()["config"] == rule["config"]
        assert set(rule["windows"]) <= {"days", "hours"}  # fixed by the indicators, shown apart


async def sweep(session: AsyncSession, settings: Settings, clock: ControlledClock) -> None:
    """What a maintenance pass and `rules sweep` do with the rules."""
    await indicators.reevaluate(
        session, await indicators.due_customers(session, clock), settings, clock
    )


async def test_a_threshold_change_raises_and_clears_at_the_next_sweep(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    session: AsyncSession,
    settings: Settings,
    clock: ControlledClock,
) -> None:
    """Issue 21: after raising the threshold and setting it back, the flag came back only
    with the customer's next event, though a sweep was run."""
    customer = await new_customer(client, admin)
    for n in range(3):
        survey = {
            "type": "survey.answered",
            "occurred_at": at(clock, 30 - n),
            "payload": {"csat": 1},
        }
        await append(client, admin, customer, survey)
    assert "at_risk" in await flags(client, admin, customer)
    await client.put("/v1/rules/unsatisfied_streak", json={"threshold": 5}, headers=admin)
    await sweep(session, settings, clock)
    assert "at_risk" not in await flags(client, admin, customer)
    [cleared] = await alerts(client, admin, customer)
    assert cleared["status"] == "cleared"
    await client.put("/v1/rules/unsatisfied_streak", json={"threshold": 3}, headers=admin)
    await sweep(session, settings, clock)
    assert "at_risk" in await flags(client, admin, customer)
    assert [a["status"] for a in await alerts(client, admin, customer)] == ["open", "cleared"]


def test_a_change_of_every_rule_knows_whom_it_concerns() -> None:
    assert set(CONCERNS) == set(DEFAULT_RULES)
