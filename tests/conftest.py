"""Test database (built once by `alembic upgrade head`), per-test rollback, an HTTP client."""

import asyncio
import contextlib
import io
import os
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.alerts.stream import AlertFeed
from app.auth.service import create_key
from app.core.config import Settings
from app.core.db import (
    Database,
    DriverUnit,
    begun_driver,
    get_connection,
    get_driver_unit,
    get_session,
    plain_url,
)
from app.core.embedded import start_embedded
from app.core.logging import configure_logging
from app.core.migrations import upgrade_to_head
from app.core.roles import SERVICE_LOGIN, as_login, provision_service_login
from app.core.security import Role
from app.fichas.cache import TemplateCache
from app.main import create_app
from app.text.service import RulesCache
from app.timeline.stream import TimelineFeed
from cluster.citus import recreate
from cluster.distribution import Refusal, distribute
from tests.support.clock import ControlledClock
from tests.support.databases import copied_database, is_citus_coordinator, scratch_database
from tests.support.fixtures import AppLog, MakeKey
from tests.support.problems import check_problem
from tests.support.webhooks import WEBHOOK_SECRETS

# Whether TEST_DATABASE_URL is a Citus coordinator, and what Citus refused to place there.
ON_CLUSTER = pytest.StashKey[bool]()
REFUSALS = pytest.StashKey[list[Refusal]]()
# Shards of each co-location group on the cluster: two per worker spreads the rows over
# both and keeps placing the tables quick (Citus's default is 32).
CLUSTER_SHARDS = 4


async def _reset_schema(url: str) -> None:
    conn = await asyncpg.connect(plain_url(url))
    try:
        await conn.execute("DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public;")
    finally:
        await conn.close()


def pytest_configure(config: pytest.Config) -> None:
    url = os.environ.get("TEST_DATABASE_URL")
    on_cluster = bool(url) and not os.environ.get("TEST_DATABASE_TEMPLATE_URL")
    config.stash[ON_CLUSTER] = on_cluster and asyncio.run(is_citus_coordinator(str(url)))
    config.stash[REFUSALS] = []


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On a Citus cluster, a test about one node by nature is skipped, with its reason."""
    for item in items:
        marker = item.get_closest_marker("single_node")
        if marker is None:
            continue
        if not marker.args:
            raise pytest.UsageError(f"{item.nodeid}: single_node needs its reason")
        if config.stash[ON_CLUSTER]:
            item.add_marker(pytest.mark.skip(reason=f"single node: {marker.args[0]}"))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    refusals = terminalreporter.config.stash[REFUSALS]
    if refusals:
        terminalreporter.section(f"Citus refused {len(refusals)} placements")
        for refusal in refusals:
            terminalreporter.line(str(refusal))


@pytest.fixture(scope="session")
def database_url(
    tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config
) -> Iterator[str]:
    """A migrated database: a copy of TEST_DATABASE_TEMPLATE_URL (dropped afterwards),
    TEST_DATABASE_URL (reset first) or a fresh embedded server.

    On a Citus coordinator, TEST_DATABASE_URL's database is made again on every node with
    Citus, migrated, then distributed as cluster/placement.py decides."""
    template = os.environ.get("TEST_DATABASE_TEMPLATE_URL")
    if template:
        # Mutation runs: many short sessions at once, each on its own copy of a database
        # migrated once (and perhaps given a mutant of a database function).
        with copied_database(template) as url:
            yield url
        return
    url = os.environ.get("TEST_DATABASE_URL")
    if url and pytestconfig.stash[ON_CLUSTER]:
        asyncio.run(recreate(plain_url(url)))
    elif url:
        asyncio.run(_reset_schema(url))
    else:
        url = start_embedded(Path(tmp_path_factory.mktemp("embedded")), "customer_history_test")
    upgrade_to_head(url)
    if pytestconfig.stash[ON_CLUSTER]:
        outcome = asyncio.run(distribute(plain_url(url), shard_count=CLUSTER_SHARDS))
        pytestconfig.stash[REFUSALS].extend(outcome.refusals)
    yield url


@pytest.fixture
def scratch_url(database_url: str):
    """A separate, empty database on the test server, dropped afterwards."""
    with scratch_database(database_url) as url:
        yield url


@pytest.fixture(scope="session")
def service_url(database_url: str) -> str:
    """The database as the service's own role reaches it (a ch_service login, neither
    superuser nor owner): every app connection of the suite uses it, so the suite proves
    the service works with no more than that role's grants."""
    asyncio.run(provision_service_login(database_url, as_login(database_url)))

    async def allow_fault_injection() -> None:
        # One fault test makes the access log refuse inserts with a trigger of its own;
        # the service never needs to create anything.
        conn = await asyncpg.connect(plain_url(database_url))
        try:
            await conn.execute(f"GRANT CREATE ON SCHEMA public TO {SERVICE_LOGIN}")
            await conn.execute(f"GRANT TRIGGER ON access_log TO {SERVICE_LOGIN}")
        finally:
            await conn.close()

    asyncio.run(allow_fault_injection())
    return as_login(database_url)


@pytest.fixture(scope="session")
async def database(service_url: str) -> AsyncIterator[Database]:
    db = Database(service_url, pool_size=5, max_overflow=30)
    yield db
    await db.dispose()


@pytest.fixture
async def connection(database: Database) -> AsyncIterator[AsyncConnection]:
    """One connection whose transaction is rolled back after the test."""
    async with database.engine.connect() as conn:
        transaction = await conn.begin()
        # BEGIN now: the app also sends statements straight to the driver connection.
        await begun_driver(conn)
        yield conn
        if transaction.is_active:
            await transaction.rollback()


