"""Event keys are namespaced by who may write them, and no answer of the append paths
names a customer (or an event of one) that the caller cannot see."""

import json
from typing import Any

import httpx
import pytest

from app.core.security import Role
from tests.support.api import new_customer
from tests.support.fixtures import MakeKey

NDJSON = {"content-type": "application/x-ndjson"}
RESERVED = [
    "twilio",
    "aircall",
    "sendgrid-inbound",
    "sendgrid-events",
    "mailgun",
    "postmark",
    "shopify",
    "woocommerce",
    "stripe",
    "generic",
    "customer-history",
    "privacy",
]
NOTE = {"type": "note.added", "occurred_at": "2026-03-01T09:00:00Z", "payload": {"text": "t"}}


def order(key: str = "SO-1", total: str = "149.90", **extra: Any) -> dict[str, Any]:
    return {
        "type": "order.placed",
        "occurred_at": "2026-03-01T09:00:00Z",
        "source": "erp",
        "source_event_id": key,
        "payload": {"order_id": key, "total": total, "currency": "EUR"},
        **extra,
    }


async def bulk(
    client: httpx.AsyncClient, headers: dict[str, str], *lines: dict[str, Any]
) -> list[dict[str, Any]]:
    body = "".join(json.dumps(line) + "\n" for line in lines)
    response = await client.post("/v1/events/bulk", content=body, headers={**headers, **NDJSON})
    assert response.status_code == 200, response.text
    return [json.loads(r) for r in response.text.splitlines()]


@pytest.mark.parametrize("source", RESERVED)
async def test_api_writers_cannot_write_under_a_reserved_source(
    client: httpx.AsyncClient, admin: dict[str, str], source: str
) -> None:
    customer = await new_customer(client, admin)
    body = order(source=source)

    by_id = await client.post(f"/v1/customers/{customer}/events", json=body, headers=admin)
    by_ref = await client.post(
        "/v1/events", json={**body, "customer": {"id": customer}}, headers=admin
    )
    [line] = await bulk(client, admin, {**body, "customer": {"id": customer}})

    for answer in (by_id, by_ref):
        assert answer.status_code == 422, answer.text
        assert [e["field"] for e in answer.json()["errors"]] == ["body.source"]
    assert line["status"] == "error" and [e["field"] for e in line["errors"]] == ["line.1.source"]


async def test_another_owners_key_is_not_this_owners(
    client: httpx.AsyncClient, admin: dict[str, str], make_key: MakeKey
) -> None:
    key_a = await make_key(Role.INTEGRATION, agent_id="agent-a", owned_only=True)
    key_b = await make_key(Role.INTEGRATION, agent_id="agent-b", owned_only=True)
    customer_a = await new_customer(client, admin, owner_id="agent-a")
    customer_b = await new_customer(client, admin, owner_id="agent-b")
    theirs = await client.post(f"/v1/customers/{customer_b}/events", json=order(), headers=key_b)
    assert theirs.status_code == 201
    [their_line] = await bulk(client, key_b, order("SO-2", customer={"id": customer_b}))
    hidden = (customer_b, theirs.json()["id"], their_line["event_id"])

    same = await client.post(f"/v1/customers/{customer_a}/events", json=order(), headers=key_a)
    other = await client.post(
        "/v1/events", json=order("SO-2", "1.00", customer={"id": customer_a}), headers=key_a
    )
    [line] = await bulk(client, key_a, order("SO-2", customer={"id": customer_a}))

    assert (same.status_code, same.json()["customer_id"]) == (201, customer_a)
    assert (other.status_code, other.json()["customer_id"]) == (201, customer_a)
    assert line["status"] == "duplicate" and line["customer_id"] == customer_a
    for text in (same.text, other.text, json.dumps(line)):
        assert not any(h in text for h in hidden)
    # The owner's own retries behave as a retrying integration expects.
    retry = await client.post(f"/v1/customers/{customer_a}/events", json=order(), headers=key_a)
    assert (retry.status_code, retry.json()) == (200, same.json())
    changed = await client.post(
        f"/v1/customers/{customer_a}/events", json=order(total="2.00"), headers=key_a
    )
    assert (changed.status_code, changed.json()["event_id"]) == (409, same.json()["id"])


async def test_a_key_held_on_a_customer_no_longer_visible_names_nothing(
    client: httpx.AsyncClient, admin: dict[str, str], make_key: MakeKey
) -> None:
    key_a = await make_key(Role.INTEGRATION, agent_id="agent-a", owned_only=True)
    moved = await new_customer(client, admin, owner_id="agent-a")
    kept = await new_customer(
        client, admin, owner_id="agent-a", identifiers=[{"kind": "phone", "value": "+34600000002"}]
    )
    first = await client.post(f"/v1/customers/{moved}/events", json=order(), headers=key_a)
    keyed = await client.post(
        f"/v1/customers/{moved}/events",
        json=NOTE,
        headers={**key_a, "Idempotency-Key": "retry-7"},
    )
    assert (first.status_code, keyed.status_code) == (201, 201)
    etag = (await client.get(f"/v1/customers/{moved}", headers=admin)).headers["ETag"]
    handed = await client.patch(
        f"/v1/customers/{moved}",
        json={"owner_id": "agent-b"},
        headers={**admin, "If-Match": etag, "content-type": "application/merge-patch+json"},
    )
    assert handed.status_code == 200, handed.text
    hidden = (moved, first.json()["id"], keyed.json()["id"])

    same = await client.post(
        "/v1/events", json=order(customer={"phone": "+34600000002"}), headers=key_a
    )
    by_header = await client.post(
        f"/v1/customers/{kept}/events",
        json=NOTE,
        headers={**key_a, "Idempotency-Key": "retry-7"},
    )
    [line] = await bulk(client, key_a, order(customer={"id": kept}))

    for answer in (same, by_header):
        assert answer.status_code == 409, answer.text
        assert "event_id" not in answer.json()
    assert same.json()["detail"] == "The key 'SO-1' was used for a different event."
    assert line == {"line": 1, "status": "duplicate"}
    for text in (same.text, by_header.text, json.dumps(line)):
        assert not any(h in text for h in hidden)


