"""Source names and who may write them: the namespaces of event keys.

An event's idempotency key is a row ``(scope, key)`` of ``event_keys``. The scope says
whose namespace the key is in, so that no writer can claim another's keys first (a
planted Shopify order would take the real order's refund; a planted Twilio call id would
drop the genuine callback as a duplicate):

- a platform's webhook source names its events after itself only: ``<name>``;
- the generic webhook source, any name not reserved: ``generic/<source>``;
- an API key, any name not reserved: ``<source>``;
- an owned-only API key, any name not reserved: ``owner/<sha256 of agent id>/<source>``;
- the ``Idempotency-Key`` header, whatever the source: ``key/<API key id>``.

A source name cannot contain "/" (``SourceName``), so a bare scope is a source name and a
scope with "/" is one of the namespaces above: none can be reached by choosing a name.
Every webhook adapter's name is reserved, configured or not, so that a platform set up
later finds its namespace empty; so are the names the service writes under itself.
An owned-only key has its owner's namespace: it can never learn, by a duplicate, that
another owner's customer holds a key.
"""

import hashlib

from app.core.errors import invalid_field
from app.core.security import Principal

# The name of every webhook adapter (``app.ingest.adapters.ADAPTERS``; a test keeps the
# two equal: the timeline cannot import the ingest layer above it).
WEBHOOK_SOURCES = frozenset(
    {
        "twilio",
        "aircall",
        "sendgrid-inbound",
        "sendgrid-events",
        "mailgun",
        "postmark",
        "shopify",
        "woocommerce",
        "stripe",
        "generic",
    }
)
GENERIC_SOURCE = "generic"
# What the service records under its own name: merges, preferences, consents
# (``customer-history``) and erasures (``privacy``, written by ``ch_erase_customer``).
SERVICE_SOURCE = "customer-history"
SERVICE_SOURCES = frozenset({SERVICE_SOURCE, "privacy"})
RESERVED_SOURCES = WEBHOOK_SOURCES | SERVICE_SOURCES

_HEADER_NAMESPACE = "key/"


def check_source(source: str, writer: Principal | None, field: str) -> None:
    """A 422 naming ``field`` when ``writer`` may not name its events ``source``.

    ``writer`` None is the service itself, which may use any name."""
    if writer is None or source not in RESERVED_SOURCES or source == writer.webhook_source:
        return
    if source in WEBHOOK_SOURCES:
        reason = f"'{source}' is reserved: only the {source} webhook source writes under it"
    else:
        reason = f"'{source}' is reserved: the service records it itself"
    raise invalid_field(field, reason)


def _owner_namespace(writer: Principal) -> str:
    # Hashed: agent ids are free text up to 200 characters, the scope column 200 in all.
    digest = hashlib.sha256((writer.agent_id or "").encode()).hexdigest()
    return f"owner/{digest}/"


def source_scope(source: str, writer: Principal) -> str:
    """The scope of the keys that ``writer`` gives events of ``source``."""
    if writer.webhook_source == GENERIC_SOURCE:
        return f"{GENERIC_SOURCE}/{source}"
    if writer.owned_only:
        return _owner_namespace(writer) + source
    return source


def reference_scopes(source: str, writer: Principal) -> tuple[str, ...]:
    """Where a reference to an earlier event of ``source`` is looked up, in order: a
    platform's events in the platform's namespace; any other in the writer's own, then,
    for an owned-only key, among unrestricted API writers' events (the order a shop
    integration recorded). What is found there counts only if the writer may see its
    customer, so looking there tells an owned-only key nothing of other owners."""
    if source in WEBHOOK_SOURCES and source != GENERIC_SOURCE:
        return (source,)
    own = source_scope(source, writer)
    return (own, source) if own != source else (own,)


def header_scope(writer: Principal) -> str:
    """The scope of the ``Idempotency-Key`` header: each API key has its own."""
    return f"{_HEADER_NAMESPACE}{writer.key_id}"


def is_header_scope(scope: str) -> bool:
    return scope.startswith(_HEADER_NAMESPACE)


def scope_source(scope: str) -> str:
    """The source name a scope of source keys was made from (its last part)."""
    return scope.rsplit("/", 1)[-1]
