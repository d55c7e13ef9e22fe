"""Conditional requests: If-None-Match answers 304 for a customer, a ficha and a screen-pop
whose representation has not changed; If-Match compares strong ETags only (RFC 9110)."""

from datetime import timedelta

import httpx
import pytest

from app.core.preconditions import if_match_allows, if_none_match_matches
from tests.support.clock import ControlledClock

PHONE = "+34612345678"


async def new_person(client: httpx.AsyncClient, admin: dict[str, str], **fields: object) -> str:
    body = {"display_name": "José Núñez", "identifiers": [{"kind": "phone", "value": PHONE}]}
    created = await client.post("/v1/customers", json={**body, **fields}, headers=admin)
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def test_if_match_compares_strong_etags_only() -> None:
    assert if_match_allows('"3"', 3)
    assert if_match_allows('"2", "3"', 3)
    assert if_match_allows("*", 3)
    assert not if_match_allows('W/"3"', 3), "a weak ETag never matches for a change"
    assert not if_match_allows('"2"', 3)


def test_if_none_match_compares_weakly() -> None:
    assert if_none_match_matches('"3"', '"3"')
    assert if_none_match_matches('W/"3"', '"3"')
    assert if_none_match_matches('"1", W/"abc"', 'W/"abc"')
    assert if_none_match_matches("*", '"3"')
    assert not if_none_match_matches('"2"', '"3"')
    assert not if_none_match_matches('"3', '"3"')


