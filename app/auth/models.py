"""API keys: stored hashed, carrying a role and optional owner restriction."""

from datetime import datetime
from uuid import UUID

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    PrimaryKeyConstraint,
    String,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, StrEnumColumn, new_id
from app.core.security import Role


class ApiKey(Base):
    __tablename__ = "api_keys"
    __table_args__ = (
        # Admin operations span every customer (reports, raw deliveries, incidents): an
        # admin key cannot be restricted to some.
        CheckConstraint(
            "revoked_at IS NOT NULL OR NOT (owned_only AND role = 'admin')", name="admin_sees_all"
        ),
    )

    id: Mapped[UUID] = mapped_column(primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[Role] = mapped_column(StrEnumColumn(Role, 32))
    agent_id: Mapped[str | None] = mapped_column(String(200))
    owned_only: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    # A supervisor acknowledges any alert it can see, not only its own customers'.
    supervisor: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class SessionToken(Base):
    """A short-lived token minted by a key for a browser session: it acts as its key, no
    more, until it expires or the key is revoked (the key's row is read with it on every
    request). Stored only as its SHA-256, like keys."""

    __tablename__ = "session_tokens"
    __table_args__ = (Index("ix_session_tokens_key_id_expires_at", "key_id", "expires_at"),)

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    key_id: Mapped[UUID] = mapped_column(ForeignKey("api_keys.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AccessLog(Base):
    """Who read which customer's data, when, in which role, through what."""

    __tablename__ = "access_log"
    __table_args__ = (
        PrimaryKeyConstraint("customer_id", "id"),
        Index("ix_access_log_customer_id_at", "customer_id", "at"),
    )

    id: Mapped[UUID] = mapped_column(default=new_id)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    customer_id: Mapped[UUID] = mapped_column()
    key_id: Mapped[UUID] = mapped_column()
    agent_id: Mapped[str | None] = mapped_column(String(200))
    role: Mapped[Role] = mapped_column(StrEnumColumn(Role, 32))
    what: Mapped[str] = mapped_column(String(100))
