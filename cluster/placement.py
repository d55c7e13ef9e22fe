"""Where each table of the schema lives on a Citus cluster: the one table of decisions.

`python -m cluster distribute` places the tables by it, `make cluster-explore` tries it
on the schema as migrated, and tests/test_migrations.py checks that every table the
migrations make has its row here and that each key holds its shard column.

The order is the order of placement: the anchor of the customers' co-location group
first, the tables that follow it, the tables with a key of their own, the reference
tables last (making a reference table of a table that plain tables still reference turns
them into Citus local tables, which can no longer be distributed: docs/scaling.md).
"""

from dataclasses import dataclass
from typing import Literal

Kind = Literal["distributed", "reference", "local"]


@dataclass(frozen=True)
class Placement:
    """One table's place: distributed by ``column`` (co-located with ``colocate_with``,
    or ``"none"``: a group of its own), a reference table (a copy on every node), or a
    plain table on the coordinator."""

    table: str
    kind: Kind
    column: str | None = None
    colocate_with: str = "none"
    # The table's triggers look at their own row and nothing else, so each shard may
    # fire them (placed under citus.enable_unsafe_triggers); otherwise Citus refuses a
    # table with triggers, and the refusal is reported.
    triggers_on_shards: bool = False
    why: str = ""


def _by_customer(table: str, *, triggers_on_shards: bool = False) -> Placement:
    return Placement(
        table, "distributed", "customer_id", "customers", triggers_on_shards=triggers_on_shards
    )


PLACEMENTS: tuple[Placement, ...] = (
    Placement("customers", "distributed", "id", why="the anchor: a customer's rows live together"),
    _by_customer("customer_stats"),
    # The append-only guard refuses an UPDATE, DELETE or TRUNCATE of the shard's own rows.
    _by_customer("events", triggers_on_shards=True),
    _by_customer("alerts"),
    _by_customer("access_log"),
    _by_customer("customer_consents"),
    _by_customer("past_identifiers"),
    _by_customer("delivery_customers"),
    _by_customer("messages"),
    _by_customer("tasks"),
    _by_customer("text_analyses"),
    # An identifier names one customer across the cluster, so its uniqueness is checked
    # where the value lives: identify by (kind, value) is a router query.
    Placement("customer_identifiers", "distributed", "value", why="identify by value"),
    Placement(
        "delivery_identifiers",
        "distributed",
        "value",
        "customer_identifiers",
        why="joined to identifiers by value",
    ),
    Placement("webhook_deliveries", "distributed", "delivery_id", why="stored once by delivery"),
    # By the key's digest, which an erasure keeps (it rewrites the key itself): a claim
    # and a look-up, of a key or of its erased form, are one shard's.
    Placement("event_keys", "distributed", "digest", why="claimed once by key"),
    Placement("session_tokens", "distributed", "token_hash", why="looked up by its hash"),
    Placement("customer_merges", "reference"),
    Placement("incidents", "reference"),
    Placement("api_keys", "reference"),
    Placement("ficha_templates", "reference"),
    Placement("message_templates", "reference"),
    Placement("policies", "reference"),
    Placement("text_rules", "reference"),
    Placement("alembic_version", "local", why="the migrations' own"),
    # Outbound: planned as reference tables (few writes per fact, read by the one sending
    # process), left on the coordinator for now: a fact's statement writes them beside a
    # distributed table in one CTE, which Citus runs when they are local.
    *(
        Placement(table, "local", why="outbound: written with the fact")
        for table in (
            "webhook_subscriptions",
            "subscription_secrets",
            "outbox",
            "outbound_deliveries",
            "outbound_attempts",
            "alert_changes",
        )
    ),
)

BY_TABLE = {p.table: p for p in PLACEMENTS}


def shard_column(table: str) -> str | None:
    """The column ``table`` is distributed by (None: a reference or local table)."""
    return BY_TABLE[table].column


def statement(placement: Placement) -> str:
    """The call that places the table (none for a local table)."""
    if placement.kind == "distributed":
        return (
            f"SELECT create_distributed_table('{placement.table}', '{placement.column}', "
            f"colocate_with => '{placement.colocate_with}')"
        )
    if placement.kind == "reference":
        return f"SELECT create_reference_table('{placement.table}')"
    raise ValueError(f"{placement.table} stays a plain table on the coordinator")
