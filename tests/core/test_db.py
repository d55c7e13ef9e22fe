"""The driver connection is inside the request's transaction, never in autocommit; the
pool's connections in use are counted right; a burst's connections serve the next one."""

import asyncio
from types import SimpleNamespace

import asyncpg
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import text

from app.core.db import Database, DriverUnit, _counted_in, driver_connection

# A row the service's role may write, seen (or not) from another session afterwards.
PROBE = "INSERT INTO policies (name, config) VALUES ($1, '{}')"
FOUND = "SELECT count(*) FROM policies WHERE name = :n"


async def test_a_statement_on_the_driver_connection_rolls_back_with_the_session(
    database: Database,
) -> None:
    async with database.sessionmaker() as session:
        conn = await driver_connection(session)  # first statement of the transaction
        await conn.execute(PROBE, "rolled_back_probe")
        await session.rollback()
    async with database.sessionmaker() as session:
        found = await session.scalar(text(FOUND), {"n": "rolled_back_probe"})
    assert not found, "the driver statement must not outlive the rolled-back transaction"


async def test_driver_statements_commit_with_the_session(database: Database) -> None:
    async with database.sessionmaker() as session:
        conn = await driver_connection(session)
        await conn.execute(PROBE, "committed_probe")
        await session.commit()
    async with database.sessionmaker() as session:
        assert await session.scalar(text(FOUND), {"n": "committed_probe"})
        await session.execute(text("DELETE FROM policies WHERE name = 'committed_probe'"))
        await session.commit()


async def test_the_connections_a_burst_opened_serve_the_next_burst(service_url: str) -> None:
    """At the default settings, connections opened for concurrent requests stay open for
    the next ones: one closed on its return costs the next request a new connection and
    every statement prepared again (overflow connections did, and the screen-pop's rate
    halved under steady load from 16 callers)."""
    database = Database(service_url)  # the settings' defaults
    concurrent = 16

    async def burst() -> set[int]:
        all_out = asyncio.Barrier(concurrent)

        async def backend() -> int:
            async with database.engine.connect() as conn:
                pid = await conn.scalar(text("SELECT pg_backend_pid()"))
                await all_out.wait()  # each held until all are out at once
            return int(pid)

        return set(await asyncio.gather(*(backend() for _ in range(concurrent))))

    try:
        first = await burst()
        assert len(first) == concurrent
        for _ in range(2):
            assert await burst() == first
    finally:
        await database.dispose()


async def test_a_connection_given_back_inside_a_transaction_is_never_handed_out_again(
    service_url: str,
) -> None:
    """A unit of work cancelled while its BEGIN was in flight leaves the driver inside a
    transaction its adapter does not know of; the next unit of work on that connection
    was a savepoint of it, answered as committed and lost."""
    database = Database(service_url, pool_size=1)  # the next checkout: the same record
    try:
        async with database.engine.connect() as conn:
            driver = (await conn.get_raw_connection()).driver_connection
            assert isinstance(driver, asyncpg.Connection)
            stray = driver.transaction()
            await stray.start()  # as a cancelled begin leaves it, unknown to the adapter
            stray_backend = await driver.fetchval("SELECT pg_backend_pid()")
        async with database.sessionmaker() as session:
            unit = await driver_connection(session)
            backend = await unit.fetchval("SELECT pg_backend_pid()")
            await unit.execute(PROBE, "after_a_stray_transaction")
            await session.commit()
        assert backend != stray_backend
        assert await _found(database, "after_a_stray_transaction") == 1
    finally:
        async with database.sessionmaker() as session:
            await session.execute(
                text("DELETE FROM policies WHERE name = 'after_a_stray_transaction'")
            )
            await session.commit()
        await database.dispose()


def _in_use() -> float:
    return REGISTRY.get_sample_value("db_pool_connections_in_use") or 0.0


async def _found(database: Database, name: str) -> int:
    async with database.sessionmaker() as session:
        return int(await session.scalar(text(FOUND), {"n": name}) or 0)


async def test_a_driver_unit_commits_its_statements_and_its_session_s_changes_together(
    database: Database,
) -> None:
    async with DriverUnit(database) as unit:
        await (await unit.driver()).execute(PROBE, "unit_driver_probe")
        session = await unit.session()
        await session.execute(
            text("INSERT INTO policies (name, config) VALUES ('unit_orm_probe', '{}')")
        )
    assert await _found(database, "unit_driver_probe") == 1
    assert await _found(database, "unit_orm_probe") == 1


async def test_a_driver_unit_that_raises_leaves_nothing(database: Database) -> None:
    with pytest.raises(RuntimeError):
        async with DriverUnit(database) as unit:
            await (await unit.driver()).execute(PROBE, "unit_failed_probe")
            session = await unit.session()
            await session.execute(
                text("INSERT INTO policies (name, config) VALUES ('unit_failed_orm', '{}')")
            )
            raise RuntimeError("the delivery failed")
    assert await _found(database, "unit_failed_probe") == 0
    assert await _found(database, "unit_failed_orm") == 0


async def test_a_driver_unit_never_used_takes_no_connection(database: Database) -> None:
    before = database.engine.pool.checkedout()  # type: ignore[attr-defined]
    async with DriverUnit(database):
        assert database.engine.pool.checkedout() == before  # type: ignore[attr-defined]


async def test_the_pool_gauge_counts_connections_out_and_back(database: Database) -> None:
    before = _in_use()
    async with database.engine.connect() as first, database.engine.connect() as second:
        await first.execute(text("SELECT 1"))
        await second.execute(text("SELECT 1"))
        assert _in_use() == before + 2
    assert _in_use() == before
    # A record the pool checks in after a failed checkout was never counted out.
    never_out = SimpleNamespace(record_info={})
    _counted_in(None, never_out)  # type: ignore[arg-type]
    assert _in_use() == before


async def test_each_statement_is_planned_once_on_one_postgresql_and_for_each_run_on_citus(
    database: Database,
) -> None:
    """PostgreSQL left to choose planned the hot reads again on every execution, which took
    longer than running them; Citus cannot distribute a generic plan of some of them."""
    for _ in range(2):  # and still after the pool took the connection back
        async with database.sessionmaker() as session:
            conn = await driver_connection(session)
            mode, on_citus = await conn.fetchrow(
                "SELECT current_setting('plan_cache_mode'), "
                "current_setting('citus.version', true) IS NOT NULL"
            )
            await session.commit()
        assert mode == ("auto" if on_citus else "force_generic_plan")
