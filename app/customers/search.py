"""Finding customers: identify by one identifier (the fast path) and search."""

import contextlib
import math
import re
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import Executor
from app.core.pagination import InvalidCursor, cursor_id, decode_cursor, keyset_page
from app.core.security import Principal
from app.customers import queries
from app.customers.identifiers import (
    IdentifierKind,
    normalize_email,
    normalize_given,
    normalize_identifier,
)
from app.customers.queries import Identified
from app.customers.repository import CustomerRepository, SearchFilters
from app.customers.schemas import (
    CustomerKind,
    CustomerPage,
    CustomerStatus,
    CustomerSummary,
    Tier,
)
from app.customers.service import identifier_out

_LIKE_SPECIALS = re.compile(r"[%_\\]")


async def identify(
    on: Executor, kind: IdentifierKind, values: Sequence[str], principal: Principal
) -> list[Identified]:
    """Who an already-normalised identifier (or any reading of a caller id) names, among
    the customers the caller may see."""
    return await queries.identified(on, kind.value, values, principal)


def search_filters(
    *,
    q: str | None,
    phone: str | None,
    email: str | None,
    external_id: str | None,
    owner_id: str | None,
    tier: Tier | None,
    tag: str | None,
    kind: CustomerKind | None,
    status: CustomerStatus | None,
    default_region: str,
) -> SearchFilters:
    """Normalise the search parameters; a malformed phone, email or id is a 422 naming it."""
    identifiers = normalize_given(
        {"phone": phone, "email": email, "external_id": external_id}, default_region, "query"
    )
    words: list[str] = []
    q_identifiers: list[tuple[str, str]] = []
    q_email_prefix = None
    if q is not None and q.strip():
        text = q.strip()
        if "@" in text:
            try:
                q_identifiers.append(("email", normalize_email(text)))
            except ValueError:
                q_email_prefix = _LIKE_SPECIALS.sub("", text.lower())
        elif sum(ch.isdigit() for ch in text) >= 6:
            with contextlib.suppress(ValueError):
                q_identifiers.append(
                    ("phone", normalize_identifier(IdentifierKind.PHONE, text, default_region))
                )
        words = [w for w in (_LIKE_SPECIALS.sub("", w) for w in text.split()) if w][:8]
    return SearchFilters(
        words=words,
        q_identifiers=q_identifiers,
        q_email_prefix=q_email_prefix,
        identifiers=identifiers,
        owner_id=owner_id,
        tier=tier,
        tag=tag,
        kind=kind,
        status=status,
    )


def _finite_number(value: object) -> bool:
    """A JSON number a float holds (json.loads also reads NaN, Infinity and 400 digits)."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(float(value))
    except OverflowError:
        return False


async def search_customers(
    session: AsyncSession,
    filters: SearchFilters,
    principal: Principal,
    *,
    limit: int,
    cursor: str | None,
) -> CustomerPage:
    """One page of matching customers; the cursor continues exactly where the page ended."""
    after = None
    if cursor:
        rank = decode_cursor(cursor).get("rank")
        if rank is not None and not _finite_number(rank):
            raise InvalidCursor("The cursor is not one this service issued.")
        position = cursor_id(cursor, "id")
        assert position is not None
        after = (None if rank is None else float(rank), position)
    repo = CustomerRepository(session)
    rows = await repo.search(filters, principal, limit=limit + 1, after=after)
    page, next_cursor = keyset_page(rows, limit, lambda r: {"rank": r[1], "id": str(r[0].id)})
    identifiers = await repo.identifiers_of([c.id for c, _ in page])
    organizations = await repo.visible_among(
        [c.organization_id for c, _ in page if c.organization_id], principal
    )
    items = [
        CustomerSummary(
            **{
                name: getattr(c, name)
                for name in CustomerSummary.model_fields
                if name not in {"identifiers", "organization_id"}
            },
            organization_id=c.organization_id if c.organization_id in organizations else None,
            identifiers=[identifier_out(i) for i in identifiers[c.id]],
        )
        for c, _ in page
    ]
    return CustomerPage(items=items, next_cursor=next_cursor)
