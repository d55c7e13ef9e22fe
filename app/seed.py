"""Fill a database fast for benchmarks: realistic customers and histories through COPY.

Persons and organisations (with their contacts) from Spain, Brazil and France, with
their names, phones and emails; histories of calls, emails, orders with items, tickets
and surveys. Every payload has the shape the event catalog validates, and the stats of
every customer are built by the same rebuild the service uses, so fichas, routing and
segments read real indicators. Seeded events carry no source event id: they were never
delivered by anybody, so nothing can deliver them again.
"""

import json
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg

from app.core.clock import SYSTEM_CLOCK
from app.core.config import get_settings
from app.core.db import Database, new_id, plain_url
from app.customers.service import recount_contact_owners
from app.indicators.service import rebuild
from app.timeline.catalog import event_type
from app.timeline.service import default_summary

# Per language: phone of customer n, currency, and names to draw from.
LOCALES: dict[str, dict[str, Any]] = {
    "es": {
        "phone": lambda n: f"+346{n % 10**8:08d}",
        "currency": "EUR",
        "given": ["Lucía", "Martín", "Carmen", "Javier", "Núria", "Álvaro", "Paula", "Iñaki"],
        "family": ["García", "Fernández", "López", "Martínez", "Sánchez", "Núñez", "Pérez"],
        "company": ["Talleres", "Distribuciones", "Construcciones", "Ferretería"],
        "domain": "example.es",
    },
    "pt": {
        "phone": lambda n: f"+55119{n % 10**8:08d}",
        "currency": "BRL",
        "given": ["João", "Ana", "Luís", "Beatriz", "Thiago", "Conceição", "Gonçalo"],
        "family": ["Silva", "Souza", "Gonçalves", "Araújo", "Conceição", "Magalhães"],
        "company": ["Comércio", "Transportes", "Soluções", "Indústria"],
        "domain": "example.com.br",
    },
    "fr": {
        "phone": lambda n: f"+336{n % 10**8:08d}",
        "currency": "EUR",
        "given": ["Chloé", "Étienne", "Hélène", "François", "Zoé", "Raphaël", "Maëlle"],
        "family": ["Martin", "Lefèvre", "Dubois", "Girard", "Moreau", "Béranger"],
        "company": ["Atelier", "Boulangerie", "Transports", "Éditions"],
        "domain": "example.fr",
    },
}
SKUS = [f"SKU-{n:03d}" for n in range(60)]
TICKET_CATEGORIES = ["delivery", "billing", "product", "returns"]
START = datetime(2024, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class SeedReport:
    customers: int
    organizations: int
    events: int
    seconds: float


def _payload(kind: str, rng: random.Random, n: int, currency: str) -> dict[str, Any]:
    if kind == "call.completed":
        return {"duration_s": rng.randrange(20, 1500), "agent": f"agent-{rng.randrange(40)}"}
    if kind == "call.missed":
        return {"agent": f"agent-{rng.randrange(40)}"}
    if kind in ("email.received", "email.sent"):
        return {"subject": rng.choice(["Pedido", "Factura", "Entrega", "Pergunta", "Devis"])}
    if kind == "order.placed":
        lines = [(rng.choice(SKUS), rng.randrange(1, 4), rng.randrange(5, 300)) for _ in range(3)]
        lines = lines[: rng.randrange(1, 4)]
        return {
            "order_id": f"SO-{n}",
            "total": f"{sum(qty * (price + 0.9) for _, qty, price in lines):.2f}",
            "currency": currency,
            "items": [
                {"sku": sku, "qty": qty, "unit_price": f"{price}.90"} for sku, qty, price in lines
            ],
        }
    if kind in ("ticket.opened", "ticket.resolved"):
        return {"ticket_id": f"T-{n}", "category": rng.choice(TICKET_CATEGORIES)}
    return {"csat": rng.choices([1, 2, 3, 4, 5], weights=[1, 1, 2, 4, 5])[0]}


# The mix of a history: mostly calls and emails, some orders, few tickets and surveys.
MIX = [
    ("call.completed", 30),
    ("call.missed", 5),
    ("email.received", 15),
    ("email.sent", 10),
    ("order.placed", 20),
    ("ticket.opened", 8),
    ("ticket.resolved", 6),
    ("survey.answered", 6),
]


# The events columns of each row history() yields, in order.
HISTORY_COLUMNS = [
    "id",
    "customer_id",
    "type",
    "occurred_at",
    "channel",
    "direction",
    "source",
    "summary",
    "payload",
]


def history(
    rng: random.Random, customer_id: UUID, count: int, currency: str
) -> Iterator[tuple[Any, ...]]:
    """``count`` events of one customer as rows of the events table, oldest first."""
    kinds = rng.choices([k for k, _ in MIX], weights=[w for _, w in MIX], k=count)
    at = START + timedelta(minutes=rng.randrange(0, 60 * 24 * 300))
    for kind in kinds:
        at += timedelta(minutes=rng.randrange(30, 60 * 24 * 20))
        n = rng.randrange(10**9)
        payload = _payload(kind, rng, n, currency)
        entry = event_type(kind)
        assert entry is not None, kind
        yield (
            new_id(),
            customer_id,
            kind,
            at,
            entry.channel.value,
            "outbound" if kind == "email.sent" else "inbound",
            "seed",
            default_summary(kind, payload),
            json.dumps(payload, separators=(",", ":")),
        )


def customers(
    rng: random.Random, start: int, count: int
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[UUID, str]]]:
    """Rows of customers and identifiers for customers ``start`` .. ``start + count``, and
    (id, currency) of each; one in ten is an organisation followed by two contacts."""
    rows: list[tuple[Any, ...]] = []
    identifiers: list[tuple[Any, ...]] = []
    made: list[tuple[UUID, str]] = []
    organization: UUID | None = None
    for n in range(start, start + count):
        language = rng.choice(list(LOCALES))
        spec = LOCALES[language]
        customer_id = new_id()
        if n % 10 == 0:
            name = f"{rng.choice(spec['company'])} {rng.choice(spec['family'])} {n}"
            rows.append((customer_id, "organization", name, None, None, None, language, "premium"))
            organization = customer_id
            email = f"contacto{n}@{spec['domain']}"
        else:
            given, family = rng.choice(spec["given"]), rng.choice(spec["family"])
            parent = organization if n % 10 in (1, 2) else None
            tier = rng.choices(["standard", "premium", "vip"], weights=[85, 12, 3])[0]
            rows.append(
                (customer_id, "person", f"{given} {family}", given, family, parent, language, tier)
            )
            email = f"{given.lower()}.{n}@{spec['domain']}"
        identifiers.append((new_id(), customer_id, "phone", spec["phone"](n)))
        identifiers.append((new_id(), customer_id, "email", email))
        made.append((customer_id, spec["currency"]))
    return rows, identifiers, made


