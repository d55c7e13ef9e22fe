"""Fichas per job on one rich customer, the screen-pop, templates and the access log."""

import json
from datetime import timedelta
from typing import Any
from uuid import UUID

import asyncpg
import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import plain_url
from app.core.security import Role
from app.fichas.queries import template_sections
from app.fichas.templates import (
    DEFAULT_TEMPLATES,
    LABELS,
    LANGUAGES,
    SECTIONS,
    validate_sections,
)
from tests.support.api import append, new_customer
from tests.support.clock import ControlledClock
from tests.support.fichas import PERSON_MARKERS, ago, ficha, hand_over
from tests.support.fixtures import MakeKey


@pytest.mark.parametrize("role", list(DEFAULT_TEMPLATES))
async def test_each_role_sees_its_sections_in_order(
    client: httpx.AsyncClient, admin: dict[str, str], rich: dict[str, str], role: str
) -> None:
    card = await ficha(client, admin, rich["person"], role)
    # A person has no contact persons: that section, empty, is left out.
    shown = [s["name"] for s in DEFAULT_TEMPLATES[role] if s["name"] != "contacts"]
    assert list(card["sections"]) == shown
    assert card["customer_id"] == rich["person"]
    identity = card["sections"]["identity"]
    assert identity["display_name"] == "Lucía Núñez" and identity["tier"] == "vip"
    assert identity["organization"] == "Talleres Núñez S.L."
    assert identity["language"] == "es", "the customer's language, not the card's (en)"
    assert not {"kind", "status", "unverified"} & set(identity), "a verified active person"
    indicators = card["sections"]["indicators"]
    assert indicators["satisfaction"] == {"level": "unhappy", "icon": "satisfaction_unhappy"}
    assert indicators["value"] == {"level": "low", "icon": "value_low"}
    assert indicators["churn_risk"] == {
        "level": "high",
        "icon": "churn_high",
        "churn_reason": "3 unsatisfied contacts in 90 days",
    }
    assert "sentiment" not in indicators, "no message analysed yet"
    assert "organization" not in indicators, "its organisation's value and satisfaction are its own"
    flags = card["sections"]["flags"]["items"]
    assert set(flags) == {"at_risk", "recurring_problem", "open_dispute"}
    for section in card["sections"].values():  # named by its key, dated by the answer
        assert section["label"] and not {"name", "as_of"} & set(section)


async def test_what_each_job_gets(
    client: httpx.AsyncClient, admin: dict[str, str], rich: dict[str, str]
) -> None:
    person = rich["person"]
    support = (await ficha(client, admin, person, "support"))["sections"]
    assert list(support["tickets"]["items"]) == ["T2", "T1"]
    late_again, late = support["tickets"]["items"].values()
    assert late_again == {"subject": "Late again", "status": "open"}
    assert late == {"subject": "Late", "status": "resolved", "resolution": "Resent by courier"}
    assert [e["summary"] for e in support["recent_interactions"]["items"]] == ["Call, 120 s"], (
        "the tickets are not shown again as interactions"
    )
    assert support["pinned_notes"]["items"][0]["text"] == "Prefers mornings"
    assert not {"open_items", "alerts", "preferences"} & set(support)
    flags = support["flags"]["items"]
    assert flags["open_dispute"]["severity"] == "danger"
    listed = await client.get("/v1/alerts", params={"customer_id": person}, headers=admin)
    alerts = {a["id"]: a for a in listed.json()["items"]}
    for code, flag in flags.items():  # each flag once, with the open alert that raised it
        alert = alerts[flag["alert_id"]]
        assert (alert["code"], alert["status"]) == (code, "open")

    sales = (await ficha(client, admin, person, "sales"))["sections"]
    assert list(sales["purchases"]["items"]) == ["A2", "A1"]
    assert sales["purchases"]["items"]["A1"]["products"] == [
        {"sku": "BOOT", "name": "Botas de montaña"}
    ], "product names beside SKUs"
    assert sales["purchases"]["items"]["A2"]["total"] == {"amount": "80.00", "currency": "EUR"}
    [quote] = sales["opportunities_and_quotes"]["items"]
    assert (quote["summary"], quote["amount"]) == (
        "Quote sent",
        {"amount": "900.00", "currency": "EUR"},
    )
    assert "collections" not in sales and "tickets" not in sales

    collections = (await ficha(client, admin, person, "collections"))["sections"]
    owed = collections["collections"]
    assert owed["overdue_invoices"]["F-7"]["amount"] == {"amount": "300.00", "currency": "EUR"}
    assert owed["failed_payments"]["pi_10"]["reason"] == "card declined"
    assert owed["disputes"]["pi_9"]["status"] == "open"
    assert "purchases" not in collections and "behaviour" not in collections

    tech = (await ficha(client, admin, person, "tech_support"))["sections"]
    assert list(tech["tickets"]["items"]) == ["T2"], "open tickets only"
    assert tech["behaviour"]["items"][0]["pages"] == ["https://shop.example/boots"]

    marketing = await ficha(client, admin, person, "marketing")
    assert marketing["sections"]["segments"]["value_segment"] == "occasional"
    assert marketing["sections"]["consents"]["channels"] == {
        "email": {"marketing": True},
        "phone": {"marketing": False},
    }
    assert "open_items" not in marketing["sections"] and "collections" not in marketing["sections"]
    assert marketing["actions"] == [
        {"type": "email", "label": "Email", "target": "lucia@example.com"}
    ], "no call: do-not-call and no consent"

    org = (await ficha(client, admin, rich["org"], "sales"))["sections"]
    assert org["contacts"]["items"] == {
        rich["person"]: {
            "display_name": "Lucía Núñez",
            "phone": "+34612345678",
            "email": "lucia@example.com",
        }
    }, "how to name and reach each contact, once"
    assert org["identity"]["label"] == "Company", "an organisation's card says what it is"