@pytest.mark.parametrize(
    "kind, known, unknown",
    [
        ("phone", "+34600000003", "+34600000004"),
        ("email", "known@example.com", "unknown@example.com"),
    ],
)
async def test_an_owned_only_key_cannot_tell_anothers_customer_from_nobody(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    make_key: MakeKey,
    kind: str,
    known: str,
    unknown: str,
) -> None:
    await new_customer(
        client, admin, owner_id="agent-b", identifiers=[{"kind": kind, "value": known}]
    )
    key_a = await make_key(Role.INTEGRATION, agent_id="agent-a", owned_only=True)

    theirs = await client.post(
        "/v1/events", json={**NOTE, "customer": {kind: known}}, headers=key_a
    )
    nobody = await client.post(
        "/v1/events", json={**NOTE, "customer": {kind: unknown}}, headers=key_a
    )
    lines = await bulk(
        client, key_a, {**NOTE, "customer": {kind: known}}, {**NOTE, "customer": {kind: unknown}}
    )

    assert (theirs.status_code, theirs.json()) == (nobody.status_code, nobody.json())
    assert theirs.status_code == 404
    first, second = lines
    assert first | {"line": 2} == json.loads(json.dumps(second).replace("line.2.", "line.1."))


async def test_an_append_to_a_customer_merged_into_an_invisible_one_is_not_found(
    client: httpx.AsyncClient, admin: dict[str, str], make_key: MakeKey
) -> None:
    key_a = await make_key(Role.INTEGRATION, agent_id="agent-a", owned_only=True)
    absorbed = await new_customer(client, admin, owner_id="agent-a")
    survivor = await new_customer(client, admin, owner_id="agent-b")
    merged = await client.post(
        f"/v1/customers/{survivor}/merge", json={"source_customer_id": absorbed}, headers=admin
    )
    assert merged.status_code == 200, merged.text

    by_id = await client.post(f"/v1/customers/{absorbed}/events", json=NOTE, headers=key_a)
    by_ref = await client.post(
        "/v1/events", json={**NOTE, "customer": {"id": absorbed}}, headers=key_a
    )
    [line] = await bulk(client, key_a, {**NOTE, "customer": {"id": absorbed}})

    for answer in (by_id, by_ref):
        assert answer.status_code == 404, answer.text
    assert line["status"] == "error"
    for text in (by_id.text, by_ref.text, json.dumps(line)):
        assert survivor not in text
    timeline = await client.get(f"/v1/customers/{survivor}/timeline", headers=admin)
    assert "note.added" not in [e["type"] for e in timeline.json()["items"]]


async def test_a_source_named_like_another_keys_header_scope_claims_nothing(
    client: httpx.AsyncClient, admin: dict[str, str], make_key: MakeKey
) -> None:
    victim = await make_key(Role.INTEGRATION)
    victim_id = (await client.get("/v1/me", headers=victim)).json()["key_id"]
    customer = await new_customer(client, admin)
    squat = order("retry-1", source=f"idempotency-key:{victim_id}")
    assert (
        await client.post(f"/v1/customers/{customer}/events", json=squat, headers=admin)
    ).is_success

    answer = await client.post(
        f"/v1/customers/{customer}/events",
        json=NOTE,
        headers={**victim, "Idempotency-Key": "retry-1"},
    )

    assert answer.status_code == 201, answer.text


async def test_an_owned_only_key_finds_an_integrations_order_on_its_own_customer_only(
    client: httpx.AsyncClient, admin: dict[str, str], make_key: MakeKey
) -> None:
    """An agent's tool names the customer by an order the shop integration (unrestricted)
    recorded: found when the order is on the agent's customer; another owner's order
    answers exactly as an order never recorded."""
    mine = await new_customer(client, admin, owner_id="agent-a")
    theirs = await new_customer(client, admin, owner_id="agent-b")
    for customer, key in ((mine, "SO-A"), (theirs, "SO-B")):
        placed = await client.post(
            f"/v1/customers/{customer}/events", json=order(key), headers=admin
        )
        assert placed.status_code == 201, placed.text
    key_a = await make_key(Role.INTEGRATION, agent_id="agent-a", owned_only=True)

    def by_order(key: str) -> dict[str, Any]:
        return {**NOTE, "customer": {"event": {"source": "erp", "source_event_id": key}}}

    found = await client.post("/v1/events", json=by_order("SO-A"), headers=key_a)
    assert (found.status_code, found.json()["customer_id"]) == (201, mine)
    hidden = await client.post("/v1/events", json=by_order("SO-B"), headers=key_a)
    never = await client.post("/v1/events", json=by_order("SO-X"), headers=key_a)
    assert hidden.status_code == never.status_code == 422
    assert hidden.json()["errors"][0]["type"] == never.json()["errors"][0]["type"]
    assert hidden.text.replace("SO-B", "SO-X") == never.text
    assert theirs not in hidden.text
