"""Prepared statements on api_keys, session_tokens and the access log (the driver path)."""

from datetime import datetime
from typing import Any
from uuid import UUID

from app.core.db import Executor, driver_connection, new_id

# Runs on every request: a prepared statement on the driver connection, one index lookup.
_ACTIVE_KEY_SQL = (
    "SELECT id, role, agent_id, owned_only, supervisor FROM api_keys "
    "WHERE key_hash = $1 AND revoked_at IS NULL"
)
_KEY_ACTIVE_SQL = "SELECT EXISTS (SELECT FROM api_keys WHERE id = $1 AND revoked_at IS NULL)"
# A session token acts as its key: read with the key's row, so that revoking the key ends
# the token at once, in every process. Two primary-key lookups.
_ACTIVE_SESSION_SQL = (
    "SELECT k.id, k.role, k.agent_id, k.owned_only, k.supervisor, t.expires_at "
    "FROM session_tokens t JOIN api_keys k ON k.id = t.key_id "
    "WHERE t.token_hash = $1 AND t.expires_at > $2 AND k.revoked_at IS NULL"
)
# Notified on commit by every change of api_keys and session_tokens (the repository sends
# it): every process drops the callers it knows (cache.py).
NOTIFY_CHANNEL = "ch_api_keys"


# The access-log row of a read: part of the reading statement of a ficha, a screen-pop and
# a timeline page; elsewhere one prepared insert, in the request's transaction if it has
# one, else committed on its own before the answer is sent.
def access_insert_sql(*values: str) -> str:
    """The insert of an access-log row from the expressions named: id, customer_id, key_id,
    agent_id, role, what. A SELECT of them, so that a statement composing it (a ficha's)
    may add the FROM they come from: one row per row of it."""
    typed = ", ".join(
        f"{value}::{type_}" for value, type_ in zip(values, _ACCESS_TYPES, strict=True)
    )
    return f"INSERT INTO access_log (id, customer_id, key_id, agent_id, role, what) SELECT {typed}"


_ACCESS_TYPES = ("uuid", "uuid", "uuid", "text", "text", "text")
_RECORD_ACCESS = access_insert_sql("$1", "$2", "$3", "$4", "$5", "$6")


async def active_key(on: Executor, key_hash: str) -> Any:
    """The active key with that hash: id, role, agent_id, owned_only, supervisor."""
    conn = await driver_connection(on)
    return await conn.fetchrow(_ACTIVE_KEY_SQL, key_hash)


async def active_token(on: Executor, token_hash: str, now: datetime) -> Any:
    """The active key behind the unexpired session token with that hash, and the token's
    expiry: id, role, agent_id, owned_only, supervisor, expires_at."""
    conn = await driver_connection(on)
    return await conn.fetchrow(_ACTIVE_SESSION_SQL, token_hash, now)


async def key_is_active(on: Executor, key_id: UUID) -> bool:
    conn = await driver_connection(on)
    return bool(await conn.fetchval(_KEY_ACTIVE_SQL, key_id))


async def add_access(
    on: Executor, customer_id: UUID, key_id: UUID, agent_id: str | None, role: str, what: str
) -> None:
    conn = await driver_connection(on)
    await conn.execute(_RECORD_ACCESS, new_id(), customer_id, key_id, agent_id, role, what)
