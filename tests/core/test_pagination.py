"""Cursors are opaque, and one the service did not issue is a 400, never a 500."""

import httpx
import pytest

from app.core.pagination import decode_cursor, encode_cursor, keyset_page
from tests.support.api import new_customer

FOREIGN = [
    "%%%",
    encode_cursor({"something": "else"}),
    encode_cursor({"before": "not-a-uuid", "after": 3, "id": [], "t": "yesterday", "rank": "high"}),
]


@pytest.mark.parametrize("cursor", FOREIGN)
async def test_foreign_cursors_are_400_everywhere(
    client: httpx.AsyncClient, admin: dict[str, str], cursor: str
) -> None:
    org = await new_customer(client, admin, kind="organization", display_name="Org")
    for path in (
        "/v1/customers",
        f"/v1/customers/{org}/timeline",
        f"/v1/customers/{org}/contacts",
        f"/v1/customers/{org}/consents/history",
        f"/v1/customers/{org}/access-log",
        "/v1/alerts",
        "/v1/webhook-deliveries",
    ):
        response = await client.get(path, params={"cursor": cursor}, headers=admin)
        assert response.status_code == 400, (path, response.text)
        assert response.headers["content-type"] == "application/problem+json"
    segment = await client.post(
        "/v1/segments/query", json={"channel": "email", "cursor": cursor}, headers=admin
    )
    assert segment.status_code == 400


def test_a_keyset_page_resumes_after_its_last_row_and_only_when_more_follow() -> None:
    rows = [{"id": n} for n in range(4)]
    page, cursor = keyset_page(rows, 3, lambda r: {"after": r["id"]})
    assert page == rows[:3] and cursor is not None
    assert decode_cursor(cursor) == {"after": 2}
    assert keyset_page(rows[:3], 3, lambda r: {"after": r["id"]}) == (rows[:3], None)
