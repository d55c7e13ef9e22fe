"""The async engine, the request-scoped session and the raw asyncpg connection under it."""

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, TypeAlias, TypeVar
from uuid import UUID

import asyncpg
from fastapi import Depends, Request
from sqlalchemy import Dialect, MetaData, String, TypeDecorator, event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    AsyncTransaction,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.pool import ConnectionPoolEntry
from uuid_utils.compat import uuid7

from app.core.config import Settings
from app.core.metrics import DB_POOL_IN_USE

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


E = TypeVar("E", bound=StrEnum)


class StrEnumColumn(TypeDecorator[E]):
    """A StrEnum column: VARCHAR(length) in the database, as ``String(length)`` declares it
    (no database enum type, so no migration: the values stored are the members' values,
    and the CHECK constraints that name them stay), the member in Python. Binding a value
    that is not a member's raises before any SQL is sent."""

    impl = String
    cache_ok = True

    def __init__(self, enum: type[E], length: int) -> None:
        super().__init__(length)
        self.enum = enum

    def process_bind_param(self, value: E | str | None, dialect: Dialect) -> str | None:
        return None if value is None else self.enum(value).value

    def process_result_value(self, value: str | None, dialect: Dialect) -> E | None:
        return None if value is None else self.enum(value)


def async_url(url: str) -> str:
    """The SQLAlchemy asyncpg form of a PostgreSQL URL given in any common spelling."""
    for prefix in ("postgresql+asyncpg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    raise ValueError("DATABASE_URL must be a postgresql:// URL")


def plain_url(url: str) -> str:
    """The libpq/asyncpg form of a PostgreSQL URL (no SQLAlchemy driver suffix)."""
    return "postgresql://" + async_url(url)[len("postgresql+asyncpg://") :]


def after_id(column: str, parameter: str) -> str:
    """SQL for a keyset page's rows after the id bound to ``parameter`` (all of them when it
    is NULL), as an index range: each statement has one plan for every value
    (``plan_cache_mode``), and in it ``$1 IS NULL OR id > $1`` is a filter read from the
    table's first row on every page."""
    return f"{column} > coalesce({parameter}::uuid, '00000000-0000-0000-0000-000000000000')"


# Each prepared statement planned once, on one PostgreSQL: left to choose, it planned the
# hot read statements again on every execution (a generic plan of their CTEs costs more on
# paper than one folded for the values given), which took longer than running them
# (docs/performance.md). Citus plans each execution with its values: it cannot distribute
# a generic plan of some of them.
async def plan_once(driver: asyncpg.Connection) -> None:
    """Have a new connection plan each prepared statement once, unless on Citus."""
    await driver.execute(
        "SELECT set_config('plan_cache_mode', 'force_generic_plan', false) "
        "WHERE current_setting('citus.version', true) IS NULL"
    )


def _planned_once(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    dbapi_connection.run_async(plan_once)


def _outside_any_transaction(dbapi: Any, _record: ConnectionPoolEntry, _proxy: Any) -> None:
    """Never hand out a connection that is inside a transaction. A unit of work cancelled
    while its BEGIN was in flight (a client gone from a streamed answer) can give its
    connection back so: the pool's reset rolls back only the adapter's own transaction,
    and every later unit of work on that connection would be a savepoint of the stray
    one, answered as committed and never committed. The pool closes such a connection
    and takes another (SQLAlchemy's documented use of DisconnectionError)."""
    driver = dbapi.driver_connection
    if driver is not None and not driver.is_closed() and driver.is_in_transaction():
        raise DisconnectionError("a connection given back inside a transaction")


def _counted_out(_dbapi: Any, record: ConnectionPoolEntry, _proxy: Any) -> None:
    if record.record_info is not None:
        record.record_info["counted_out"] = True
        DB_POOL_IN_USE.inc()


def _counted_in(_dbapi: Any, record: ConnectionPoolEntry) -> None:
    # The pool also checks in a connection whose checkout failed (a reconnect refused):
    # only what was counted out is counted back.
    if record.record_info is not None and record.record_info.pop("counted_out", False):
        DB_POOL_IN_USE.dec()


class Database:
    """One engine and session factory per process."""

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = Settings.model_fields["db_pool_size"].default,
        max_overflow: int = Settings.model_fields["db_max_overflow"].default,
        pool_timeout: float = Settings.model_fields["db_pool_timeout"].default,
    ) -> None:
        self.engine: AsyncEngine = create_async_engine(
            async_url(url),
            pool_size=pool_size,
            max_overflow=max_overflow,
            pool_timeout=pool_timeout,
            pool_recycle=1800,
            # Short statements only: at ten million events the planner's cost estimates of
            # the hot statements passed jit_above_cost, and compiling took most of a
            # screen-pop query's time (docs/performance.md).
            connect_args={"server_settings": {"jit": "off"}},
        )
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)
        event.listen(self.engine.sync_engine, "connect", _planned_once)
        event.listen(self.engine.sync_engine.pool, "checkout", _outside_any_transaction)
        event.listen(self.engine.sync_engine.pool, "checkout", _counted_out)
        event.listen(self.engine.sync_engine.pool, "checkin", _counted_in)

    @classmethod
    def from_settings(cls, settings: Settings) -> "Database":
        return cls(
            settings.service_url(),
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
            pool_timeout=settings.db_pool_timeout,
        )

    async def dispose(self) -> None:
        await self.engine.dispose()


