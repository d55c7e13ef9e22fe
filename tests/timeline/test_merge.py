"""Merging duplicates joins their histories; unmerging restores both exactly."""

from datetime import timedelta
from typing import Any

import httpx

from tests.support.api import T0, append, event, new_customer, timeline

SYSTEM = {"customer.merged", "customer.unmerged"}


def own(items: list[dict[str, Any]]) -> list[str]:
    return [e["id"] for e in items if e["type"] not in SYSTEM]


async def identifiers(
    client: httpx.AsyncClient, headers: dict[str, str], customer: str
) -> set[tuple[str, str]]:
    body = (
        await client.get(f"/v1/customers/{customer}", params={"follow": "false"}, headers=headers)
    ).json()
    return {(i["kind"], i["value"]) for i in body["identifiers"]}


async def test_merge_then_unmerge_restores_both_exactly(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    ana = await new_customer(
        client,
        admin,
        display_name="Ana Ruiz",
        tier="vip",
        identifiers=[
            {"kind": "phone", "value": "612345678"},
            {"kind": "email", "value": "ana@example.com"},
        ],
    )
    dup = await new_customer(
        client,
        admin,
        display_name="A. Ruiz",
        tier="standard",
        identifiers=[
            {"kind": "phone", "value": "699000111"},
            {"kind": "external", "value": "shop:customer:9"},
        ],
    )
    for minute in range(3):
        await append(client, admin, ana, event(at=T0 + timedelta(minutes=minute)))
    for minute in range(2):
        await append(
            client, admin, dup, event("call.missed", at=T0 + timedelta(minutes=10 + minute))
        )
    ana_before = own((await timeline(client, admin, ana))["items"])
    dup_before = own((await timeline(client, admin, dup))["items"])
    ana_ids, dup_ids = await identifiers(client, admin, ana), await identifiers(client, admin, dup)

    preview = await client.post(
        f"/v1/customers/{ana}/merge",
        json={"source_customer_id": dup, "dry_run": True},
        headers=admin,
    )
    assert preview.status_code == 200, preview.text
    body = preview.json()
    assert body["merge_id"] is None and body["events_by_type"] == {"call.missed": 2}
    assert {(i["kind"], i["value"]) for i in body["identifiers"]} == dup_ids
    conflicts = {c["field"]: (c["survivor"], c["absorbed"]) for c in body["conflicting_fields"]}
    assert conflicts["display_name"] == ("Ana Ruiz", "A. Ruiz") and conflicts["tier"] == (
        "vip",
        "standard",
    )
    assert await identifiers(client, admin, dup) == dup_ids, "a dry run changes nothing"

    merged = await client.post(
        f"/v1/customers/{ana}/merge", json={"source_customer_id": dup}, headers=admin
    )
    assert merged.status_code == 200 and merged.json()["merge_id"]
    assert await identifiers(client, admin, ana) == ana_ids | dup_ids
    joined = (await timeline(client, admin, ana))["items"]
    assert set(own(joined)) == set(ana_before) | set(dup_before)
    found = await client.get("/v1/identify", params={"phone": "699000111"}, headers=admin)
    assert found.json()["customer_id"] == ana

    redirect = await client.get(f"/v1/customers/{dup}", headers=admin, follow_redirects=False)
    assert redirect.status_code == 308 and redirect.headers["location"].endswith(
        f"/v1/customers/{ana}"
    )
    raw = (
        await client.get(f"/v1/customers/{dup}", params={"follow": "false"}, headers=admin)
    ).json()
    assert raw["status"] == "merged" and raw["merged_into"] == ana
    late = await append(client, admin, dup, event("email.received", at=T0 + timedelta(hours=5)))
    assert late.json()["customer_id"] == ana, "appends to a merged customer land on the survivor"

    undone = await client.post(
        f"/v1/customers/{ana}/unmerge", json={"source_customer_id": dup}, headers=admin
    )
    assert undone.status_code == 200, undone.text
    assert undone.json()["identifiers_restored"] == 2
    assert await identifiers(client, admin, ana) == ana_ids
    assert await identifiers(client, admin, dup) == dup_ids
    assert own((await timeline(client, admin, dup))["items"]) == dup_before
    assert set(own((await timeline(client, admin, ana))["items"])) == set(ana_before) | {
        late.json()["id"]
    }
    restored = (await client.get(f"/v1/customers/{dup}", headers=admin)).json()
    assert restored["status"] == "active" and restored["merged_into"] is None
    for customer in (ana, dup):
        types = [
            e["type"] for e in (await timeline(client, admin, customer, type="customer.*"))["items"]
        ]
        assert sorted(types) == ["customer.merged", "customer.unmerged"]

    again = await client.post(
        f"/v1/customers/{ana}/unmerge", json={"source_customer_id": dup}, headers=admin
    )
    assert again.status_code == 409, "both exist: the merge is undone already"


async def test_unmerging_customers_never_merged_is_a_conflict(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    # Found by schemathesis: a 404, as if one of the two customers did not exist.
    ana = await new_customer(client, admin)
    other = await new_customer(client, admin, display_name="Other")
    response = await client.post(
        f"/v1/customers/{ana}/unmerge", json={"source_customer_id": other}, headers=admin
    )
    assert response.status_code == 409, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"] == f"Customer {other} is not merged into {ana}."


async def test_merge_refusals(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    ana = await new_customer(client, admin)
    itself = await client.post(
        f"/v1/customers/{ana}/merge", json={"source_customer_id": ana}, headers=admin
    )
    assert itself.status_code == 422
    missing = await client.post(
        f"/v1/customers/{ana}/merge",
        json={"source_customer_id": "01a20ae6-6c63-76ee-b495-bd9894832cd9"},
        headers=admin,
    )
    assert (
        missing.status_code == 422
        and missing.json()["errors"][0]["field"] == "body.source_customer_id"
    )
    dup = await new_customer(client, admin, display_name="Dup")
    await client.post(f"/v1/customers/{ana}/merge", json={"source_customer_id": dup}, headers=admin)
    twice = await client.post(
        f"/v1/customers/{ana}/merge", json={"source_customer_id": dup}, headers=admin
    )
    assert twice.status_code == 409


async def test_chained_merges_join_every_history(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    ids = [await new_customer(client, admin, display_name=name) for name in ("A", "B", "C")]
    for index, customer in enumerate(ids):
        await append(
            client, admin, customer, event(at=T0 + timedelta(minutes=index), summary=f"e{index}")
        )
    await client.post(
        f"/v1/customers/{ids[1]}/merge", json={"source_customer_id": ids[0]}, headers=admin
    )
    await client.post(
        f"/v1/customers/{ids[2]}/merge", json={"source_customer_id": ids[1]}, headers=admin
    )
    summaries = {
        e["summary"] for e in (await timeline(client, admin, ids[2], type="note.added"))["items"]
    }
    assert summaries == {"e0", "e1", "e2"}
    hop = await client.get(f"/v1/customers/{ids[0]}", headers=admin, follow_redirects=False)
    assert hop.headers["location"].endswith(ids[2]), "a chain redirects straight to its survivor"