async def seed(
    database_url: str, count: int, events_per_customer: int, *, batch: int = 5000, seed_: int = 1
) -> SeedReport:
    """Add ``count`` customers with ``events_per_customer`` events each; their stats are
    rebuilt batch by batch. Phones are numbered from the customers already present, so
    seeding twice adds, never collides."""
    rng = random.Random(seed_)  # noqa: S311 - reproducible test data, not secrets
    began = time.monotonic()  # how long seeding took: a duration, not the service's clock
    conn = await asyncpg.connect(plain_url(database_url))
    database = Database(database_url, pool_size=1, max_overflow=0)
    try:
        offset = int(await conn.fetchval("SELECT count(*) FROM customers"))
        organizations = events = 0
        for number, start in enumerate(range(offset, offset + count, batch)):
            if number & (number - 1) == 0 or number % 20 == 0:
                # COPY leaves the planner's statistics behind; the rebuild's batch query
                # would scan every event without them.
                await conn.execute("ANALYZE customers, customer_identifiers, events")
            size = min(batch, offset + count - start)
            rows, identifiers, made = customers(rng, start, size)
            organizations += sum(1 for r in rows if r[1] == "organization")
            history_rows = [
                row
                for customer_id, currency in made
                for row in history(rng, customer_id, events_per_customer, currency)
            ]
            async with conn.transaction():
                await conn.copy_records_to_table(
                    "customers",
                    records=rows,
                    columns=[
                        "id",
                        "kind",
                        "display_name",
                        "given_name",
                        "family_name",
                        "organization_id",
                        "preferred_language",
                        "tier",
                    ],
                )
                await conn.copy_records_to_table(
                    "customer_identifiers",
                    records=identifiers,
                    columns=["id", "customer_id", "kind", "value"],
                )
                await conn.copy_records_to_table(
                    "events",
                    records=history_rows,
                    columns=HISTORY_COLUMNS,
                )
                await recount_contact_owners(conn, list({r[5] for r in rows if r[5] is not None}))
            events += len(history_rows)
            async with database.sessionmaker() as session, session.begin():
                made_ids = [customer_id for customer_id, _ in made]
                await rebuild(session, made_ids, get_settings(), SYSTEM_CLOCK)
    finally:
        await conn.close()
        await database.dispose()
    seconds = time.monotonic() - began
    return SeedReport(count, organizations, events, round(seconds, 1))