async def test_event_sections_read_the_whole_merge_family(
    client: httpx.AsyncClient, admin: dict[str, str], clock: ControlledClock
) -> None:
    """All of a ficha's event sections come from one query over the customer and everyone
    merged into it, each with its own types, limit and pinned filter."""
    survivor = await new_customer(client, admin, display_name="Survivor")
    absorbed = await new_customer(client, admin, display_name="Absorbed")
    for customer, type_, days, payload in (
        (survivor, "web.page_viewed", 3, {"url": "https://shop.example/a"}),
        (absorbed, "web.page_viewed", 2, {"url": "https://shop.example/b"}),
        (absorbed, "product.used", 1, {"product": "Boots"}),
        (survivor, "note.added", 4, {"text": "Pinned", "pinned": True}),
        (absorbed, "note.added", 1, {"text": "Not pinned"}),
    ):
        body = {
            "type": type_,
            "occurred_at": ago(clock, days),
            "summary": type_,
            "payload": payload,
        }
        response = await append(client, admin, customer, body)
        assert response.status_code == 201, response.text
    merged = await client.post(
        f"/v1/customers/{survivor}/merge", json={"source_customer_id": absorbed}, headers=admin
    )
    assert merged.status_code == 200, merged.text
    template = {
        "sections": [
            {"name": "identity"},
            {"name": "indicators"},
            {"name": "flags"},
            {"name": "recent_interactions", "limit": 5, "types": ["web.page_viewed"]},
            {"name": "pinned_notes", "limit": 5},
            {"name": "behaviour", "limit": 2},
        ]
    }
    put = await client.put("/v1/ficha-templates/support", json=template, headers=admin)
    assert put.status_code == 200, put.text
    sections = (await ficha(client, admin, survivor, "support"))["sections"]
    recent = sections["recent_interactions"]["items"]  # each summary is its type, as given
    assert [e["summary"] for e in recent] == ["web.page_viewed", "web.page_viewed"]
    assert [e["occurred_at"][:10] for e in recent] == [ago(clock, 2)[:10], ago(clock, 3)[:10]]
    assert [e["text"] for e in sections["pinned_notes"]["items"]] == ["Pinned"]
    assert sections["pinned_notes"]["items"][0]["occurred_at"][:10] == ago(clock, 4)[:10]
    assert [e["summary"] for e in sections["behaviour"]["items"]] == [
        "product.used",
        "web.page_viewed",
    ]


async def test_marketing_loses_the_email_action_when_consent_is_withdrawn(
    client: httpx.AsyncClient, admin: dict[str, str], rich: dict[str, str]
) -> None:
    await client.post(
        f"/v1/customers/{rich['person']}/consents",
        headers=admin,
        json={
            "channel": "email",
            "purpose": "marketing",
            "granted": False,
            "source": "unsubscribe",
        },
    )
    assert (await ficha(client, admin, rich["person"], "marketing"))["actions"] == []
    support = await ficha(client, admin, rich["person"], "support")
    assert support["actions"] == [
        {"type": "email", "label": "Email", "target": "lucia@example.com"}
    ], "service email is still fine"


SPANISH = [
    "+34612345678",
    "%2B34612345678",
    "612345678",
    "612 34 56 78",
    "612-34-56-78",
    "0034612345678",
    "%2B34 612 345 678",
    "(%2B34) 612.34.56.78",
]
BRAZILIAN = [
    "%2B5511912345678",
    "+5511912345678",
    "005511912345678",
    "%2B55 11 91234-5678",
    "%2B55 (11) 91234 5678",
    "%2B55-11-91234-5678",
    "%2B551191234-5678",
    "%2B55.11.91234.5678",
]


async def test_screen_pop_finds_the_caller_in_any_spelling(
    client: httpx.AsyncClient, admin: dict[str, str], rich: dict[str, str]
) -> None:
    brazilian = await new_customer(
        client,
        admin,
        display_name="João",
        identifiers=[{"kind": "phone", "value": "+55 11 91234-5678"}],
    )
    for spellings, expected in ((SPANISH, rich["person"]), (BRAZILIAN, brazilian)):
        for spelling in spellings:
            response = await client.get(
                f"/v1/fichas/by-phone/{spelling}", params={"role": "support"}, headers=admin
            )
            assert response.status_code == 200, (spelling, response.text)
            assert response.json()["customer_id"] == expected, spelling
    unknown = await client.get(
        "/v1/fichas/by-phone/699 00 00 99", params={"role": "support"}, headers=admin
    )
    assert unknown.status_code == 404 and unknown.json()["phone"] == "+34699000099"
    assert unknown.headers["content-type"] == "application/problem+json"


