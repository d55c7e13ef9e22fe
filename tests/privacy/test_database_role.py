"""The service's database role: not a superuser, not the owner, and no session setting
lets it change the history; erasure and retention pass through functions of the owner."""

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from tests.support.api import append, event, new_customer

OWNER = "(SELECT tableowner FROM pg_tables WHERE schemaname = 'public' AND tablename = 'events')"


async def test_the_service_connects_as_neither_superuser_nor_owner(session: AsyncSession) -> None:
    role = (
        await session.execute(
            text(
                "SELECT r.rolsuper, r.rolcreaterole, r.rolbypassrls, current_user = "
                f"{OWNER} AS owns FROM pg_roles r WHERE r.rolname = current_user"
            )
        )
    ).one()
    assert not role.rolsuper and not role.rolcreaterole and not role.rolbypassrls
    assert not role.owns
    for privilege in ("UPDATE", "DELETE", "TRUNCATE"):
        assert not await session.scalar(
            text("SELECT has_table_privilege('events', :p)"), {"p": privilege}
        ), privilege
    assert await session.scalar(text("SELECT has_table_privilege('events', 'INSERT')"))


@pytest.mark.parametrize(
    "attempt",
    [
        ["SET ch.privileged_maintenance = 'on'", "UPDATE events SET summary = 'rewritten'"],
        ["SELECT set_config('ch.privileged_maintenance', 'on', false)", "DELETE FROM events"],
        ["SET LOCAL ch.privileged_maintenance = 'on'", "TRUNCATE events CASCADE"],
        ["SET session_replication_role = replica", "DELETE FROM events"],
        ["ALTER TABLE events DISABLE TRIGGER events_append_only"],
        [f"DO $$ BEGIN EXECUTE format('SET ROLE %I', {OWNER}); END $$", "DELETE FROM events"],
        [f"DO $$ BEGIN EXECUTE format('SET SESSION AUTHORIZATION %I', {OWNER}); END $$"],
    ],
    ids=[
        "setting",
        "set_config",
        "truncate",
        "replication_role",
        "disable_trigger",
        "set_role",
        "session_authorization",
    ],
)
async def test_no_session_setting_lets_the_service_change_the_history(
    client: httpx.AsyncClient, admin: dict[str, str], session: AsyncSession, attempt: list[str]
) -> None:
    customer = await new_customer(client, admin)
    stored = (await append(client, admin, customer, event())).json()
    with pytest.raises(DBAPIError, match=r"permission denied|must be owner|append-only"):
        async with session.begin_nested():
            for statement in attempt:
                await session.execute(text(statement))
    kept = await session.scalar(
        text("SELECT summary FROM events WHERE id = :id"), {"id": stored["id"]}
    )
    assert kept == stored["summary"]


async def test_the_service_cannot_expire_history_by_itself(
    client: httpx.AsyncClient, admin: dict[str, str], session: AsyncSession
) -> None:
    """Retention deletes events of a type before a time, whatever the arguments: open to
    the service, one statement would have emptied the history of every order. It runs as
    the owner (``customer-history retention run``); the service may call only the erasure."""
    customer = await new_customer(client, admin)
    await append(client, admin, customer, event())
    with pytest.raises(DBAPIError, match="permission denied"):
        async with session.begin_nested():
            await session.execute(
                text("SELECT * FROM ch_expire_events('note.added', 'infinity', 1000)")
            )
    assert await session.scalar(text("SELECT count(*) FROM events")) == 1


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE access_log SET agent_id = 'nobody'",
        "DELETE FROM access_log",
        "DELETE FROM webhook_deliveries",
        "DELETE FROM delivery_customers",
        "DELETE FROM delivery_identifiers",
    ],
    ids=["rewrite_access_log", "empty_access_log", "drop_deliveries", "unlink", "unname"],
)
async def test_the_service_cannot_rewrite_who_read_what_nor_drop_what_platforms_sent(
    client: httpx.AsyncClient, admin: dict[str, str], session: AsyncSession, statement: str
) -> None:
    """The access log (who read which customer) and the raw deliveries are records too:
    only retention removes them, and it runs as the owner."""
    customer = await new_customer(client, admin)
    await client.get(f"/v1/customers/{customer}", headers=admin)  # an access-log row
    with pytest.raises(DBAPIError, match="permission denied"):
        async with session.begin_nested():
            await session.execute(text(statement))
    assert await session.scalar(text("SELECT count(*) FROM access_log")) == 1
