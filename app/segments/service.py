"""Segments: customers to contact for a campaign, with consent and do-not-call
enforced, as JSON pages or a CSV."""

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.pagination import cursor_id, keyset_page
from app.core.security import Principal
from app.customers.schemas import Tier
from app.segments import queries
from app.segments.schemas import SegmentMember, SegmentPage, SegmentQuery


def _segment_args(query: SegmentQuery) -> list[Any]:
    return [
        [t.value for t in query.tier] if query.tier else None,
        query.tags or None,
        query.owner_id,
        query.value_segment or None,
        query.churn_risk or None,
        query.has_flag,
        query.has_open_order,
        query.last_purchase_before,
        query.last_purchase_after,
        query.bought_sku,
        query.language,
        query.country,
        query.channel.value,
        query.purpose.value,
    ]


async def segment_page(
    session: AsyncSession, query: SegmentQuery, principal: Principal, *, counts: bool = True
) -> SegmentPage:
    """One page of reachable customers the caller may see, and how many of those the
    filters matched and left out."""
    args = _segment_args(query)
    after = cursor_id(query.cursor, "after")
    rows = await queries.segment(session, args, principal, after, query.limit + 1)
    page, next_cursor = keyset_page(rows, query.limit, lambda r: {"after": str(r["id"])})
    matched, excluded = 0, {}
    if counts:
        totals = await queries.segment_counts(session, args, principal)
        matched = totals["matched"]
        excluded = {k: totals[k] for k in ("no_consent", "do_not_call", "no_contact")}
    return SegmentPage(
        items=[
            SegmentMember(
                customer_id=r["id"],
                display_name=r["display_name"],
                language=r["preferred_language"],
                tier=Tier(r["tier"]),
                channel=query.channel,
                contact=r["contact"],
            )
            for r in page
        ],
        next_cursor=next_cursor,
        matched=matched,
        excluded=excluded,
    )
