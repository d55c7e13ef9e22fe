"""Identify, routing and the screen-pop read a caller id the same way."""

import httpx

from tests.support.api import new_customer


async def test_international_digits_without_plus_are_recognised_by_all_three(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    """351912345678 is a Portuguese mobile written without its +: the ficha found it while
    identify and routing answered 422 (the default region, ES, has no such number)."""
    porto = await new_customer(
        client,
        admin,
        display_name="Rui Costa",
        tier="premium",
        identifiers=[{"kind": "phone", "value": "+351 912 345 678"}],
    )
    identified = await client.get("/v1/identify", params={"phone": "351912345678"}, headers=admin)
    assert identified.status_code == 200, identified.text
    assert identified.json()["customer_id"] == porto
    routed = await client.get("/v1/routing/by-phone/351912345678", headers=admin)
    assert routed.status_code == 200, routed.text
    assert routed.json()["customer_id"] == porto and routed.json()["phone"] == "+351912345678"
    assert routed.json()["tier"] == "premium"
    ficha = await client.get(
        "/v1/fichas/by-phone/351912345678", params={"role": "support"}, headers=admin
    )
    assert ficha.status_code == 200 and ficha.json()["customer_id"] == porto


async def test_a_caller_id_several_customers_may_own_is_not_guessed_by_any(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    """612345678 is +34 612 345 678 (the default region) or +61 2345 678: with both on
    file, identify and the screen-pop answer the candidates and routing treats the caller
    as unknown, saying why."""
    madrid = await new_customer(
        client, admin, identifiers=[{"kind": "phone", "value": "+34 612 345 678"}]
    )
    sydney = await new_customer(
        client,
        admin,
        display_name="Oliver Smith",
        identifiers=[{"kind": "phone", "value": "+61 2345 678"}],
    )
    identified = await client.get("/v1/identify", params={"phone": "612345678"}, headers=admin)
    assert identified.status_code == 300, identified.text
    assert {c["customer_id"] for c in identified.json()["candidates"]} == {madrid, sydney}
    pop = await client.get(
        "/v1/fichas/by-phone/612345678", params={"role": "support"}, headers=admin
    )
    assert pop.status_code == 300
    assert pop.json()["candidates"] == identified.json()["candidates"]
    routed = (await client.get("/v1/routing/by-phone/612345678", headers=admin)).json()
    assert routed["known"] is False and routed["customer_id"] is None
    assert routed["reasons"] == ["caller id +34612345678 or +612345678 names several customers"]
    # One reading on file: each of the three finds that customer.
    only = await client.get("/v1/identify", params={"phone": "612 34 56 78"}, headers=admin)
    assert only.status_code == 200 and only.json()["customer_id"] == madrid
    assert (await client.get("/v1/routing/by-phone/612%2034%2056%2078", headers=admin)).json()[
        "customer_id"
    ] == madrid


async def test_a_number_with_no_reading_is_a_422_naming_it_on_all_three(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    for url, params, field in (
        ("/v1/identify", {"phone": "12"}, "query.phone"),
        ("/v1/routing/by-phone/12", {}, "path.phone"),
        ("/v1/fichas/by-phone/12", {"role": "support"}, "path.phone"),
    ):
        response = await client.get(url, params=params, headers=admin)
        assert response.status_code == 422, url
        assert response.json()["errors"][0]["field"] == field, url
