"""The FastAPI application: routers, middleware, error handlers and the OpenAPI document."""

import asyncio
import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from app import __version__
from app.alerts.router import router as alerts_router
from app.alerts.stream import AlertFeed
from app.auth.cache import KeyCache
from app.auth.router import router as auth_router
from app.core.clock import SYSTEM_CLOCK, Clock
from app.core.config import Settings, get_settings
from app.core.cors import ProblemCORSMiddleware, cors_options
from app.core.db import Database
from app.core.docs import install_docs
from app.core.errors import install_error_handlers
from app.core.logging import configure_logging, log_loop_exception
from app.core.metrics import worker_exiting, worker_starting
from app.core.middleware import RequestContextMiddleware
from app.core.openapi import complete
from app.core.path_table import PathRoutedApp
from app.customers.router import router as customers_router
from app.customers.schemas import CustomerPatch
from app.fichas.cache import TemplateCache
from app.fichas.router import router as fichas_router
from app.incidents.router import router as incidents_router
from app.indicators.cache import PolicyCache
from app.indicators.router import router as indicators_router
from app.ingest.router import router as ingest_router
from app.ingest.service import check_configured_sources
from app.maintenance import Maintenance
from app.messages.router import router as messages_router
from app.ops.router import router as ops_router
from app.outbound.router import router as outbound_router
from app.outbound.sender import Sender
from app.privacy.router import router as privacy_router
from app.reports.router import router as reports_router
from app.routing.router import router as routing_router
from app.segments.router import router as segments_router
from app.tasks.router import router as tasks_router
from app.text.router import router as text_router
from app.text.service import RulesCache
from app.timeline.router import profile_router
from app.timeline.router import router as timeline_router
from app.timeline.schemas import BulkLineResult, event_payloads
from app.timeline.stream import TimelineFeed

DESCRIPTION = """\
Every interaction and transaction of every customer in one append-only history, served
to each job as its own ficha (customer card) in milliseconds.

Authenticate with `Authorization: Bearer <api key>`; keys are created with
`customer-history keys create`. A browser never holds a key: it sends a short-lived
session token that a key minted (`POST /v1/session-tokens`), as `Authorization: Bearer`,
or on a live stream as `?access_token=` (EventSource sends no headers). Errors are RFC
9457 `application/problem+json`.
"""


# The document's tags, in the order it lists their operations.
TAGS = [
    {"name": "ops", "description": "Probes and metrics, without a key"},
    {"name": "auth", "description": "What a key carries; session tokens for browsers"},
    {"name": "customers", "description": "The customer aggregate and its identifiers"},
    {"name": "timeline", "description": "Events: append, import, read, stream; merges"},
    {"name": "webhooks", "description": "Deliveries from platforms, stored and replayed"},
    {"name": "indicators", "description": "Indicators, rules, alerts, routing, segments"},
    {"name": "tasks", "description": "Follow-up tasks on customers, by agents and from alerts"},
    {"name": "messages", "description": "Messages to customers, their templates, callbacks"},
    {"name": "fichas", "description": "Customer cards per job, the screen-pop, templates"},
    {"name": "privacy", "description": "Export, erasure and retention"},
    {"name": "outbound", "description": "Webhook subscriptions: facts sent as they commit"},
    {"name": "text", "description": "Text analysis"},
]
# The routers in the order the OpenAPI document lists them, and the router tries them (no
# two routes match the same request, and the path table in front of the router,
# app/core/path_table.py, finds a route by its path's first segments, whatever its rank).
DOCUMENTED_ORDER = (
    ops_router,
    auth_router,
    customers_router,
    profile_router,
    timeline_router,
    ingest_router,
    indicators_router,
    alerts_router,
    incidents_router,
    routing_router,
    segments_router,
    reports_router,
    tasks_router,
    messages_router,
    fichas_router,
    privacy_router,
    outbound_router,
    text_router,
)


def _operation_id(route: APIRoute) -> str:
    return route.name


# The cyclic garbage collector runs its youngest pass after this many new containers
# (Python's default: 700). A bulk import's batch keeps hundreds of thousands alive at once,
# and at the default each batch set off several full passes over everything the worker
# holds: a third of its CPU (docs/performance.md, "The bulk import at COPY's pace").
COLLECTOR_THRESHOLDS = (50_000, 20, 20)


def create_app(settings: Settings | None = None, clock: Clock = SYSTEM_CLOCK) -> FastAPI:
    """Build the application; the database is opened by the lifespan. ``clock`` is what
    every decision by time reads (the system clock; a test hands in one it moves)."""
    settings = settings or get_settings()
    configure_logging(settings.log_level)
    check_configured_sources(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        gc.set_threshold(*COLLECTOR_THRESHOLDS)
        asyncio.get_running_loop().set_exception_handler(log_loop_exception)
        database = Database.from_settings(settings)
        app.state.db = database
        app.state.feed = TimelineFeed(settings.service_url())
        app.state.alert_feed = AlertFeed(settings.service_url())
        app.state.templates = TemplateCache(settings.service_url())
        app.state.keys = KeyCache(settings.service_url())
        app.state.policies = PolicyCache(settings.service_url())
        app.state.text_rules = RulesCache(settings.service_url())
        worker_starting()
        maintenance = Maintenance(database, settings, app.state.clock, app.state.text_rules)
        maintenance.start()
        outbound = Sender(database, settings, app.state.clock)
        outbound.start()
        try:
            yield
        finally:
            await outbound.stop()
            await maintenance.stop()
            await app.state.keys.close()
            await app.state.policies.close()
            await app.state.templates.close()
            await app.state.text_rules.close()
            await app.state.feed.close()
            await app.state.alert_feed.close()
            await database.dispose()
            worker_exiting()

    app = PathRoutedApp(
        title="Customer history service",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        generate_unique_id_function=_operation_id,
        docs_url=None,
        redoc_url=None,
    )
    install_docs(app)  # offline: from the installed package, never a CDN
    app.state.settings = settings
    app.state.clock = clock
    # Until the lifespan opens the database, keys and policies are read on every request
    # (an app under test, whose changes never commit).
    app.state.keys = KeyCache(None)
    app.state.policies = PolicyCache(None)
    install_error_handlers(app)
    app.add_middleware(
        RequestContextMiddleware,
        max_body_bytes=settings.max_body_bytes,
        body_idle_timeout=settings.body_idle_timeout_seconds,
        body_min_rate=settings.body_min_bytes_per_second,
        larger_bodies={"/v1/events/bulk": settings.max_bulk_body_bytes},
    )
    origins = settings.cors_origin_list()
    if origins:
        # Added last, so outermost: every answer of the app, a 413 of the body limit
        # included, carries the CORS headers a page needs to read it, and a preflight is
        # answered before anything asks for a key.
        app.add_middleware(ProblemCORSMiddleware, **cors_options(origins))  # type: ignore[arg-type]
    for router in DOCUMENTED_ORDER:
        app.include_router(router)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            payload_models, payloads = event_payloads()
            app.openapi_schema = complete(
                [BulkLineResult, CustomerPatch, *payload_models],
                {"EventPayloads": payloads},
                get_openapi(
                    title=app.title,
                    version=app.version,
                    description=app.description,
                    tags=TAGS,
                    servers=[{"url": "/", "description": "This service, where it is served"}],
                    routes=[route for router in DOCUMENTED_ORDER for route in router.routes],
                ),
            )
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


app = create_app()
