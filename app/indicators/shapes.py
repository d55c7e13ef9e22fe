"""The shapes that cross from the indicators to the domains that read them: the fold's
state, the derived indicators, and a customer's stats as stored.

They are TypedDicts: plain dicts at run time (the fold on every append pays nothing for
them, and they go to JSONB and back as they are), checked by mypy wherever they are read,
so that a key renamed here is an error in every reader (docs/extending.md, "Typed seams").
The answer bodies of the API (``schemas.py``) hold the same keys, and a test holds them
equal. A position in the history is ``(at, event id)``: ``at`` an ISO 8601 instant in UTC,
compared as text.
"""

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, NotRequired, TypedDict
from uuid import UUID

from app.alerts.schemas import AlertOut
from app.core.money import MoneyValue

# --- the fold's state (state.py keeps it; fichas and segments read it) -----------------


class OrderEntry(TypedDict):
    """An order, by its id: its latest status, and what its events said of it."""

    status: str  # placed | paid | shipped | delivered | cancelled | refunded
    at: str  # the position of the latest status
    at_id: str
    placed: NotRequired[str]  # the earliest order.placed
    total: NotRequired[str]  # the latest total, at (total_at, total_id)
    currency: NotRequired[str | None]
    total_at: NotRequired[str]
    total_id: NotRequired[str]
    skus: NotRequired[list[str]]
    names: NotRequired[dict[str, str]]  # product names by SKU, where the events gave them
    shipped_at: NotRequired[str]
    shipped_at_id: NotRequired[str]
    carrier: NotRequired[str | None]
    delivered_at: NotRequired[str]  # the latest order.delivered


class PaymentEntry(TypedDict):
    """A payment's latest event (received or failed), by the payment's id."""

    at: str
    at_id: str
    type: str  # payment.received | payment.failed
    amount: str | None
    currency: str | None
    order_id: str | None
    invoice_id: str | None
    reason: str | None


class DisputeEntry(TypedDict):
    """A payment's dispute: its latest status, and when it was first opened."""

    at: str
    at_id: str
    status: str
    opened_at: str


class InvoiceEntry(TypedDict):
    """An invoice reported overdue, at its latest report."""

    overdue_at: str
    at_id: str
    amount: str | None
    currency: str | None


class TicketEntry(TypedDict):
    """A ticket, by its id: its latest status and category, when opened and resolved."""

    at: str  # the position of the latest status
    at_id: str
    status: str
    opened_at: NotRequired[str]
    resolved_at: NotRequired[str]
    category: NotRequired[str]
    category_at: NotRequired[str]
    category_at_id: NotRequired[str]
    subject: NotRequired[str]  # the latest subject and resolution its events gave
    subject_at: NotRequired[str]
    subject_at_id: NotRequired[str]
    resolution: NotRequired[str]
    resolution_at: NotRequired[str]
    resolution_at_id: NotRequired[str]


class State(TypedDict):
    """A customer's history folded (``state.fold``), the same whatever the arrival order.

    The lists are JSON arrays by position, as stored: ``refunds`` [at, amount, currency] by
    event id; ``corrections`` [at, event id, payload patch] by the corrected event's id;
    ``surveys`` [at, event id, csat, nps]; ``rated`` [at, event id, satisfaction];
    ``missed_calls`` [at, event id]; ``last`` [at, event id, channel, type].
    """

    orders: dict[str, OrderEntry]
    refunds: dict[str, list[Any]]
    payments: dict[str, PaymentEntry]
    disputes: dict[str, DisputeEntry]
    invoices: dict[str, InvoiceEntry]
    tickets: dict[str, TicketEntry]
    surveys: list[list[Any]]
    rated: list[list[Any]]
    missed_calls: list[list[str]]
    corrections: dict[str, list[Any]]
    last: list[str] | None
    # [at, event id, sentiment, score, urgency, abusive, intents, reasons] of each analysed
    # message, and [at, event id, TextFinding] of the latest (absent from states stored
    # before messages were analysed)
    texts: NotRequired[list[list[Any]]]
    last_text: NotRequired[list[Any] | None]


class TextFinding(TypedDict):
    """What the analysis of a message found (``app.text.service.finding``)."""

    language: str | None
    sentiment: str
    score: float
    urgency: str
    reasons: list[str]
    intents: list[str]
    abusive: bool
    terms: dict[str, Any] | None  # None once the customer was erased


# --- the derived indicators (state.derive; the rules, fichas and the API read them) -----