async def test_a_bare_digit_caller_id_owned_twice_gets_the_candidates(
    client: httpx.AsyncClient, admin: dict[str, str], rich: dict[str, str], make_key: MakeKey
) -> None:
    """612345678 without a + is +34 612 345 678 (Spain, the default region) or
    +61 2345 678 (Australia): with both on file the caller is asked, not guessed."""
    sydney = await new_customer(
        client,
        admin,
        display_name="Oliver Smith",
        identifiers=[{"kind": "phone", "value": "+61 2345 678"}],
    )
    response = await client.get(
        "/v1/fichas/by-phone/612345678", params={"role": "support"}, headers=admin
    )
    assert response.status_code == 300, response.text
    candidates = {c["customer_id"]: c for c in response.json()["candidates"]}
    assert candidates.keys() == {rich["person"], sydney}
    assert candidates[sydney]["phone"] == "+612345678"
    assert candidates[rich["person"]]["phone"] == "+34612345678"
    assert candidates[rich["person"]]["display_name"] == "Lucía Núñez"
    # Written with separators or a prefix, the number has one reading: no question.
    for spelling in ("612 34 56 78", "%2B34612345678", "%2B612345678"):
        one = await client.get(
            f"/v1/fichas/by-phone/{spelling}", params={"role": "support"}, headers=admin
        )
        assert one.status_code == 200, spelling
    # A key that sees only one of the two gets that one's ficha.
    mine = await make_key(Role.SUPPORT, agent_id="agent-1", owned_only=True)
    only = await client.get(
        "/v1/fichas/by-phone/612345678", params={"role": "support"}, headers=mine
    )
    assert only.status_code == 200 and only.json()["customer_id"] == rich["person"]


async def test_roles_and_owner_restriction(
    client: httpx.AsyncClient, admin: dict[str, str], rich: dict[str, str], make_key: MakeKey
) -> None:
    support = await make_key(Role.SUPPORT)
    assert (
        await client.get(
            f"/v1/customers/{rich['person']}/ficha", params={"role": "support"}, headers=support
        )
    ).status_code == 200
    forbidden = await client.get(
        f"/v1/customers/{rich['person']}/ficha", params={"role": "collections"}, headers=support
    )
    assert forbidden.status_code == 403
    pop = await client.get(
        "/v1/fichas/by-phone/612345678", params={"role": "sales"}, headers=support
    )
    assert pop.status_code == 403
    mine = await make_key(Role.SUPPORT, agent_id="agent-1", owned_only=True)
    theirs = await make_key(Role.SUPPORT, agent_id="agent-2", owned_only=True)
    assert (
        await client.get("/v1/fichas/by-phone/612345678", params={"role": "support"}, headers=mine)
    ).status_code == 200
    assert (
        await client.get(
            "/v1/fichas/by-phone/612345678", params={"role": "support"}, headers=theirs
        )
    ).status_code == 404
    assert (
        await client.get(
            f"/v1/customers/{rich['person']}/ficha", params={"role": "support"}, headers=theirs
        )
    ).status_code == 404


async def test_labels_follow_the_language(
    client: httpx.AsyncClient, admin: dict[str, str], rich: dict[str, str]
) -> None:
    url = f"/v1/customers/{rich['person']}/ficha"
    spanish = await client.get(url, params={"role": "support", "lang": "es"}, headers=admin)
    assert spanish.headers["content-language"] == "es"
    assert spanish.json()["sections"]["tickets"]["label"] == "Incidencias"
    response = await client.get(
        url,
        params={"role": "support"},
        headers={**admin, "Accept-Language": "pt-BR,pt;q=0.9,en;q=0.5"},
    )
    assert response.headers["content-language"] == "pt"
    assert response.json()["sections"]["tickets"]["label"] == "Chamados"
    german = await client.get(url, params={"role": "support", "lang": "de"}, headers=admin)
    assert german.headers["content-language"] == "en"
    assert german.json()["sections"]["tickets"]["label"] == "Tickets"


async def test_editing_a_template_changes_the_next_ficha(
    client: httpx.AsyncClient, admin: dict[str, str], rich: dict[str, str]
) -> None:
    template = {
        "sections": [
            {"name": "identity"},
            {"name": "indicators"},
            {"name": "flags"},
            {"name": "purchases", "limit": 1},
            {"name": "pinned_notes"},
        ],
        "labels": {"es": {"purchases": "Últimas compras"}},
    }
    put = await client.put("/v1/ficha-templates/support", json=template, headers=admin)
    assert put.status_code == 200, put.text
    card = await ficha(client, admin, rich["person"], "support", lang="es")
    assert list(card["sections"]) == [
        "identity",
        "indicators",
        "flags",
        "purchases",
        "pinned_notes",
    ]
    assert (
        card["sections"]["purchases"]["label"] == "Últimas compras"
        and len(card["sections"]["purchases"]["items"]) == 1
    )
    assert card["sections"]["pinned_notes"]["items"][0]["text"] == "Prefers mornings"
    assert (await client.delete("/v1/ficha-templates/support", headers=admin)).status_code == 204
    restored = await ficha(client, admin, rich["person"], "support")
    assert list(restored["sections"]) == [s["name"] for s in DEFAULT_TEMPLATES["support"]]