def _savepoint_session(connection: AsyncConnection) -> AsyncSession:
    return AsyncSession(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )


@pytest.fixture
async def session(connection: AsyncConnection) -> AsyncIterator[AsyncSession]:
    async with _savepoint_session(connection) as s:
        yield s


@pytest.fixture
def settings(database_url: str, service_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        service_database_url=service_url,
        webhook_secrets=WEBHOOK_SECRETS,
        outbound_private_networks=True,  # the receivers of the tests are on 127.0.0.1
    )


@pytest.fixture
def clock() -> ControlledClock:
    """The service's clock in this test: the real time when the test starts (so that the
    database's own record times, such as ``recorded_at``, agree with it), then still until
    the test moves it: ``clock.advance(timedelta(hours=4, minutes=1))``, ``clock.set(...)``.
    The ``app`` and ``live`` fixtures run on it; pass it to services called directly."""
    return ControlledClock(datetime.now(UTC))


@pytest.fixture
def app(
    settings: Settings, database: Database, connection: AsyncConnection, clock: ControlledClock
) -> FastAPI:
    """The app, its request connection and sessions joined to the test's rolled-back
    transaction, on the test's clock."""
    application = create_app(settings, clock)
    application.state.db = database
    application.state.feed = TimelineFeed(str(settings.database_url))
    application.state.alert_feed = AlertFeed(str(settings.database_url))
    application.state.templates = TemplateCache(None)  # edits here never commit nor notify
    application.state.text_rules = RulesCache(None)

    async def session_in_test_transaction() -> AsyncIterator[AsyncSession]:
        async with _savepoint_session(connection) as s:
            try:
                yield s
                await s.commit()
            except BaseException:
                await s.rollback()
                raise

    async def connection_in_test_transaction() -> AsyncConnection:
        return connection

    application.dependency_overrides[get_connection] = connection_in_test_transaction
    application.dependency_overrides[get_session] = session_in_test_transaction

    async def unit_in_test_transaction() -> AsyncIterator[DriverUnit]:
        async with DriverUnit(database, connection) as unit:
            yield unit

    application.dependency_overrides[get_driver_unit] = unit_in_test_transaction
    return application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(
        transport=transport,
        base_url="http://testserver",
        event_hooks={"response": [check_problem]},
    ) as c:
        yield c


@pytest.fixture
def app_log(app: FastAPI, settings: Settings) -> Iterator[AppLog]:
    """Every line the app logs during the test, through the service's own logging setup
    (the same handler, formatter and processors as in production, writing to a buffer)."""
    stream = io.StringIO()
    with contextlib.redirect_stdout(stream):
        configure_logging("DEBUG")  # the handler binds the stdout of the moment
    yield AppLog(stream)
    configure_logging(settings.log_level)


@pytest.fixture
def make_key(session: AsyncSession) -> MakeKey:
    """Create an API key in the test transaction; returns the Authorization header."""

    async def make(
        role: Role | str = Role.ADMIN,
        *,
        agent_id: str | None = None,
        owned_only: bool = False,
        supervisor: bool = False,
    ) -> dict[str, str]:
        _, secret = await create_key(
            session,
            role=Role(role),
            name="test",
            agent_id=agent_id,
            owned_only=owned_only,
            supervisor=supervisor,
        )
        await session.flush()
        return {"Authorization": f"Bearer {secret}"}

    return make


@pytest.fixture
async def admin(make_key: MakeKey) -> dict[str, str]:
    return await make_key(Role.ADMIN)


@pytest.fixture
async def live(
    settings: Settings, database: Database, clock: ControlledClock, pytestconfig: pytest.Config
) -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, str]]]:
    """The app on real, committing sessions (for concurrency), with an admin key, on the
    test's clock.

    Whatever the test committed is removed afterwards. Do not combine with ``client``.
    """
    application = create_app(settings, clock)
    application.state.db = database
    application.state.feed = TimelineFeed(str(settings.database_url))
    application.state.alert_feed = AlertFeed(str(settings.database_url))
    application.state.templates = TemplateCache(str(settings.database_url))
    application.state.text_rules = RulesCache(str(settings.database_url))
    async with database.sessionmaker() as s, s.begin():
        _, secret = await create_key(s, role=Role.ADMIN, name="live-test")
    transport = httpx.ASGITransport(app=application, raise_app_exceptions=False)
    async with httpx.AsyncClient(
        transport=transport,
        base_url="http://testserver",
        event_hooks={"response": [check_problem]},
    ) as c:
        yield c, {"Authorization": f"Bearer {secret}"}
    await application.state.feed.close()
    await application.state.alert_feed.close()
    await application.state.templates.close()
    await application.state.text_rules.close()
    # Only the owner may empty the history, and only when it says so for its transaction.
    owner = await asyncpg.connect(plain_url(str(settings.database_url)))
    try:
        async with owner.transaction():
            if pytestconfig.stash[ON_CLUSTER]:  # the guard runs on every shard's node
                await owner.execute("SET LOCAL citus.propagate_set_commands = 'local'")
            await owner.execute("SET LOCAL ch.privileged_maintenance = 'on'")
            await owner.execute(f"TRUNCATE {', '.join(LIVE_TABLES)} CASCADE")
    finally:
        await owner.close()


LIVE_TABLES = (
    "access_log",
    "events",
    "event_keys",
    "webhook_deliveries",
    "delivery_customers",
    "delivery_identifiers",
    "customer_merges",
    "customer_consents",
    "customer_identifiers",
    "customers",
    "api_keys",
    "webhook_subscriptions",
    "outbox",
    "alert_changes",
)
