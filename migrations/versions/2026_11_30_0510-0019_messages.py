"""messages: templates, and the messages to customers with their queue

``message_templates`` holds each template's texts in every language, editable at run time;
the two journeys' templates are stored here as frozen copies of the code's defaults at
this revision (a later change to the code's defaults does not rewrite them).

``messages`` is one row per message to a customer: queued until ``not_before`` (contact
hours, a journey's delay), then sent, skipped, cancelled or failed, saying why; a
journey's message carries a ``dedupe`` key unique per customer (once per alert, once per
incident). The service's role reads and writes both through the default privileges of 0014.

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-30 05:10:00+00:00
"""

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TEMPLATES = json.loads(
    """
{
    "abandoned_calls": {
        "purpose": "service",
        "fields": [
            "missed_calls_4h"
        ],
        "texts": {
            "es": {
                "subject": "Hemos visto sus llamadas",
                "body": "Hola $given_name: hemos visto sus $missed_calls_4h llamadas y sentimos no haberle atendido. Elija cuándo le llamamos: $callback_url"
            },
            "pt": {
                "subject": "Vimos as suas chamadas",
                "body": "Olá $given_name: vimos as suas $missed_calls_4h chamadas e lamentamos não ter atendido. Escolha quando ligamos: $callback_url"
            },
            "en": {
                "subject": "We saw your calls",
                "body": "Hi $given_name, we saw your $missed_calls_4h calls and are sorry we missed you. Pick a time for us to call you back: $callback_url"
            },
            "fr": {
                "subject": "Nous avons vu vos appels",
                "body": "Bonjour $given_name, nous avons vu vos $missed_calls_4h appels et regrettons de ne pas avoir répondu. Choisissez quand nous vous rappelons : $callback_url"
            }
        }
    },
    "carrier_delay": {
        "purpose": "service",
        "fields": [
            "incident_title"
        ],
        "texts": {
            "es": {
                "subject": "Su pedido llegará con retraso",
                "body": "Hola $given_name: su pedido se retrasa por un problema del transportista ($incident_title). Lo sentimos; le avisaremos en cuanto llegue."
            },
            "pt": {
                "subject": "A sua encomenda vai chegar com atraso",
                "body": "Olá $given_name: a sua encomenda está atrasada por um problema da transportadora ($incident_title). Lamentamos; avisaremos quando chegar."
            },
            "en": {
                "subject": "Your order will arrive late",
                "body": "Hi $given_name, your order is delayed by a carrier problem ($incident_title). We are sorry; we will tell you when it arrives."
            },
            "fr": {
                "subject": "Votre commande arrivera en retard",
                "body": "Bonjour $given_name, votre commande est retardée par un problème du transporteur ($incident_title). Désolés ; nous vous préviendrons à son arrivée."
            }
        }
    }
}
"""
)


def upgrade() -> None:
    op.create_table(
        "message_templates",
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("fields", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("texts", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint(
            "purpose IN ('service', 'marketing')", name=op.f("ck_message_templates_purpose")
        ),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_message_templates")),
    )
    for name, template in TEMPLATES.items():
        op.execute(
            sa.text(
                "INSERT INTO message_templates (name, purpose, fields, texts) VALUES "
                "(:name, :purpose, CAST(:fields AS jsonb), CAST(:texts AS jsonb)) "
                "ON CONFLICT (name) DO NOTHING"
            ).bindparams(
                name=name,
                purpose=template["purpose"],
                fields=json.dumps(template["fields"]),
                texts=json.dumps(template["texts"], ensure_ascii=False),
            )
        )
    op.create_table(
        "messages",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("template", sa.String(length=80), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("fields", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("origin", sa.String(length=200), nullable=False),
        sa.Column("dedupe", sa.String(length=200), nullable=True),
        sa.Column("alert_id", sa.Uuid(), nullable=True),
        sa.Column("status", sa.String(length=16), server_default="queued", nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("not_before", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=True),
        sa.Column("language", sa.String(length=8), nullable=True),
        sa.Column("provider", sa.String(length=20), nullable=True),
        sa.Column("provider_message_id", sa.String(length=200), nullable=True),
        sa.Column("callback_token", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("callback_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('queued', 'sent', 'delivered', 'failed', 'skipped', 'cancelled')",
            name=op.f("ck_messages_status"),
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_messages_customer_id_customers")
        ),
        sa.PrimaryKeyConstraint("customer_id", "id", name=op.f("pk_messages")),
    )
    op.create_index("ix_messages_id", "messages", ["id"])
    op.create_index(
        "ix_messages_due", "messages", ["not_before"], postgresql_where=sa.text("status = 'queued'")
    )
    op.create_index(
        "uq_messages_dedupe",
        "messages",
        ["customer_id", "dedupe"],
        unique=True,
        postgresql_where=sa.text("dedupe IS NOT NULL"),
    )
    op.create_index(
        "ix_messages_provider_message_id",
        "messages",
        ["provider_message_id"],
        postgresql_where=sa.text("provider_message_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_table("messages")
    op.drop_table("message_templates")