async def get_connection(request: Request) -> AsyncIterator[AsyncConnection]:
    """The request's one pooled connection, outside any transaction until a session begins one.

    Authentication and the read hot paths send prepared statements straight to the driver
    on it, each committing on its own; routes that change data open their session on it.
    """
    database: Database = request.app.state.db
    async with database.engine.connect() as connection:
        try:
            yield connection
        except BaseException:
            # SQLAlchemy does not see what fails on the driver directly: a connection the
            # database dropped (a restart) is discarded here, not handed to the next request.
            if not connection.invalidated:
                raw = await connection.get_raw_connection()
                if raw.driver_connection is None or raw.driver_connection.is_closed():
                    await connection.invalidate()
            raise


ConnectionDep = Annotated[AsyncConnection, Depends(get_connection, scope="function")]


@contextlib.asynccontextmanager
async def stream_connection(database: "Database") -> AsyncIterator[AsyncConnection]:
    """A connection of its own for a streamed answer. One whose stream was cut short (its
    reader gone: the stream's task cancelled, perhaps in a statement or its BEGIN, and
    then its rollback too) is closed, never handed to the next request: its driver may be
    inside a transaction that the pool's reset does not look at (it rolls back
    SQLAlchemy's own transaction only)."""
    async with database.engine.connect() as connection:
        try:
            yield connection
        except BaseException:
            await connection.invalidate()
            raise


async def get_driver(connection: ConnectionDep) -> asyncpg.Connection:
    """The asyncpg connection under the request's connection, outside any transaction."""
    raw = await connection.get_raw_connection()
    driver = raw.driver_connection
    assert isinstance(driver, asyncpg.Connection)
    return driver


# Read hot paths (identify, routing, fichas) and authentication: no session, no BEGIN or
# COMMIT. Under READ COMMITTED each statement of a transaction reads its own snapshot
# anyway, so single statements in autocommit see what a transaction would.
DriverDep = Annotated[asyncpg.Connection, Depends(get_driver)]


@contextlib.asynccontextmanager
async def _unit_of_work(session: AsyncSession) -> AsyncIterator[AsyncSession]:
    async with session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


async def get_session(request: Request, connection: ConnectionDep) -> AsyncIterator[AsyncSession]:
    """The request's unit of work, on the connection its key was checked on: committed after
    the handler, rolled back on error."""
    database: Database = request.app.state.db
    async with _unit_of_work(database.sessionmaker(bind=connection)) as session:
        yield session


