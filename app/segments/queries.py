"""The segment statements (the driver path): one SQL text for a page and for its counts."""

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from app.core.db import Executor, after_id, driver_connection
from app.core.security import Principal
from app.customers.visibility import hides_contacts_sql, visibility_args, visible_sql

# The segment's members: the customers with their stats and their latest consent for the
# channel and purpose, all read on the customer's shard. The e-mail or phone each holds is
# read apart, by holder: on Citus identifiers live on their value's shard, so a probe
# correlated with the customer's row was refused. On one PostgreSQL both are index probes
# by ``customer_id``, as the correlated probes were.
_MEMBERS = (
    """
WITH base AS (
    SELECT c.id, c.display_name, c.preferred_language, c.tier,
           concat_ws(', ', c.address->>'street', c.address->>'postal_code',
                     c.address->>'city', c.address->>'country') AS postal,
           coalesce((c.preferences->>'do_not_call')::boolean, false) AS do_not_call,
           k.granted AS consent
    FROM customers c LEFT JOIN customer_stats s ON s.customer_id = c.id
    LEFT JOIN LATERAL (
        SELECT (array_agg(k.granted ORDER BY k.recorded_at DESC, k.id DESC))[1] AS granted
        FROM customer_consents k
        WHERE k.customer_id = c.id AND k.channel = $13 AND k.purpose = $14) k ON true
    WHERE c.status = 'active' AND """
    + visible_sql("c", "$15", "$16")
    + """
      AND ($1::text[] IS NULL OR c.tier = ANY($1))
      AND ($2::text[] IS NULL OR c.tags @> $2)
      AND ($3::text IS NULL OR c.owner_id = $3)
      AND ($4::text[] IS NULL OR coalesce(s.value_segment, 'none') = ANY($4))
      AND ($5::text[] IS NULL OR coalesce(s.churn_risk, 'low') = ANY($5))
      AND ($6::text IS NULL OR s.flags @> ARRAY[$6])
      AND ($7::boolean IS NULL OR (coalesce(s.open_orders, 0) > 0) = $7)
      AND ($8::timestamptz IS NULL OR s.last_purchase_at < $8)
      AND ($9::timestamptz IS NULL OR s.last_purchase_at >= $9)
      AND ($10::text IS NULL OR EXISTS (
            SELECT 1 FROM jsonb_each(s.state->'orders') o WHERE o.value->'skus' ? $10))
      AND ($11::text IS NULL OR lower(c.preferred_language) LIKE lower($11) || '%')
      AND ($12::text IS NULL OR upper(c.address->>'country') = upper($12))
      -- An organisation's stats count its contact persons: those filters do not choose
      -- one some of whose contact persons the key cannot see.
      AND (num_nonnulls($4, $5, $6, $7, $8, $9, $10) = 0 OR NOT """
    + hides_contacts_sql("c", "$15", "$16")
    + """)
)
"""
)

# Which identifier kind reaches a customer on each channel (the post: the address).
_KIND_OF_CHANNEL = {"email": "email", "phone": "phone", "sms": "phone", "whatsapp": "phone"}
_KIND = (
    "CASE WHEN $13 = 'email' THEN 'email' WHEN $13 IN ('phone', 'sms', 'whatsapp') THEN 'phone' END"
)

# The next members that may be contacted, in id order, before their identifiers are read:
# by index on one PostgreSQL, so a page stops at its size; a top-N on each shard on Citus.
# By post, only those with an address.
_CANDIDATES = (
    _MEMBERS + "SELECT id, display_name, preferred_language, tier, postal FROM base "
    "WHERE consent IS TRUE AND NOT ($13 = 'phone' AND do_not_call) "
    "AND (" + _KIND + " IS NOT NULL OR nullif(postal, '') IS NOT NULL) "
    "AND " + after_id("id", "$17") + " ORDER BY id LIMIT $18"
)

# The most candidates read at once while looking for a page's members with a contact.
_MOST = 5000

# The e-mail or phone of each of these customers (the least, when they hold several).
_HELD = (
    "SELECT customer_id, min(value) AS value FROM customer_identifiers "
    "WHERE customer_id = ANY($1::uuid[]) AND kind = $2 GROUP BY customer_id"
)

# The counts read the whole segment, its identifiers by the members' ids at once.
_SEGMENT_COUNTS = (
    _MEMBERS + ", held AS (SELECT i.customer_id, min(i.value) AS value "
    "FROM customer_identifiers i WHERE i.customer_id = ANY(ARRAY(SELECT id FROM base)) "
    "AND i.kind = " + _KIND + " GROUP BY i.customer_id), "
    "judged AS (SELECT b.*, CASE WHEN " + _KIND + " IS NOT NULL THEN h.value ELSE b.postal END "
    "AS contact FROM base b LEFT JOIN held h ON h.customer_id = b.id) "
    "SELECT count(*) AS matched, "
    "count(*) FILTER (WHERE consent IS NOT TRUE) AS no_consent, "
    "count(*) FILTER (WHERE consent IS TRUE AND $13 = 'phone' AND do_not_call) AS do_not_call, "
    "count(*) FILTER (WHERE consent IS TRUE AND NOT ($13 = 'phone' AND do_not_call) "
    "AND nullif(contact, '') IS NULL) AS no_contact FROM judged"
)


async def segment(
    on: Executor, args: Sequence[Any], principal: Principal, after: UUID | None, limit: int
) -> list[dict[str, Any]]:
    """A page of reachable customers ``principal`` may see (filters in ``args``): the next
    candidates, then their identifiers, again past the last candidate while some lacked
    one (each time twice as many)."""
    conn = await driver_connection(on)
    kind = _KIND_OF_CHANNEL.get(args[12])
    page: list[dict[str, Any]] = []
    wanted = limit
    while len(page) < limit:
        rows = await conn.fetch(_CANDIDATES, *args, *visibility_args(principal), after, wanted)
        if not rows:
            break
        if kind is None:
            held = {r["id"]: r["postal"] for r in rows}
        else:
            found = await conn.fetch(_HELD, [r["id"] for r in rows], kind)
            held = {h["customer_id"]: h["value"] for h in found}
        page += [
            {
                "id": r["id"],
                "display_name": r["display_name"],
                "preferred_language": r["preferred_language"],
                "tier": r["tier"],
                "contact": held[r["id"]],
            }
            for r in rows
            if held.get(r["id"])
        ]
        if len(rows) < wanted:
            break
        after, wanted = rows[-1]["id"], min(wanted * 2, _MOST)
    return page[:limit]


async def segment_counts(on: Executor, args: Sequence[Any], principal: Principal) -> Any:
    """How many of the customers ``principal`` may see match, and why some are left out."""
    conn = await driver_connection(on)
    return await conn.fetchrow(_SEGMENT_COUNTS, *args, *visibility_args(principal))
