"""Where a webhook subscription may point: a public address, unless the deployment lets
its receivers be on the service's own machine or network (CH_OUTBOUND_PRIVATE_NETWORKS,
as the other tests do for their receiver on 127.0.0.1)."""

import httpx
import pytest

from app.core.config import Settings


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"outbound_private_networks": False})


INTERNAL = [
    "http://127.0.0.1:5432/",  # the database port
    "http://169.254.169.254/latest/meta-data/",  # a cloud's metadata service
    "http://[::1]:6379/",
    "http://0.0.0.0:8000/",
    "http://10.0.0.5/hooks",
    "http://192.168.1.1/",
    "http://2130706433/",  # 127.0.0.1 written as one number
    "http://[::ffff:127.0.0.1]/",
    "http://[fe80::1]/",
    "http://[64:ff9b::7f00:1]/",  # 127.0.0.1 through a NAT64 gateway (RFC 6052)
    "http://[64:ff9b:1::a00:5]/",  # a NAT64 prefix for local use (RFC 8215)
    "http://[2002:a9fe:a9fe::1]/latest/meta-data/",  # 169.254.169.254 by 6to4 (RFC 3056)
    "http://localhost:8000/v1/me",
    "http://api.localhost/",
]


async def subscribe(client: httpx.AsyncClient, admin: dict[str, str], url: str) -> httpx.Response:
    return await client.post(
        "/v1/webhook-subscriptions", json={"url": url, "kinds": ["call.*"]}, headers=admin
    )


@pytest.mark.parametrize("url", INTERNAL)
async def test_a_url_on_the_services_own_machine_or_network_is_refused_naming_it(
    client: httpx.AsyncClient, admin: dict[str, str], url: str
) -> None:
    created = await subscribe(client, admin, url)
    assert created.status_code == 422, created.text
    assert [e["field"] for e in created.json()["errors"]] == ["body.url"]


@pytest.mark.parametrize(
    "url",
    ["http://[64:ff9b::808:808]/hooks", "http://[2002:808:808::1]/hooks", "http://8.8.8.8/hooks"],
)
async def test_a_public_address_is_taken_however_it_is_written(
    client: httpx.AsyncClient, admin: dict[str, str], url: str
) -> None:
    created = await subscribe(client, admin, url)
    assert created.status_code == 201, created.text


async def test_a_url_is_not_moved_onto_an_internal_address_either(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    created = await subscribe(client, admin, "https://crm.example.com/hooks")
    assert created.status_code == 201, created.text
    moved = await client.patch(
        created.headers["Location"], json={"url": "http://127.0.0.1:5432/"}, headers=admin
    )
    assert moved.status_code == 422, moved.text
    assert [e["field"] for e in moved.json()["errors"]] == ["body.url"]
    kept = await client.get(created.headers["Location"], headers=admin)
    assert kept.json()["url"] == "https://crm.example.com/hooks"
