"""The `customer-history` command: serve, migrate, manage API keys, write the OpenAPI."""

import asyncio
import contextlib
import functools
import json
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, TypeVar
from uuid import UUID

import typer
import uvicorn
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.clock import SYSTEM_CLOCK
from app.core.config import get_settings
from app.core.db import Database
from app.core.embedded import resolve_database_url
from app.core.http_server import BoundedHttpToolsProtocol
from app.core.roles import as_login, provision_service_login
from app.core.security import Role

cli = typer.Typer(help="Customer history service.", no_args_is_help=True)
keys_cli = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)
cli.add_typer(keys_cli, name="keys")
stats_cli = typer.Typer(help="Customer indicators.", no_args_is_help=True)
cli.add_typer(stats_cli, name="stats")
rules_cli = typer.Typer(help="Rules, flags and alerts.", no_args_is_help=True)
cli.add_typer(rules_cli, name="rules")
retention_cli = typer.Typer(help="Delete what the retention policy says expired.")
cli.add_typer(retention_cli, name="retention")
text_cli = typer.Typer(help="Analysis of what customers write.", no_args_is_help=True)
cli.add_typer(text_cli, name="text")

T = TypeVar("T")


def _database_url() -> str:
    """The owner's URL (migrations, seeding), resolved once per process and exported with
    the service's, so uvicorn workers share them."""
    return _database_urls()[0]


def _service_url() -> str:
    """The URL of the service's own role (what the API and maintenance commands use)."""
    return _database_urls()[1]


@functools.cache
def _database_urls() -> tuple[str, str]:
    settings = get_settings()
    owner = resolve_database_url(settings)
    if settings.service_database_url:
        service = settings.service_database_url
    elif settings.database_url:
        service = owner
        typer.echo(
            "warning: the service connects as the owner of the tables (DATABASE_URL); give "
            "it a role of its own with CH_SERVICE_DATABASE_URL (docs/security.md)",
            err=True,
        )
    else:
        service = as_login(owner)  # the embedded server: its own login for the service
    if service != owner:
        asyncio.run(provision_service_login(owner, service))
    os.environ["DATABASE_URL"] = owner
    os.environ["CH_SERVICE_DATABASE_URL"] = service
    get_settings.cache_clear()
    return owner, service


def _upgrade_to_head(url: str) -> None:
    """Apply every pending migration in a process of its own: with one worker this process
    becomes the worker, and Alembic's imports and the migration's work would stay in its
    memory for as long as it serves (about 24 MiB, docs/performance.md)."""
    done = subprocess.run(
        [sys.executable, "-m", "app.core.migrations"], env={**os.environ, "DATABASE_URL": url}
    )
    if done.returncode:
        typer.echo("error: the migration failed", err=True)
        raise typer.Exit(done.returncode)


def _with_database(work: Callable[[Database], Awaitable[T]], *, as_owner: bool = False) -> T:
    """Run ``work`` on a short-lived engine, as the service's role (or the owner's)."""

    # Before the loop starts: resolving may provision the login.
    url = _database_url() if as_owner else _service_url()

    async def run() -> T:
        database = Database(url, pool_size=2, max_overflow=0)
        try:
            return await work(database)
        finally:
            await database.dispose()

    return asyncio.run(run())


def _in_transaction(work: Callable[[AsyncSession], Awaitable[T]], *, as_owner: bool = False) -> T:
    """Run ``work`` in one committed transaction on a short-lived engine."""

    async def in_transaction(database: Database) -> T:
        async with database.sessionmaker() as session, session.begin():
            return await work(session)

    return _with_database(in_transaction, as_owner=as_owner)


