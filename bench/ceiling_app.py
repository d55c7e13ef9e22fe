"""The bare endpoints the service's hot paths are measured against (`python -m bench`).

Each does the least an endpoint on this stack can do for its path: FastAPI, a pydantic
model, one prepared statement on an asyncpg pool (planned once, as the service's are:
``plan_once``), no middleware and no key. uvicorn serves it as its own process with the
service's worker count, on the same database:

    CEILING_DATABASE_URL=postgresql://... python -m uvicorn bench.ceiling_app:app

- ``GET /lookup/{phone}``: the caller's card, identifier, customer and stats joined by
  phone (the ceiling of the screen-pop, routing and identify); on a Citus coordinator,
  where the identifiers are spread by value and the customers by id, the same card in
  the two router reads the service makes there too (``CallerLookup``);
- ``POST /deliveries``: a delivery stored by one ``INSERT ... ON CONFLICT DO NOTHING
  RETURNING`` (the ceiling of a signed webhook delivery);
- ``GET /ping``: nothing at all (the ceiling of ``/healthz``).
"""

import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg
from fastapi import FastAPI, HTTPException, Request
from pydantic import BaseModel

from app.core.db import plan_once

# The caller's card: the statement of the bare lookup endpoint and of the driver ceiling.
LOOKUP = (
    "SELECT c.id, c.display_name, c.preferred_language, c.tier, s.flags "
    "FROM customer_identifiers i JOIN customers c ON c.id = i.customer_id "
    "LEFT JOIN customer_stats s ON s.customer_id = c.id "
    "WHERE i.kind = 'phone' AND i.value = $1"
)
# On Citus that join is a repartition Citus refuses; its cheapest form there is the
# holder (one shard), then the card by the holder's id (one shard).
HOLDER = "SELECT customer_id FROM customer_identifiers WHERE kind = 'phone' AND value = $1"
CARD = (
    "SELECT c.id, c.display_name, c.preferred_language, c.tier, s.flags "
    "FROM customers c LEFT JOIN customer_stats s ON s.customer_id = c.id WHERE c.id = $1"
)
# Created by the bench before the app starts, dropped after the run.
DELIVERIES_TABLE = (
    "CREATE TABLE IF NOT EXISTS bench_deliveries (id bigserial PRIMARY KEY, "
    "source text NOT NULL, delivery_id text NOT NULL, "
    "received_at timestamptz NOT NULL DEFAULT now(), payload jsonb NOT NULL, "
    "UNIQUE (source, delivery_id))"
)
STORE = (
    "INSERT INTO bench_deliveries (source, delivery_id, payload) VALUES ($1, $2, $3::jsonb) "
    "ON CONFLICT DO NOTHING RETURNING id"
)


@dataclass(frozen=True)
class CallerLookup:
    """The caller's card by phone, in the cheapest form the database plans."""

    distributed: bool

    @classmethod
    async def on(cls, conn: asyncpg.Connection | asyncpg.Pool) -> "CallerLookup":
        citus = "SELECT EXISTS (SELECT FROM pg_extension WHERE extname = 'citus')"
        return cls(distributed=bool(await conn.fetchval(citus)))

    async def __call__(self, conn: asyncpg.Connection, phone: str) -> asyncpg.Record | None:
        if not self.distributed:
            return await conn.fetchrow(LOOKUP, phone)
        holder = await conn.fetchval(HOLDER, phone)
        return None if holder is None else await conn.fetchrow(CARD, holder)


class Caller(BaseModel):
    id: UUID
    display_name: str
    preferred_language: str | None
    tier: str | None
    flags: list[str] | None


class Delivery(BaseModel):
    source: str
    delivery_id: str
    payload: dict[str, Any]


class Stored(BaseModel):
    stored: bool


class Pong(BaseModel):
    status: str


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    size = int(os.environ.get("CEILING_POOL_SIZE", "10"))
    app.state.pool = await asyncpg.create_pool(
        os.environ["CEILING_DATABASE_URL"],
        min_size=size,
        max_size=size,
        init=plan_once,
        reset=plan_once,  # asyncpg's own reset (RESET ALL) would undo it
    )
    app.state.lookup = await CallerLookup.on(app.state.pool)
    try:
        yield
    finally:
        await app.state.pool.close()


app = FastAPI(lifespan=lifespan)


@app.get("/ping")
async def ping() -> Pong:
    return Pong(status="ok")


@app.get("/lookup/{phone}")
async def lookup(phone: str, request: Request) -> Caller:
    async with request.app.state.pool.acquire() as conn:
        row = await request.app.state.lookup(conn, phone)
    if row is None:
        raise HTTPException(404, "unknown phone")
    return Caller(**row)


@app.post("/deliveries", status_code=202)
async def store(delivery: Delivery, request: Request) -> Stored:
    stored = await request.app.state.pool.fetchval(
        STORE, delivery.source, delivery.delivery_id, json.dumps(delivery.payload)
    )
    return Stored(stored=stored is not None)
