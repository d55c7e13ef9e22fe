"""The customer aggregate: customers, their identifiers and their consent history."""

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Computed,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, StrEnumColumn, new_id
from app.customers.identifiers import IdentifierKind
from app.customers.schemas import (
    ContactChannel,
    CustomerKind,
    CustomerStatus,
    Purpose,
    SizeBand,
    Tier,
)

# ch_unaccent is an IMMUTABLE wrapper of unaccent (created by the migration) so that it
# can feed a generated column and a trigram index.
SEARCH_TEXT_SQL = (
    "ch_unaccent(lower(coalesce(display_name, '') || ' ' || coalesce(given_name, '') || ' ' "
    "|| coalesce(family_name, '') || ' ' || coalesce(legal_name, '')))"
)


class Customer(Base):
    __tablename__ = "customers"
    __table_args__ = (
        CheckConstraint("kind IN ('person', 'organization')", name="kind"),
        CheckConstraint("tier IN ('standard', 'premium', 'vip')", name="tier"),
        CheckConstraint("status IN ('active', 'merged', 'erased')", name="status"),
        Index(
            "ix_customers_search_text_trgm",
            "search_text",
            postgresql_using="gin",
            postgresql_ops={"search_text": "gin_trgm_ops"},
        ),
        Index("ix_customers_owner_id", "owner_id"),
        Index("ix_customers_organization_id", "organization_id"),
        Index("ix_customers_tags", "tags", postgresql_using="gin"),
        Index("ix_customers_merged_into", "merged_into"),
        # A merged customer holds the root of its family, a customer not merged none
        # (app/customers/family.py).
        CheckConstraint("(merge_root IS NULL) = (merged_into IS NULL)", name="merge_root"),
        Index(
            "ix_customers_merge_root", "merge_root", postgresql_where=text("merge_root IS NOT NULL")
        ),
    )

    id: Mapped[UUID] = mapped_column(primary_key=True, default=new_id)
    kind: Mapped[CustomerKind] = mapped_column(StrEnumColumn(CustomerKind, 16))
    display_name: Mapped[str] = mapped_column(String(300))
    given_name: Mapped[str | None] = mapped_column(String(200))
    family_name: Mapped[str | None] = mapped_column(String(200))
    job_title: Mapped[str | None] = mapped_column(String(200))
    # Another customer, perhaps on another node: kept by the service, not by a foreign key
    # (migration 0029 says where).
    organization_id: Mapped[UUID | None] = mapped_column()
    legal_name: Mapped[str | None] = mapped_column(String(300))
    sector: Mapped[str | None] = mapped_column(String(100))
    size_band: Mapped[SizeBand | None] = mapped_column(StrEnumColumn(SizeBand, 20))
    revenue_band: Mapped[str | None] = mapped_column(String(50))
    website: Mapped[str | None] = mapped_column(String(500))
    address: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    preferred_language: Mapped[str | None] = mapped_column(String(35))
    tier: Mapped[Tier] = mapped_column(
        StrEnumColumn(Tier, 16), default=Tier.STANDARD, server_default="standard"
    )
    owner_id: Mapped[str | None] = mapped_column(String(200))
    tags: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list, server_default="{}")
    attributes: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default="{}")
    preferences: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    status: Mapped[CustomerStatus] = mapped_column(
        StrEnumColumn(CustomerStatus, 16), default=CustomerStatus.ACTIVE, server_default="active"
    )
    merged_into: Mapped[UUID | None] = mapped_column()
    # The owners of this organisation's live contact persons (not merged; NULL for one
    # without an owner), each once: whether a key misses one of them is read here, where
    # the organisation is, not from the contact persons (on other shards on Citus). Kept
    # by customers.queries.keep_contact_owners; empty for a person.
    contact_owners: Mapped[list[str | None]] = mapped_column(
        ARRAY(Text), default=list, server_default="{}"
    )
    merge_root: Mapped[UUID | None] = mapped_column()
    unverified: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    search_text: Mapped[str] = mapped_column(Text, Computed(SEARCH_TEXT_SQL, persisted=True))


class CustomerIdentifier(Base):
    """A value that names one live customer: phone (E.164), email, or source:type:id."""

    __tablename__ = "customer_identifiers"
    __table_args__ = (
        # One value names one customer: the key (and the shard key of this table).
        PrimaryKeyConstraint("kind", "value"),
        CheckConstraint("kind IN ('phone', 'email', 'external')", name="kind"),
        Index("ix_customer_identifiers_customer_id", "customer_id"),
        # Emails by their start (a search for "zz@"): a range in byte order.
        Index(
            "ix_customer_identifiers_email_prefix",
            "value",
            postgresql_ops={"value": "text_pattern_ops"},
            postgresql_where=text("kind = 'email'"),
        ),
    )

    id: Mapped[UUID] = mapped_column(default=new_id)
    # Identifiers are spread by value, not by customer: no foreign key (migration 0029).
    customer_id: Mapped[UUID] = mapped_column()
    kind: Mapped[IdentifierKind] = mapped_column(StrEnumColumn(IdentifierKind, 16))
    value: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class PastIdentifier(Base):
    """An identifier the customer no longer has: kept for their data export, erased with
    them, never used to recognise anybody."""

    __tablename__ = "past_identifiers"
    __table_args__ = (PrimaryKeyConstraint("customer_id", "id"),)

    id: Mapped[UUID] = mapped_column(default=new_id)
    customer_id: Mapped[UUID] = mapped_column(ForeignKey("customers.id"))
    kind: Mapped[IdentifierKind] = mapped_column(StrEnumColumn(IdentifierKind, 16))
    value: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    removed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Consent(Base):
    """One consent decision; the current state per channel and purpose is the latest row."""

    __tablename__ = "customer_consents"
    __table_args__ = (
        CheckConstraint("channel IN ('email', 'phone', 'sms', 'whatsapp', 'post')", name="channel"),
        CheckConstraint("purpose IN ('marketing', 'service', 'profiling')", name="purpose"),
        PrimaryKeyConstraint("customer_id", "id"),
        Index("ix_customer_consents_customer_id_recorded_at", "customer_id", "recorded_at"),
    )

    id: Mapped[UUID] = mapped_column(default=new_id)
    customer_id: Mapped[UUID] = mapped_column(ForeignKey("customers.id"))
    channel: Mapped[ContactChannel] = mapped_column(StrEnumColumn(ContactChannel, 16))
    purpose: Mapped[Purpose] = mapped_column(StrEnumColumn(Purpose, 16))
    granted: Mapped[bool] = mapped_column(Boolean)
    source: Mapped[str] = mapped_column(String(200))
    evidence: Mapped[str | None] = mapped_column(Text)
    recorded_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