@cli.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="uvicorn worker processes.")] = 1,
    migrate: Annotated[bool, typer.Option(help="Apply migrations before serving.")] = True,
) -> None:
    """Serve the API (migrating the database first unless --no-migrate)."""
    url = _database_url()
    if migrate:
        _upgrade_to_head(url)
    # uvicorn re-raises SIGTERM after its graceful shutdown; exiting normally instead lets
    # the embedded PostgreSQL (if any) stop with the service.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with contextlib.ExitStack() as stack:
        if workers > 1 and "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
            # One metrics directory for this run's workers, so /metrics counts them all.
            shared = stack.enter_context(tempfile.TemporaryDirectory(prefix="ch-metrics-"))
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = shared
        trusted = get_settings().trusted_proxies.strip()
        uvicorn.run(
            "app.main:app",
            host=host,
            port=port,
            workers=workers,
            log_config=None,
            http=BoundedHttpToolsProtocol,
            # Forwarded headers only from proxies named in CH_TRUSTED_PROXIES (uvicorn's
            # default believes 127.0.0.1: any local process could choose the scheme).
            proxy_headers=bool(trusted),
            forwarded_allow_ips=trusted or None,
            access_log=False,  # ours logs the route template, never the raw path
            server_header=False,
        )


@cli.command("migrate")
def migrate_command() -> None:
    """Apply every pending migration."""
    _upgrade_to_head(_database_url())
    typer.echo("database is at head")


@cli.command()
def openapi(
    output: Annotated[Path, typer.Option(help="Where to write the document.")] = Path(
        "openapi/openapi.json"
    ),
) -> None:
    """Write the OpenAPI document the app serves."""
    from app.main import create_app

    spec = create_app().openapi()
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(spec, indent=2, ensure_ascii=False) + "\n")
    typer.echo(f"wrote {output}")


@cli.command("seed")
def seed_command(
    customers: Annotated[int, typer.Option(min=1, help="Customers to add.")] = 10_000,
    events_per_customer: Annotated[int, typer.Option(min=0, help="Events of each.")] = 10,
    batch: Annotated[int, typer.Option(min=1, help="Customers per COPY.")] = 5000,
    random_seed: Annotated[int, typer.Option(help="Same seed, same data.")] = 1,
) -> None:
    """Fill the database with realistic customers and histories, fast (for benchmarks)."""
    from app.seed import seed

    url = _database_url()
    _upgrade_to_head(url)
    report = asyncio.run(seed(url, customers, events_per_customer, batch=batch, seed_=random_seed))
    typer.echo(
        f"seeded {report.customers} customers ({report.organizations} organisations) and "
        f"{report.events} events in {report.seconds} s"
    )


@keys_cli.command("create")
def keys_create(
    role: Annotated[Role, typer.Option(help="What the key may do.")],
    name: Annotated[str, typer.Option(help="Who or what uses the key.")] = "unnamed",
    agent_id: Annotated[str | None, typer.Option(help="The employee id behind the key.")] = None,
    owned_only: Annotated[
        bool, typer.Option(help="Restrict to customers owned by --agent-id.")
    ] = False,
    supervisor: Annotated[
        bool, typer.Option(help="May acknowledge any alert it can see, not only its own.")
    ] = False,
) -> None:
    """Create a key and print it once, on the last line."""
    from app.auth.service import create_key

    if owned_only and not agent_id:
        raise typer.BadParameter("--owned-only needs --agent-id", param_hint="--owned-only")
    if owned_only and role is Role.ADMIN:
        raise typer.BadParameter(
            "an admin key sees every customer; it cannot be owned-only", param_hint="--owned-only"
        )
    key, secret = _in_transaction(
        lambda s: create_key(
            s,
            role=role,
            name=name,
            agent_id=agent_id,
            owned_only=owned_only,
            supervisor=supervisor,
        )
    )
    typer.echo(f"created key {key.id} role={key.role} name={key.name}", err=True)
    typer.echo(secret)


@keys_cli.command("list")
def keys_list() -> None:
    """List keys (never their secrets)."""
    from app.auth.service import list_keys

    for key in _in_transaction(list_keys):
        state = f"revoked {key.revoked_at:%Y-%m-%d}" if key.revoked_at else "active"
        typer.echo(
            f"{key.id}\t{key.role}\t{key.name}\t{key.agent_id or '-'}\t"
            f"{'owned-only' if key.owned_only else 'all'}\t"
            f"{'supervisor' if key.supervisor else '-'}\t{state}"
        )