class DriverUnit:
    """A unit of work whose statements go straight to the driver connection, with no ORM
    session around them (its objects, greenlet switches and state changes cost a webhook
    delivery about a tenth of its CPU: docs/performance.md): the pooled connection and its
    transaction are taken at the first statement, so that a slow sender holds no
    connection while its body arrives; committed when the route returns, rolled back on
    error. The few steps that need the ORM get a session joined to the same transaction.

    ``of_session`` wraps a session that is a unit of work already (a replay, the
    maintenance loop): the transaction is the session's, and its owner commits it."""

    def __init__(self, database: Database | None, connection: AsyncConnection | None = None):
        self._database = database
        self._given = connection  # (tests) a connection in a transaction: a savepoint of it
        self._connection: AsyncConnection | None = None
        self._transaction: AsyncTransaction | None = None
        self._driver: asyncpg.Connection | None = None
        self._session: AsyncSession | None = None

    @classmethod
    def of_session(cls, session: AsyncSession) -> "DriverUnit":
        unit = cls(None)
        unit._session = session
        return unit

    async def driver(self) -> asyncpg.Connection:
        """The driver connection, inside the unit's transaction."""
        if self._driver is None:
            if self._database is None:
                assert self._session is not None
                self._driver = await driver_connection(self._session)
                return self._driver
            if self._given is None:
                self._connection = await self._database.engine.connect()
                self._transaction = await self._connection.begin()
            else:
                self._connection = self._given
                self._transaction = await self._given.begin_nested()
            self._driver = await begun_driver(self._connection)
        return self._driver

    async def session(self) -> AsyncSession:
        """An ORM session in the unit's transaction (it never commits it itself)."""
        if self._session is None:
            await self.driver()
            # Joined ("conditional_savepoint"): its commit flushes, the unit's commits.
            self._session = AsyncSession(bind=self._connection, expire_on_commit=False)
        return self._session

    async def __aenter__(self) -> "DriverUnit":
        return self

    async def __aexit__(self, kind: type[BaseException] | None, *_: Any) -> None:
        if self._database is None or self._connection is None:
            return
        connection, transaction = self._connection, self._transaction
        assert transaction is not None
        try:
            if self._session is not None:
                if kind is None:
                    await self._session.commit()  # joined: its changes flushed, no COMMIT
                await self._session.close()
            if kind is None:
                await transaction.commit()
        except BaseException:
            kind = BaseException
            raise
        finally:
            if kind is not None:
                driver = self._driver
                # As ``get_connection``: a connection the database dropped is discarded,
                # not handed to the next request.
                if self._given is None and (driver is None or driver.is_closed()):
                    await connection.invalidate()
                elif transaction.is_active:
                    await transaction.rollback()
            if self._given is None:
                await connection.close()


async def get_driver_unit(request: Request) -> AsyncIterator[DriverUnit]:
    """A webhook delivery's unit of work on the driver connection (``DriverUnit``)."""
    database: Database = request.app.state.db
    async with DriverUnit(database) as unit:
        yield unit


# scope="function": the commit happens before the response is sent, so a 2xx means stored.
DriverUnitDep = Annotated[DriverUnit, Depends(get_driver_unit, scope="function")]
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]

# What prepared statements run on: a session (they join its transaction) or a request's
# bare driver connection (each statement commits on its own).
Executor: TypeAlias = AsyncSession | asyncpg.Connection


async def driver_connection(on: Executor) -> asyncpg.Connection:
    """The asyncpg connection to send prepared statements to: the bare driver connection as
    given, or the one under a session with the session's transaction begun."""
    if isinstance(on, asyncpg.Connection):
        return on
    return await begun_driver(await on.connection())


async def begun_driver(connection: AsyncConnection) -> asyncpg.Connection:
    """The asyncpg connection under ``connection``, inside its transaction.

    SQLAlchemy's asyncpg adapter sends BEGIN lazily, before its own first statement; a
    statement sent straight to the driver before that would run in autocommit and
    survive a rollback (or a crash) of the request. So the transaction is begun here
    first, the way the adapter itself begins it.
    """
    raw = await connection.get_raw_connection()
    adapted: Any = raw.dbapi_connection
    if adapted._transaction is None:
        async with adapted._execute_mutex:
            if adapted._transaction is None:
                await adapted._start_transaction()
    driver = raw.driver_connection
    assert isinstance(driver, asyncpg.Connection)
    return driver


@dataclass(frozen=True, slots=True)
class Along:
    """A statement sent as the end of another one, in its round trip: ``sql(first)`` is its
    text with its parameters numbered from ``$first``, the items of a WITH list and then
    the SELECT whose rows the round trip answers; ``args`` are its arguments. A delivery's
    outcome is recorded in this way by the statement that saves the stats of its events."""

    sql: Callable[[int], str]
    args: tuple[Any, ...]


def new_id() -> UUID:
    """A time-ordered UUIDv7, so new rows land at the right edge of their index."""
    return uuid7()