async def test_a_weak_if_match_is_refused_on_a_change(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    customer = await new_person(client, admin)
    url = f"/v1/customers/{customer}"
    headers = {**admin, "content-type": "application/merge-patch+json"}
    weak = await client.patch(url, json={"tier": "vip"}, headers={**headers, "If-Match": 'W/"1"'})
    assert weak.status_code == 412, weak.text
    assert weak.json()["current_etag"] == '"1"'
    strong = await client.patch(url, json={"tier": "vip"}, headers={**headers, "If-Match": '"1"'})
    assert strong.status_code == 200


async def test_an_if_match_that_is_no_etag_list_is_422_on_every_change(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    customer = await new_person(client, admin)
    url = f"/v1/customers/{customer}"
    changes = [
        ("PATCH", url, {"tier": "vip"}),
        ("PUT", f"{url}/preferences", {"do_not_call": True}),
        ("POST", f"{url}/identifiers", {"kind": "email", "value": "jose@example.com"}),
    ]
    for malformed in ("1", "W/1", '"1', '"1" "2"', "**"):
        for method, path, body in changes:
            response = await client.request(
                method, path, json=body, headers={**admin, "If-Match": malformed}
            )
            assert response.status_code == 422, (method, path, malformed, response.text)
            assert [e["field"] for e in response.json()["errors"]] == ["header.if-match"]
    for listed in ('"1"', ' "9" , "1" ', "*"):
        response = await client.put(
            f"{url}/preferences", json={"do_not_call": False}, headers={**admin, "If-Match": listed}
        )
        assert response.status_code in (200, 412), (listed, response.text)


async def test_customer_answers_304_while_its_etag_is_current(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    customer = await new_person(client, admin)
    url = f"/v1/customers/{customer}"
    first = await client.get(url, headers=admin)
    tag = first.headers["etag"]
    assert tag == '"1"'

    same = await client.get(url, headers={**admin, "If-None-Match": tag})
    assert same.status_code == 304
    assert same.content == b"" and same.headers["etag"] == tag
    assert "content-type" not in same.headers
    weakly = await client.get(url, headers={**admin, "If-None-Match": f'"9", W/{tag}'})
    assert weakly.status_code == 304, "If-None-Match compares weakly"

    patched = await client.patch(
        url,
        json={"tier": "vip"},
        headers={**admin, "content-type": "application/merge-patch+json", "If-Match": tag},
    )
    assert patched.status_code == 200
    changed = await client.get(url, headers={**admin, "If-None-Match": tag})
    assert changed.status_code == 200 and changed.json()["tier"] == "vip"
    assert changed.headers["etag"] == '"2"'


async def test_a_customer_showing_others_answers_in_full(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    """A person's organisation and an organisation's contacts are other customers, whose
    changes leave this customer's ETag as it is: a 304 could show a stale name."""
    org = await client.post(
        "/v1/customers",
        json={"kind": "organization", "display_name": "Talleres S.L."},
        headers=admin,
    )
    person = await new_person(client, admin, organization_id=org.json()["id"])
    for customer in (person, org.json()["id"]):
        url = f"/v1/customers/{customer}"
        tag = (await client.get(url, headers=admin)).headers["etag"]
        again = await client.get(url, headers={**admin, "If-None-Match": tag})
        assert again.status_code == 200 and again.headers["etag"] == tag


async def test_a_merged_customer_answers_in_full(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    """A merged customer's owner follows its survivor's (a trigger, no new version)."""
    survivor = await new_person(client, admin)
    duplicate = await client.post("/v1/customers", json={"display_name": "Dup"}, headers=admin)
    merged = await client.post(
        f"/v1/customers/{survivor}/merge",
        json={"source_customer_id": duplicate.json()["id"]},
        headers=admin,
    )
    assert merged.status_code == 200, merged.text
    url = f"/v1/customers/{duplicate.json()['id']}?follow=false"
    tag = (await client.get(url, headers=admin)).headers["etag"]
    again = await client.get(url, headers={**admin, "If-None-Match": tag})
    assert again.status_code == 200 and again.json()["status"] == "merged"


async def test_ficha_etag_follows_what_it_shows(
    client: httpx.AsyncClient, admin: dict[str, str], clock: ControlledClock
) -> None:
    customer = await new_person(client, admin)
    url = f"/v1/customers/{customer}/ficha"
    params = {"role": "support"}
    first = await client.get(url, params=params, headers=admin)
    assert first.status_code == 200
    tag = first.headers["etag"]
    assert tag.startswith('W/"'), "a weak ETag: the same card, not the same bytes forever"

    # Read a little later: the card is as of another instant, and shows the same.
    clock.advance(timedelta(seconds=5))
    same = await client.get(url, params=params, headers={**admin, "If-None-Match": tag})
    assert same.status_code == 304 and same.content == b"" and same.headers["etag"] == tag

    # Another language is another representation.
    english = await client.get(url, params={**params, "lang": "en"}, headers=admin)
    spanish = await client.get(url, params={**params, "lang": "es"}, headers=admin)
    assert english.headers["etag"] != spanish.headers["etag"]

    # Anything the ficha shows changes its ETag: here a call among its interactions.
    call = {
        "type": "call.completed",
        "occurred_at": "2026-01-05T10:00:00Z",
        "payload": {"from": PHONE, "duration_s": 60},
    }
    appended = await client.post(f"/v1/customers/{customer}/events", json=call, headers=admin)
    assert appended.status_code == 201, appended.text
    changed = await client.get(url, params=params, headers={**admin, "If-None-Match": tag})
    assert changed.status_code == 200 and changed.headers["etag"] != tag
    assert changed.json() != first.json()


async def test_screen_pop_answers_304_with_the_ficha_etag(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    customer = await new_person(client, admin)
    ficha = await client.get(f"/v1/customers/{customer}/ficha?role=support", headers=admin)
    url = f"/v1/fichas/by-phone/{PHONE}"
    first = await client.get(url, params={"role": "support"}, headers=admin)
    assert first.status_code == 200
    assert first.headers["etag"] == ficha.headers["etag"], "the same card, the same ETag"
    again = await client.get(
        url, params={"role": "support"}, headers={**admin, "If-None-Match": first.headers["etag"]}
    )
    assert again.status_code == 304 and again.headers["etag"] == first.headers["etag"]


@pytest.mark.parametrize("by", ["id", "phone"])
async def test_a_card_and_its_304_say_its_language_that_it_varies_and_is_private(
    client: httpx.AsyncClient, admin: dict[str, str], by: str
) -> None:
    """A cache keeps a card per Accept-Language, only in the reader's own cache, checked
    again before each use; the 304 says what the 200 says of the representation."""
    customer = await new_person(client, admin)
    url = f"/v1/customers/{customer}/ficha" if by == "id" else f"/v1/fichas/by-phone/{PHONE}"
    asked = {**admin, "Accept-Language": "fr-CA, pt;q=0.5"}
    full = await client.get(url, params={"role": "support"}, headers=asked)
    assert full.status_code == 200
    held = {**asked, "If-None-Match": full.headers["etag"]}
    not_modified = await client.get(url, params={"role": "support"}, headers=held)
    assert not_modified.status_code == 304
    for answer in (full, not_modified):
        assert answer.headers["content-language"] == "fr"
        assert "Accept-Language" in answer.headers["vary"].split(", ")
        assert answer.headers["cache-control"] == "private, no-cache"


async def test_reads_answered_304_are_still_in_the_access_log(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    customer = await new_person(client, admin)
    url = f"/v1/customers/{customer}/ficha?role=support"
    tag = (await client.get(url, headers=admin)).headers["etag"]
    assert (await client.get(url, headers={**admin, "If-None-Match": tag})).status_code == 304
    log = await client.get(f"/v1/customers/{customer}/access-log", headers=admin)
    assert [entry["what"] for entry in log.json()["items"]].count("ficha:support") == 2