@keys_cli.command("revoke")
def keys_revoke(key_id: UUID) -> None:
    """Revoke a key; it stops working at once."""
    from app.auth.service import revoke_key

    if not _in_transaction(lambda s: revoke_key(s, key_id)):
        typer.echo(f"no active key {key_id}", err=True)
        raise typer.Exit(1)
    typer.echo(f"revoked {key_id}")


@stats_cli.command("rebuild")
def stats_rebuild(
    customer: Annotated[
        UUID | None, typer.Option(help="Only this customer (default: every customer).")
    ] = None,
    batch: Annotated[int, typer.Option(min=1, help="Customers per transaction.")] = 500,
) -> None:
    """Recompute indicators from the whole history."""
    from app.indicators.service import customer_ids_after, rebuild

    if customer is not None:
        _in_transaction(lambda s: rebuild(s, [customer], get_settings(), SYSTEM_CLOCK))
        typer.echo("rebuilt 1 customer")
        return
    total, after = 0, None
    while True:
        ids = _in_transaction(functools.partial(customer_ids_after, after=after, limit=batch))
        if not ids:
            break
        rebuild_batch = functools.partial(
            rebuild, customer_ids=ids, settings=get_settings(), clock=SYSTEM_CLOCK
        )
        total += _in_transaction(rebuild_batch)
        after = ids[-1]
    typer.echo(f"rebuilt {total} customers")


@rules_cli.command("sweep")
def rules_sweep() -> None:
    """Evaluate the rules again for customers with flags or open alerts (time moves on);
    the service also does this every CH_MAINTENANCE_SECONDS."""
    from app.maintenance import sweep_rules

    sweep = functools.partial(sweep_rules, settings=get_settings(), clock=SYSTEM_CLOCK)
    evaluated = _with_database(sweep)
    typer.echo(f"evaluated {evaluated} customers")


@text_cli.command("reanalyze")
def text_reanalyze(
    since: Annotated[
        datetime | None,
        typer.Option(
            help="Only events that occurred since then (default: all).",
            formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S"],
        ),
    ] = None,
    batch: Annotated[int, typer.Option(min=1, help="Events per transaction.")] = 500,
) -> None:
    """Analyse again, with the stored rules, the messages whose analysis is missing or was
    made with other rules (after PUT /v1/text-rules), and rebuild their customers'
    indicators; in short transactions, safe while the service ingests."""
    from app.timeline.texts import reanalyse

    moment = since if since is None or since.tzinfo else since.replace(tzinfo=UTC)
    work = functools.partial(
        reanalyse, since=moment, settings=get_settings(), clock=SYSTEM_CLOCK, batch=batch
    )
    version, done = _with_database(work)
    typer.echo(f"analysed {done} messages with {version}")


@retention_cli.command("run")
def retention_run(
    batch: Annotated[int, typer.Option(min=1, help="Rows of each kind per transaction.")] = 1000,
) -> None:
    """Delete expired raw deliveries, access-log rows and events, batch by batch (short
    transactions that skip rows in use: safe while the service ingests)."""
    from app.privacy.service import expire_batch, retention_policy

    policy = _in_transaction(retention_policy)
    deliveries = access = rebuilt = 0
    events: dict[str, int] = {}
    while True:
        # As the owner: the service's role may not delete events (ch_expire_events).
        expire = functools.partial(
            expire_batch, policy=policy, limit=batch, settings=get_settings(), clock=SYSTEM_CLOCK
        )
        report = _in_transaction(expire, as_owner=True)
        deliveries += report.deliveries
        access += report.access_log
        rebuilt += report.customers_rebuilt
        for type_, removed in report.events.items():
            events[type_] = events.get(type_, 0) + removed
        if max([report.deliveries, report.access_log, *report.events.values()]) < batch:
            break
    removed_events = ", ".join(f"{t}: {n}" for t, n in sorted(events.items())) or "none"
    typer.echo(
        f"removed {deliveries} raw deliveries, {access} access-log rows, events: "
        f"{removed_events}; rebuilt {rebuilt} customers' stats"
    )


def main() -> None:
    cli()
