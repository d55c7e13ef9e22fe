"""The segment statements (the driver path): one SQL text for a page and for its counts."""

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from app.core.db import Executor, driver_connection
from app.core.security import Principal
from app.customers.visibility import hides_contacts_sql, visibility_args, visible_sql

_SEGMENT = (
    """
WITH base AS (
    SELECT c.id, c.display_name, c.preferred_language, c.tier, c.address,
           coalesce((c.preferences->>'do_not_call')::boolean, false) AS do_not_call
    FROM customers c LEFT JOIN customer_stats s ON s.customer_id = c.id
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
), judged AS (
    SELECT b.*,
        (SELECT k.granted FROM customer_consents k
          WHERE k.customer_id = b.id AND k.channel = $13 AND k.purpose = $14
          ORDER BY k.recorded_at DESC, k.id DESC LIMIT 1) AS consent,
        CASE WHEN $13 = 'email' THEN
               (SELECT min(i.value) FROM customer_identifiers i
                 WHERE i.customer_id = b.id AND i.kind = 'email')
             WHEN $13 IN ('phone', 'sms', 'whatsapp') THEN
               (SELECT min(i.value) FROM customer_identifiers i
                 WHERE i.customer_id = b.id AND i.kind = 'phone')
             ELSE concat_ws(', ', b.address->>'street', b.address->>'postal_code',
                            b.address->>'city', b.address->>'country')
        END AS contact
    FROM base b
)
"""
)


_SEGMENT_PAGE = (
    _SEGMENT + "SELECT id, display_name, preferred_language, tier, contact FROM judged "
    "WHERE consent IS TRUE AND NOT ($13 = 'phone' AND do_not_call) "
    "AND nullif(contact, '') IS NOT NULL "
    "AND ($17::uuid IS NULL OR id > $17) ORDER BY id LIMIT $18"
)


_SEGMENT_COUNTS = (
    _SEGMENT + "SELECT count(*) AS matched, "
    "count(*) FILTER (WHERE consent IS NOT TRUE) AS no_consent, "
    "count(*) FILTER (WHERE consent IS TRUE AND $13 = 'phone' AND do_not_call) AS do_not_call, "
    "count(*) FILTER (WHERE consent IS TRUE AND NOT ($13 = 'phone' AND do_not_call) "
    "AND nullif(contact, '') IS NULL) AS no_contact FROM judged"
)


async def segment(
    on: Executor, args: Sequence[Any], principal: Principal, after: UUID | None, limit: int
) -> Any:
    """A page of reachable customers ``principal`` may see (filters in ``args``)."""
    conn = await driver_connection(on)
    return await conn.fetch(_SEGMENT_PAGE, *args, *visibility_args(principal), after, limit)


async def segment_counts(on: Executor, args: Sequence[Any], principal: Principal) -> Any:
    """How many of the customers ``principal`` may see match, and why some are left out."""
    conn = await driver_connection(on)
    return await conn.fetchrow(_SEGMENT_COUNTS, *args, *visibility_args(principal))
