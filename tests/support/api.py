"""Calls to the service's HTTP API that many tests make: a customer, an event, an append,
a timeline page. Each asserts only that the call did what it was for."""

from datetime import UTC, datetime
from typing import Any

import httpx

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


async def create_customer(
    client: httpx.AsyncClient, headers: dict[str, str], **body: Any
) -> dict[str, Any]:
    """``POST /v1/customers`` with ``body`` (201): the customer as answered."""
    response = await client.post("/v1/customers", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def new_customer(client: httpx.AsyncClient, headers: dict[str, str], **body: Any) -> str:
    """A new customer's id; named Ana Ruiz unless ``body`` says otherwise."""
    customer = await create_customer(client, headers, **{"display_name": "Ana Ruiz", **body})
    return str(customer["id"])


def event(type_: str = "note.added", at: datetime = T0, **extra: Any) -> dict[str, Any]:
    """The body of an append: ``type_`` with a typical payload, at ``at``."""
    payloads = {
        "note.added": {"text": "Called about the invoice"},
        "call.completed": {"from": "+34612345678", "duration_s": 180, "agent": "agent-1"},
        "call.missed": {"from": "+34612345678"},
        "order.placed": {
            "order_id": "SO-1",
            "items": [{"sku": "BOOT-42", "name": "Boot", "qty": 1, "unit_price": "129.90"}],
            "total": "149.90",
            "currency": "EUR",
        },
        "email.received": {"from": "ana@example.com", "subject": "Where is my order?"},
    }
    return {
        "type": type_,
        "occurred_at": at.isoformat(),
        "payload": payloads.get(type_, {}),
        **extra,
    }


async def append(
    client: httpx.AsyncClient, headers: dict[str, str], customer: str, body: dict[str, Any]
) -> httpx.Response:
    """``POST /v1/customers/{customer}/events``, answered as it is."""
    return await client.post(f"/v1/customers/{customer}/events", json=body, headers=headers)


async def timeline(
    client: httpx.AsyncClient, headers: dict[str, str], customer: str, **params: Any
) -> dict[str, Any]:
    """One page of the customer's timeline (200)."""
    response = await client.get(
        f"/v1/customers/{customer}/timeline", params=params, headers=headers
    )
    assert response.status_code == 200, response.text
    return dict(response.json())
