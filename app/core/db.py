"""The async engine, the request-scoped session and the raw asyncpg connection under it."""

from collections.abc import AsyncIterator
from typing import Annotated, Any
from uuid import UUID

import asyncpg
from fastapi import Depends, Request
from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase
from uuid_utils.compat import uuid7

from app.core.config import Settings

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base of every table; constraint names are deterministic for migrations."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def async_url(url: str) -> str:
    """The SQLAlchemy asyncpg form of a PostgreSQL URL given in any common spelling."""
    for prefix in ("postgresql+asyncpg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    raise ValueError("DATABASE_URL must be a postgresql:// URL")


def plain_url(url: str) -> str:
    """The libpq/asyncpg form of a PostgreSQL URL (no SQLAlchemy driver suffix)."""
    return "postgresql://" + async_url(url)[len("postgresql+asyncpg://") :]


class Database:
    """One engine and session factory per process."""

    def __init__(self, url: str, *, pool_size: int = 10, max_overflow: int = 10) -> None:
        self.engine: AsyncEngine = create_async_engine(
            async_url(url),
            pool_size=pool_size,
            max_overflow=max_overflow,
            pool_recycle=1800,
        )
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> "Database":
        assert settings.database_url, "the database URL is resolved before the app starts"
        return cls(
            settings.database_url,
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
        )

    def pool_in_use(self) -> int:
        """Connections currently checked out of the pool."""
        checkedout = getattr(self.engine.pool, "checkedout", None)
        return int(checkedout()) if checkedout else 0

    async def dispose(self) -> None:
        await self.engine.dispose()


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """The request's unit of work: committed after the handler, rolled back on error."""
    database: Database = request.app.state.db
    async with database.sessionmaker() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


# scope="function": the commit happens before the response is sent, so a 2xx means stored.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]


async def driver_connection(session: AsyncSession) -> Any:
    """The asyncpg connection under the session's transaction, for prepared hot-path queries.

    SQLAlchemy's asyncpg adapter sends BEGIN lazily, before its own first statement; a
    statement sent straight to the driver before that would run in autocommit and
    survive a rollback (or a crash) of the request. So the transaction is begun here
    first, the way the adapter itself begins it.
    """
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    adapted: Any = raw.dbapi_connection
    if adapted._transaction is None:
        async with adapted._execute_mutex:
            if adapted._transaction is None:
                await adapted._start_transaction()
    driver = raw.driver_connection
    assert isinstance(driver, asyncpg.Connection)
    return driver


def new_id() -> UUID:
    """A time-ordered UUIDv7, so new rows land at the right edge of their index."""
    return uuid7()