class ChurnLevel(StrEnum):
    """How likely the customer is to leave (``customer_stats.churn_risk``)."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class ValueSegment(StrEnum):
    """The customer's value segment (``customer_stats.value_segment``); the API answers it
    as an open set of strings."""

    NONE = "none"
    NEW = "new"
    OCCASIONAL = "occasional"
    LOYAL = "loyal"
    CHAMPION = "champion"
    AT_RISK = "at_risk"
    LAPSED = "lapsed"


class DerivedValue(TypedDict):
    lifetime_value: list[MoneyValue]
    lifetime_value_base: MoneyValue
    unconverted_currencies: list[str]
    order_count: int
    average_order_value: MoneyValue | None
    first_purchase_at: str | None
    last_purchase_at: str | None
    median_days_between_purchases: float | None
    open_orders: list[str]
    refunds: int
    disputes: int
    open_disputes: list[str]
    overdue_invoices: list[str]
    segment: ValueSegment


class DerivedService(TypedDict):
    open_tickets: list[str]
    tickets_90d: int
    recurring_problems: list[str]
    ticket_categories_60d: dict[str, int]
    average_resolution_hours: float | None


class DerivedSatisfaction(TypedDict):
    last_csat: int | None
    last_nps: int | None
    csat_90d_average: float | None
    nps_90d_average: float | None
    unsatisfied_90d: int


class LastInteraction(TypedDict):
    at: str
    channel: str
    type: str


class DerivedContact(TypedDict):
    last_interaction: LastInteraction | None
    missed_calls_today: int
    missed_calls_4h: int


class ChurnCause(TypedDict):
    """Why a churn risk is what it is: a cause of ``CHURN_REASONS`` and its values."""

    code: str
    count: NotRequired[int]  # unsatisfied contacts in 90 days
    date: NotRequired[str]  # of the message that asked to cancel or threatened
    days: NotRequired[int]  # without a purchase
    usually: NotRequired[int]  # days between purchases, the median


class DerivedRisk(TypedDict):
    churn: ChurnLevel
    churn_reason: str | None
    churn_cause: ChurnCause | None


class MessageFinding(TextFinding):
    at: str
    event_id: str


class UrgentMessage(TypedDict):
    at: str
    event_id: str
    reasons: list[str]


class AngryMessage(TypedDict):
    at: str
    event_id: str
    abusive: bool
    score: float


class ChurnSignal(TypedDict):
    at: str
    event_id: str
    intent: str


class DerivedText(TypedDict):
    last_inbound: MessageFinding | None
    negative_30d: int
    sentiment_trend: str | None
    urgent_24h: list[UrgentMessage]
    angry_24h: list[AngryMessage]
    churn_signal: ChurnSignal | None


class Derived(TypedDict):
    """The indicators as of an instant (``state.derive``), the body of ``IndicatorsOut``
    without its customer, instant and flags."""

    value: DerivedValue
    service: DerivedService
    satisfaction: DerivedSatisfaction
    contact: DerivedContact
    risk: DerivedRisk
    text: DerivedText


class FlagEntry(TypedDict):
    """A flag the rules set: what a ficha and the indicators answer show."""

    code: str
    severity: str
    label: str
    orders: NotRequired[list[str]]  # an incident's flag: the orders it affects (routing)


class Evaluated(Derived):
    """The indicators as stored with a customer's stats: derived, and the flags the rules
    set then."""

    flags: list[FlagEntry]


# --- a customer's stats, between the service and its queries ----------------------------


class IncidentRow(TypedDict):
    """An incident as the rules read it: open ones are evaluated, closed ones end."""

    id: str
    title: str
    matcher: dict[str, Any]
    open: bool


class StatsRow(TypedDict):
    """A customer's stats row as locked for an evaluation, with what the rules read."""

    customer_id: UUID
    state: State
    flags: list[str]
    tier: str
    owner_id: str | None
    organization_id: UUID | None  # a contact person's organisation (locked beside it)
    open_rules: set[str]  # the rules with an open alert


class SavedStats(TypedDict):
    """What an evaluation stores of a customer: the state, the indicators, and the columns
    that segments and the maintenance pass filter on."""

    customer_id: UUID
    state: State
    indicators: Evaluated
    ltv: Decimal
    orders: int
    open_orders: int
    last_purchase: datetime | None
    segment: ValueSegment
    churn: ChurnLevel
    flags: list[str]
    reevaluate_at: datetime | None


class Snapshot(TypedDict):
    """The stats as a ficha reads them: the state, the flags, when last evaluated (None
    before any event), and the newest open alerts."""

    state: State
    flags: list[FlagEntry]
    updated_at: datetime | None
    alerts: list[AlertOut]