@pytest.mark.parametrize(
    ("sections", "field"),
    [
        (
            [
                {"name": "identity"},
                {"name": "indicators"},
                {"name": "flags"},
                {"name": "horoscope"},
            ],
            "body.sections.3.name",
        ),
        (
            [
                {"name": "identity"},
                {"name": "indicators"},
                {"name": "flags"},
                {"name": "purchases", "colour": "red"},
            ],
            "body.sections.3.colour",
        ),
        (
            [
                {"name": "identity"},
                {"name": "indicators"},
                {"name": "flags"},
                {"name": "tickets", "limit": 500},
            ],
            "body.sections.3.limit",
        ),
        ([{"name": "identity"}, {"name": "indicators"}, {"name": "open_items"}], "body.sections.2"),
        (
            [
                {"name": "identity"},
                {"name": "indicators"},
                {"name": "flags"},
                {"name": "recent_interactions", "types": ["calls.*"]},
            ],
            "body.sections.3.types",
        ),
        # Found by schemathesis: a name that is no text was a 500.
        (
            [{"name": "identity"}, {"name": "indicators"}, {"name": "flags"}, {"name": []}],
            "body.sections.3.name",
        ),
        (
            [{"name": "identity"}, {"name": "indicators"}, {"name": {"a": 1}}],
            "body.sections.2.name",
        ),
    ],
)
async def test_invalid_templates_are_422_naming_the_section(
    client: httpx.AsyncClient, admin: dict[str, str], sections: list[dict[str, Any]], field: str
) -> None:
    response = await client.put(
        "/v1/ficha-templates/support", json={"sections": sections}, headers=admin
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == field


@pytest.mark.parametrize("language", LANGUAGES)
async def test_a_template_of_every_section_builds_in_every_language(
    client: httpx.AsyncClient, admin: dict[str, str], rich: dict[str, str], language: str
) -> None:
    """A new section is shown, with its label, on a card that asks for every section: the
    person's card or its organisation's (an empty section is left out, and a person has
    no contacts)."""
    everything = {"sections": [{"name": name} for name in SECTIONS]}
    put = await client.put("/v1/ficha-templates/everything", json=everything, headers=admin)
    assert put.status_code == 200, put.text
    labels: dict[str, str] = {}
    for whose in ("person", "org"):
        card = await ficha(client, admin, rich[whose], "everything", lang=language)
        assert list(card["sections"]) == [name for name in SECTIONS if name in card["sections"]]
        for name, section in card["sections"].items():
            labels.setdefault(name, section["label"])
    assert labels == {name: LABELS[language][name] for name in SECTIONS}
    assert card["sections"]["identity"]["label"] == LABELS[language]["identity.organization"]


async def test_templates_admin(
    client: httpx.AsyncClient, admin: dict[str, str], make_key: MakeKey, session: AsyncSession
) -> None:
    listed = (await client.get("/v1/ficha-templates", headers=admin)).json()["items"]
    assert {t["role"] for t in listed} >= set(DEFAULT_TEMPLATES)
    for (
        role,
        sections,
    ) in DEFAULT_TEMPLATES.items():  # the migration's copy matches the code's defaults
        stored = await template_sections(session, role)
        assert stored is not None and validate_sections(stored[0]) == validate_sections(sections)
    support = await make_key(Role.SUPPORT)
    assert (
        await client.put("/v1/ficha-templates/support", json={"sections": []}, headers=support)
    ).status_code == 403
    custom = {"sections": [{"name": "identity"}, {"name": "indicators"}, {"name": "flags"}]}
    assert (
        await client.put("/v1/ficha-templates/field_sales", json=custom, headers=admin)
    ).status_code == 200
    assert (
        await client.delete("/v1/ficha-templates/field_sales", headers=admin)
    ).status_code == 204
    assert (await client.get("/v1/ficha-templates/field_sales", headers=admin)).status_code == 404


async def test_reads_are_in_the_access_log(
    client: httpx.AsyncClient, admin: dict[str, str], rich: dict[str, str], make_key: MakeKey
) -> None:
    agent = await make_key(Role.SUPPORT, agent_id="agent-9")
    await client.get("/v1/fichas/by-phone/612345678", params={"role": "support"}, headers=agent)
    await client.get(f"/v1/customers/{rich['person']}", headers=agent)
    await client.get(f"/v1/customers/{rich['person']}/timeline", headers=agent)
    log = (await client.get(f"/v1/customers/{rich['person']}/access-log", headers=admin)).json()[
        "items"
    ]
    mine = [(e["what"], e["role"], e["agent_id"]) for e in log if e["agent_id"] == "agent-9"]
    assert mine == [
        ("timeline", "support", "agent-9"),
        ("customer", "support", "agent-9"),
        ("screen-pop:support", "support", "agent-9"),
    ]
    assert (
        await client.get(f"/v1/customers/{rich['person']}/access-log", headers=agent)
    ).status_code == 403


async def test_a_timeline_page_is_logged_once_and_a_refused_one_not_at_all(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    rich: dict[str, str],
    make_key: MakeKey,
    session: AsyncSession,
) -> None:
    """Each page its statement reads (filtered, and the next one by its cursor) is one
    access-log row; a page refused before it is read (a malformed cursor, an unknown type,
    another owner's customer for an owned-only key) is none."""
    url = f"/v1/customers/{rich['person']}/timeline"
    mine = await make_key(Role.SUPPORT, agent_id="agent-1", owned_only=True)
    other = await make_key(Role.SUPPORT, agent_id="agent-2", owned_only=True)

    async def rows() -> int:
        found = await session.execute(
            text("SELECT count(*) FROM access_log WHERE customer_id = :c AND what = 'timeline'"),
            {"c": UUID(rich["person"])},
        )
        return int(found.scalar_one())

    before = await rows()
    filters = {"since": "2000-01-01T00:00:00Z", "limit": 1}
    first = await client.get(url, params=filters, headers=mine)
    assert first.status_code == 200, first.text
    cursor = first.json()["next_cursor"]
    assert cursor is not None
    second = await client.get(url, params={**filters, "cursor": cursor}, headers=mine)
    assert second.status_code == 200, second.text
    assert await rows() == before + 2
    refused = [
        await client.get(url, params={"cursor": "not-a-cursor"}, headers=mine),
        await client.get(url, params={"type": "no.such.type"}, headers=mine),
        await client.get(url, headers=other),
    ]
    assert [r.status_code for r in refused] == [400, 422, 404]
    assert await rows() == before + 2


async def test_the_card_shows_an_owned_only_key_only_what_it_may_see(
    client: httpx.AsyncClient, admin: dict[str, str], rich: dict[str, str], session: AsyncSession
) -> None:
    """The one-query aggregate (every read of a customer, a ficha's too): an owned-only key
    sees the person (its agent's) but not the organisation it belongs to (nobody's), and
    the screen-pop finds the same card by phone."""
    from app.core.security import Principal
    from app.customers import service as customers

    principal = Principal(key_id=UUID(int=1), role=Role.ADMIN)
    person = await customers.get_customer(session, UUID(rich["person"]), principal)
    org = await customers.get_customer(session, UUID(rich["org"]), principal)
    assert person.organization is not None and person.organization.id == org.id
    assert [c.id for c in org.contacts or []] == [person.id]
    agent = Principal(key_id=UUID(int=2), role=Role.SUPPORT, agent_id="agent-1", owned_only=True)
    card = await customers.get_customer(session, UUID(rich["person"]), agent)
    assert card.organization is None and card.organization_id is None
    assert card.model_dump(exclude={"organization", "organization_id"}) == person.model_dump(
        exclude={"organization", "organization_id"}
    )
    [row] = await customers.caller_rows(session, ["+34612345678"], agent)
    assert customers.caller_card(row) == card and row["phone"] == "+34612345678"


async def test_a_screen_pop_is_logged_before_it_is_answered(
    live: tuple[httpx.AsyncClient, dict[str, str]], database_url: str
) -> None:
    """The screen-pop and a timeline page run without a transaction: the access-log row of
    each is written by the statement that reads, committed, visible to anyone, by the time
    the answer arrives."""
    client, admin = live
    customer = await new_customer(
        client, admin, identifiers=[{"kind": "phone", "value": "+34 611 22 33 44"}]
    )
    pop = await client.get(
        "/v1/fichas/by-phone/%2B34611223344", params={"role": "support"}, headers=admin
    )
    assert pop.status_code == 200, pop.text
    page = await client.get(f"/v1/customers/{customer}/timeline", headers=admin)
    assert page.status_code == 200, page.text
    elsewhere = await asyncpg.connect(plain_url(database_url))
    try:
        logged = await elsewhere.fetch(
            "SELECT what, role FROM access_log WHERE customer_id = $1", UUID(customer)
        )
    finally:
        await elsewhere.close()
    assert sorted((r["what"], r["role"]) for r in logged) == [
        ("screen-pop:support", "admin"),
        ("timeline", "admin"),
    ]


async def test_only_a_screen_pop_that_shows_a_ficha_is_logged(
    client: httpx.AsyncClient, admin: dict[str, str], rich: dict[str, str], session: AsyncSession
) -> None:
    """The screen-pop reads the caller's cards and the ficha in one statement: candidates
    and an unknown number show no customer's data, and log no read; a ficha logs one."""
    await new_customer(
        client,
        admin,
        display_name="Oliver",
        identifiers=[{"kind": "phone", "value": "+61 2345 678"}],
    )

    async def logged() -> list[tuple[str, str]]:
        rows = await session.execute(text("SELECT customer_id::text, what FROM access_log"))
        return [(r[0], r[1]) for r in rows]

    before = await logged()
    for number, status in (("612345678", 300), ("%2B34699999999", 404)):
        pop = await client.get(
            f"/v1/fichas/by-phone/{number}", params={"role": "support"}, headers=admin
        )
        assert pop.status_code == status, pop.text
    assert await logged() == before
    pop = await client.get(
        "/v1/fichas/by-phone/612 34 56 78", params={"role": "support"}, headers=admin
    )
    assert pop.status_code == 200, pop.text
    assert await logged() == [*before, (rich["person"], "screen-pop:support")]


async def test_no_ficha_is_answered_when_its_read_cannot_be_logged(
    client: httpx.AsyncClient, admin: dict[str, str], rich: dict[str, str], session: AsyncSession
) -> None:
    await session.execute(
        text(
            "CREATE FUNCTION refuse_access_log() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'access log unavailable'; END $$"
        )
    )
    # On Citus the trigger goes on every shard of access_log (its refusal looks at
    # nothing else); one PostgreSQL takes the setting as an unused placeholder.
    await session.execute(text("SET LOCAL citus.enable_unsafe_triggers = on"))
    await session.execute(
        text(
            "CREATE TRIGGER refuse BEFORE INSERT ON access_log "
            "FOR EACH ROW EXECUTE FUNCTION refuse_access_log()"
        )
    )
    await session.flush()
    pop = await client.get(
        "/v1/fichas/by-phone/612345678", params={"role": "support"}, headers=admin
    )
    assert pop.status_code == 500
    assert pop.headers["content-type"] == "application/problem+json"
    assert "Lucía" not in pop.text
    # A timeline page likewise: its events are read by the statement that logs the read.
    page = await client.get(f"/v1/customers/{rich['person']}/timeline", headers=admin)
    assert page.status_code == 500
    assert page.headers["content-type"] == "application/problem+json"
    assert '"items"' not in page.text


@pytest.mark.parametrize("role", sorted(DEFAULT_TEMPLATES))
async def test_a_ficha_read_again_later_is_not_modified(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    rich: dict[str, str],
    clock: ControlledClock,
    role: str,
) -> None:
    """Every section of every job's card: a card made later that shows the same answers
    304 to the first one's ETag."""
    url = f"/v1/customers/{rich['person']}/ficha"
    first = await client.get(url, params={"role": role}, headers=admin)
    assert first.status_code == 200, first.text
    clock.advance(timedelta(seconds=30))
    again = await client.get(
        url, params={"role": role}, headers={**admin, "If-None-Match": first.headers["etag"]}
    )
    assert again.status_code == 304


async def test_texts_are_offered_to_whoever_prefers_them_with_consent(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    """A customer who prefers SMS was never offered `sms`: it is, with the service consent
    for it (marketing needs the marketing one); WhatsApp likewise; never to a do-not-call."""
    customer = await new_customer(
        client, admin, identifiers=[{"kind": "phone", "value": "+34 622 11 22 33"}]
    )

    async def actions(role: str = "support") -> list[dict[str, str]]:
        card = await ficha(client, admin, customer, role)
        return [{"type": a["type"], "target": a["target"]} for a in card["actions"]]

    async def prefer(**preferences: Any) -> None:
        url = f"/v1/customers/{customer}/preferences"
        response = await client.put(url, json=preferences, headers=admin)
        assert response.status_code == 200, response.text

    async def consent(channel: str, purpose: str, granted: bool) -> None:
        body = {"channel": channel, "purpose": purpose, "granted": granted, "source": "form"}
        response = await client.post(f"/v1/customers/{customer}/consents", json=body, headers=admin)
        assert response.status_code == 201, response.text

    call = {"type": "call", "target": "+34622112233"}
    sms = {"type": "sms", "target": "+34622112233"}
    await prefer(preferred_channel="sms")
    assert await actions() == [call], "no consent for service texts yet"
    await consent("sms", "service", True)
    assert await actions() == [call, sms]
    assert sms not in await actions("marketing")
    await consent("sms", "marketing", True)
    assert sms in await actions("marketing")
    await consent("whatsapp", "service", True)
    await prefer(preferred_channel="whatsapp")
    assert await actions() == [call, {"type": "whatsapp", "target": "+34622112233"}]
    await consent("whatsapp", "service", False)
    assert await actions() == [call]
    await prefer(preferred_channel="sms", do_not_call=True)
    assert await actions() == []


@pytest.mark.parametrize(
    ("lang", "flag", "title", "summary", "churn", "action"),
    [
        (
            "es",
            "Disputa abierta",
            "Disputa de pago abierta (pi_9)",
            "Llamada, 120 s",
            "3 contactos insatisfechos en 90 días",
            "Enviar email",
        ),
        (
            "pt",
            "Contestação aberta",
            "Contestação de pagamento aberta (pi_9)",
            "Chamada, 120 s",
            "3 contactos insatisfeitos em 90 dias",
            "Enviar email",
        ),
        (
            "fr",
            "Litige ouvert",
            "Litige de paiement ouvert (pi_9)",
            "Appel, 120 s",
            "3 contacts insatisfaits en 90 jours",
            "Envoyer un e-mail",
        ),
        (
            "en",
            "Open dispute",
            "Open payment dispute (pi_9)",
            "Call, 120 s",
            "3 unsatisfied contacts in 90 days",
            "Email",
        ),
    ],
)
async def test_what_a_ficha_writes_itself_is_in_its_language(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    rich: dict[str, str],
    lang: str,
    flag: str,
    title: str,
    summary: str,
    churn: str,
    action: str,
) -> None:
    """Flag labels, alert titles, default event summaries, why the churn risk is what it
    is and action names; a summary its source gave stays as given."""
    template = {
        "sections": [
            {"name": "identity"},
            {"name": "indicators"},
            {"name": "flags"},
            {"name": "recent_interactions", "types": ["call.*"]},
            {"name": "alerts"},
        ]
    }
    put = await client.put("/v1/ficha-templates/writer", json=template, headers=admin)
    assert put.status_code == 200, put.text
    card = await ficha(client, admin, rich["person"], "writer", lang=lang)
    sections = card["sections"]
    labels = {code: f["label"] for code, f in sections["flags"]["items"].items()}
    assert labels["open_dispute"] == flag
    assert title in [a["title"] for a in sections["alerts"]["items"]]
    assert sections["recent_interactions"]["items"][0]["summary"] == summary
    assert sections["indicators"]["churn_risk"]["churn_reason"] == churn
    assert [a["label"] for a in card["actions"]] == [action]
    assert LABELS[lang]["flag.at_risk"] == labels["at_risk"]


async def test_each_event_kind_shows_what_a_person_needs(
    client: httpx.AsyncClient, admin: dict[str, str], clock: ControlledClock
) -> None:
    """A note's text, a meeting's title and next step, the pages of each visit, a quote's
    amount and validity, a ticket's subject, status and resolution."""
    customer = await new_customer(client, admin, display_name="Eva")
    minutes = 1 / (24 * 60)
    for type_, days, payload in (
        ("note.added", 9, {"text": "Wants the invoice by post", "pinned": True}),
        ("meeting.held", 8, {"title": "Renewal", "next_step": "Send the new prices"}),
        (
            "quote.sent",
            7,
            {"quote_id": "Q-7", "amount": "900.00", "currency": "EUR", "valid_until": "2026-12-31"},
        ),
        ("ticket.opened", 6, {"ticket_id": "T9", "subject": "Broken zip", "status": "open"}),
        ("ticket.resolved", 5, {"ticket_id": "T9", "resolution": "Replaced"}),
        ("web.page_viewed", 2, {"url": "https://shop.example/"}),
        ("web.page_viewed", 2 - 5 * minutes, {"url": "https://shop.example/boots"}),
        ("web.page_viewed", 2 - 10 * minutes, {"url": "https://shop.example/cart"}),
        ("web.page_viewed", 1, {"url": "https://shop.example/returns"}),
    ):
        body = {"type": type_, "occurred_at": ago(clock, days), "payload": payload}
        response = await append(client, admin, customer, body)
        assert response.status_code == 201, response.text
    kinds = ["note.*", "meeting.*", "quote.*", "ticket.*", "web.*"]
    template = {
        "sections": [
            {"name": "identity"},
            {"name": "indicators"},
            {"name": "flags"},
            {"name": "recent_interactions", "limit": 20, "types": kinds},
        ]
    }
    put = await client.put("/v1/ficha-templates/everything", json=template, headers=admin)
    assert put.status_code == 200, put.text
    card = await ficha(client, admin, customer, "everything", lang="es")
    items = card["sections"]["recent_interactions"]["items"]
    single, visit, resolved, opened, quote, meeting, note = items
    assert single["summary"] == "Página vista"
    assert single["pages"] == ["https://shop.example/returns"]
    assert visit["pages"] == [
        "https://shop.example/",
        "https://shop.example/boots",
        "https://shop.example/cart",
    ]
    assert visit["summary"] == "Visita, 3 páginas"
    assert (resolved["status"], resolved["resolution"]) == ("resolved", "Replaced")
    assert (opened["subject"], opened["status"]) == ("Broken zip", "open")
    assert quote["amount"] == {"amount": "900.00", "currency": "EUR"}
    assert quote["valid_until"] == "2026-12-31"
    assert (meeting["title"], meeting["next_step"]) == ("Renewal", "Send the new prices")
    assert note["text"] == "Wants the invoice by post"


async def test_an_owned_only_key_reads_nothing_of_a_hidden_contact_on_its_organisations_card(
    client: httpx.AsyncClient, admin: dict[str, str], rich: dict[str, str], make_key: MakeKey
) -> None:
    """The organisation is agent-2's, its contact person (who bought, complained, owes)
    agent-1's: agent-2's owned-only key sees the organisation, and of the contact nothing
    at all (its timeline shows none of its events), on any role's card nor by phone."""
    url = f"/v1/customers/{rich['org']}"
    await hand_over(client, admin, rich["org"], "agent-2")
    added = await client.post(
        f"{url}/identifiers", json={"kind": "phone", "value": "+34 910 000 000"}, headers=admin
    )
    assert added.status_code == 201, added.text
    for role in ("support", "sales", "collections", "tech_support", "marketing", "community"):
        key = await make_key(Role(role), agent_id="agent-2", owned_only=True)
        timeline = await client.get(f"{url}/timeline", headers=key)
        assert timeline.json()["items"] == [], "the timeline shows none of the contact's"
        for read in (f"{url}/ficha", "/v1/fichas/by-phone/910000000"):
            card = await client.get(read, params={"role": role}, headers=key)
            assert card.status_code == 200, card.text
            assert not [word for word in PERSON_MARKERS if word in card.text], (
                role,
                read,
                card.text,
            )


async def test_a_corrected_event_shows_its_latest_correction_by_id_and_by_phone(
    client: httpx.AsyncClient, admin: dict[str, str], clock: ControlledClock
) -> None:
    """The card shows an event as its latest correction has it, as the indicators beside it
    count it: the summary the correction gives, else the service's own summary made again
    of the corrected fields (in the reader's language), and the corrected fields a card
    shows; an event no correction names is shown as written."""
    phone = [{"kind": "phone", "value": "+34611222333"}]
    customer = await new_customer(client, admin, identifiers=phone)
    written = {}
    for days, type_, payload in (
        (6, "order.placed", {"order_id": "SO-1", "total": "80.00", "currency": "EUR"}),
        (5, "order.placed", {"order_id": "SO-2", "total": "20.00", "currency": "EUR"}),
        (4, "ticket.opened", {"ticket_id": "T1", "subject": "Broken zip", "status": "open"}),
        (4, "order.placed", {"order_id": "SO-3", "total": "5.00", "currency": "EUR"}),
    ):
        body = {"type": type_, "occurred_at": ago(clock, days), "payload": payload}
        response = await append(client, admin, customer, body)
        assert response.status_code == 201, response.text
        written[payload.get("order_id") or payload["ticket_id"]] = response.json()["id"]
    for days, fixed, summary, payload in (
        (3, "SO-1", "Order SO-1: 60.00 EUR", {"total": "60.00"}),
        (2, "SO-1", None, {"total": "65.00"}),
        (3, "SO-2", "Order SO-2: 25.00 EUR", {"total": "25.00"}),
        (2, "T1", None, {"status": "closed", "subject": "Broken zipper"}),
    ):
        correction = {
            "type": "event.corrected",
            "occurred_at": ago(clock, days),
            "payload": {
                "corrects_event_id": written[fixed],
                "reason": "Wrong at first",
                "summary": summary,
                "payload": payload,
            },
        }
        response = await append(client, admin, customer, correction)
        assert response.status_code == 201, response.text
    recent = {"name": "recent_interactions", "limit": 5, "types": ["order.*", "ticket.*"]}
    for card in await _cards_by_id_and_phone(client, admin, customer, "+34611222333", [recent]):
        third, ticket, second, first = card["sections"]["recent_interactions"]["items"]
        assert first["summary"] == "Order placed SO-1 65.00 EUR"
        assert second["summary"] == "Order SO-2: 25.00 EUR"
        assert (ticket["subject"], ticket["status"]) == ("Broken zipper", "closed")
        assert third["summary"] == "Order placed SO-3 5.00 EUR"
    spanish = await ficha(client, admin, customer, "corrected", lang="es")
    _, _, second, first = spanish["sections"]["recent_interactions"]["items"]
    assert first["summary"].endswith(" SO-1 65.00 EUR") and first["summary"].startswith("Pedido")
    assert second["summary"] == "Order SO-2: 25.00 EUR", "a summary given stays as given"
    indicators = (await client.get(f"/v1/customers/{customer}/indicators", headers=admin)).json()
    assert indicators["value"]["lifetime_value"] == [{"amount": "95.00", "currency": "EUR"}]


async def test_a_corrected_field_the_card_cannot_show_leaves_the_event_as_written(
    client: httpx.AsyncClient, admin: dict[str, str], clock: ControlledClock, session: AsyncSession
) -> None:
    """A correction stored before the append judged its fields (a payload of any JSON) is
    shown only in the fields that are what the event's type says they are (an amount a
    decimal, a date a date, a subject a string): one that is not leaves that field as
    written, never the card unanswered."""
    phone = [{"kind": "phone", "value": "+34611222444"}]
    customer = await new_customer(client, admin, identifiers=phone)
    written = {}
    for type_, payload in (
        (
            "quote.sent",
            {"quote_id": "Q1", "amount": "900.00", "currency": "EUR", "valid_until": "2027-01-31"},
        ),
        ("ticket.opened", {"ticket_id": "T1", "subject": "Broken zip", "status": "open"}),
        ("web.page_viewed", {"url": "https://shop.example.com/zip"}),
    ):
        body = {"type": type_, "occurred_at": ago(clock, 3), "payload": payload}
        response = await append(client, admin, customer, body)
        assert response.status_code == 201, response.text
        written[type_] = response.json()["id"]
    for type_, fixed in (
        ("quote.sent", {"amount": "1,200.00", "valid_until": "next week"}),
        ("ticket.opened", {"subject": {"text": "Broken zipper"}, "status": ["closed"]}),
        ("web.page_viewed", {"url": 12}),
    ):
        correction = {"corrects_event_id": written[type_], "reason": "Typo", "payload": fixed}
        await session.execute(
            text(
                "INSERT INTO events (id, customer_id, type, occurred_at, channel, source, "
                "summary, payload, corrects_id) VALUES (gen_random_uuid(), :customer, "
                "'event.corrected', :at, 'system', 'api', 'Typo', CAST(:payload AS jsonb), "
                ":fixed)"
            ),
            {
                "customer": customer,
                "at": clock.ago(days=2),
                "payload": json.dumps(correction),
                "fixed": written[type_],
            },
        )
    sections = [
        {"name": "recent_interactions", "limit": 5, "types": ["ticket.*", "web.*"]},
        {"name": "opportunities_and_quotes"},
    ]
    for card in await _cards_by_id_and_phone(client, admin, customer, "+34611222444", sections):
        sections = card["sections"]
        [quote] = sections["opportunities_and_quotes"]["items"]
        assert quote["amount"] == {"amount": "900.00", "currency": "EUR"}
        assert quote["valid_until"] == "2027-01-31"
        visit, ticket = sections["recent_interactions"]["items"]
        assert (ticket["subject"], ticket["status"]) == ("Broken zip", "open")
        assert visit["pages"] == ["https://shop.example.com/zip"]


async def _cards_by_id_and_phone(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    customer: str,
    phone: str,
    sections: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    """The customer's card of a role showing ``sections`` (after the identity, indicators
    and flags), read by its id and by its phone."""
    always = [{"name": "identity"}, {"name": "indicators"}, {"name": "flags"}]
    template = {"sections": always + sections}
    put = await client.put("/v1/ficha-templates/corrected", json=template, headers=admin)
    assert put.status_code == 200, put.text
    by_phone = await client.get(
        f"/v1/fichas/by-phone/{phone}", params={"role": "corrected"}, headers=admin
    )
    assert by_phone.status_code == 200, by_phone.text
    return [await ficha(client, admin, customer, "corrected"), by_phone.json()]
