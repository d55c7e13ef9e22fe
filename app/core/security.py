"""Security primitives: roles, API key material and the authenticated caller."""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from uuid import UUID


class Role(StrEnum):
    """What a caller is allowed to do; every route names the roles it admits."""

    ADMIN = "admin"
    INTEGRATION = "integration"
    SUPPORT = "support"
    SALES = "sales"
    COLLECTIONS = "collections"
    TECH_SUPPORT = "tech_support"
    MARKETING = "marketing"
    COMMUNITY = "community"


# Every role but these two is a job: a key of it reads its own job's ficha only, so a
# role added to Role is a job unless it is named here.
JOB_ROLES: tuple[Role, ...] = tuple(r for r in Role if r not in (Role.ADMIN, Role.INTEGRATION))
ALL_ROLES: tuple[Role, ...] = tuple(Role)


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller behind a valid API key."""

    key_id: UUID
    role: Role
    agent_id: str | None = None
    owned_only: bool = False
    webhook_source: str | None = None  # the webhook source writing; None for an API key
    supervisor: bool = False  # acknowledges any alert it can see
    # Set when the caller sent a session token minted by the key: when the token expires.
    token_expires_at: datetime | None = None


def generate_api_key() -> str:
    """A new secret: 32 random bytes, URL-safe. Shown once, never stored."""
    return secrets.token_urlsafe(32)


def hash_api_key(key: str) -> str:
    """The stored form of a key (and of a session token): its SHA-256, hex."""
    return hashlib.sha256(key.encode()).hexdigest()


# Marks a session token apart from an API key, so each is looked up in its own table: a
# key is URL-safe base64, which never contains a dot.
# Notified on commit whenever what a key may see changes: `key:<id>` when a key is revoked
# (auth's repository sends it), `customer:<id>` when a customer's owner, status or merge
# changes (a trigger on customers) or, for an organisation, when a contact person joins or
# leaves it (customers' service sends it). Open streams listen and check their access again.
ACCESS_CHANNEL = "ch_access"
SESSION_TOKEN_PREFIX = "cht."  # noqa: S105 (a marker, not a secret)


def generate_session_token() -> str:
    """A new session token: 32 random bytes behind the prefix. Shown once, stored hashed."""
    return SESSION_TOKEN_PREFIX + secrets.token_urlsafe(32)


def is_session_token(secret: str) -> bool:
    """Whether a bearer secret is a session token rather than an API key."""
    return secret.startswith(SESSION_TOKEN_PREFIX)
