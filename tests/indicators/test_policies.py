"""A policy stored again takes its new config and the time of the change."""

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.indicators.service import put_policy
from tests.support.databases import transaction_start

STORED = "SELECT config, updated_at FROM policies WHERE name = 'probe_policy'"


async def test_a_policy_changed_is_dated_when_it_changed(session: AsyncSession) -> None:
    await put_policy(session, "probe_policy", {"days": 1})
    await session.execute(
        text("UPDATE policies SET updated_at = '2000-01-01' WHERE name = 'probe_policy'")
    )
    await put_policy(session, "probe_policy", {"days": 2})
    stored = (await session.execute(text(STORED))).one()
    assert stored.config == {"days": 2}
    assert stored.updated_at == await transaction_start(session)
