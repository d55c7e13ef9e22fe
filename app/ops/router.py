"""Operations endpoints: liveness, readiness and Prometheus metrics (no key needed)."""

from typing import Any

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel
from sqlalchemy import text

from app.core.bounded_json import BoundedJsonRoute
from app.core.db import Database
from app.core.errors import ServiceUnavailable, problem_responses
from app.core.fast_route import fast_get
from app.core.metrics import exposition
from app.core.migration_head import head_revision

router = APIRouter(tags=["ops"], route_class=BoundedJsonRoute)
# Probes and scrapers on the internal network call these without a key.
OPEN: dict[str, Any] = {"security": []}


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    status: str
    migration: str


# A hot path: probes call it every few seconds, and it is the middleware stack's measure.
@fast_get(
    router, "/healthz", operation_id="healthz", summary="The process is alive", openapi_extra=OPEN
)
async def healthz() -> Health:
    return Health(status="ok")


@router.get(
    "/readyz",
    operation_id="readyz",
    summary="The database is reachable and migrated to head",
    responses=problem_responses(ServiceUnavailable),
    openapi_extra=OPEN,
)
async def readyz(request: Request) -> Readiness:
    database: Database = request.app.state.db
    expected = head_revision()
    try:
        async with database.engine.connect() as conn:
            current = await conn.scalar(text("SELECT version_num FROM alembic_version"))
    except Exception as exc:  # any failure to reach or read the database means not ready
        raise ServiceUnavailable(f"The database is not reachable ({type(exc).__name__}).") from exc
    if current != expected:
        raise ServiceUnavailable(f"The database is at migration {current}, expected {expected}.")
    return Readiness(status="ready", migration=str(current))


@router.get(
    "/metrics",
    operation_id="metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}}},
    openapi_extra=OPEN,
)
async def metrics() -> Any:
    return Response(exposition(), media_type=CONTENT_TYPE_LATEST)
