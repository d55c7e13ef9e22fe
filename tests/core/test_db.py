"""The driver connection is inside the request's transaction, never in autocommit."""

from sqlalchemy import text

from app.core.db import Database, driver_connection


async def test_a_statement_on_the_driver_connection_rolls_back_with_the_session(
    database: Database,
) -> None:
    async with database.sessionmaker() as session:
        conn = await driver_connection(session)  # first statement of the transaction
        await conn.execute("CREATE TABLE rolled_back_probe (id int)")
        await session.rollback()
    async with database.sessionmaker() as session:
        found = await session.scalar(text("SELECT to_regclass('rolled_back_probe')"))
    assert found is None, "the driver statement must not outlive the rolled-back transaction"


async def test_driver_statements_commit_with_the_session(database: Database) -> None:
    async with database.sessionmaker() as session:
        conn = await driver_connection(session)
        await conn.execute("CREATE TABLE committed_probe (id int)")
        await session.commit()
    async with database.sessionmaker() as session:
        assert await session.scalar(text("SELECT to_regclass('committed_probe')")) is not None
        await session.execute(text("DROP TABLE committed_probe"))
        await session.commit()
