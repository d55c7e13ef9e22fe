"""Which customers a caller may see: the one rule, for every read and write path.

A key created owned-only for agent A sees the customers whose ``owner_id`` is A and no
others; every other key sees them all. A customer merged into another belongs to its
survivor's owner (the merge sets it, a trigger keeps it), so this rule alone decides who
sees a merged customer, its survivor and the redirect between them.

The rule comes in three spellings, side by side so that they cannot drift apart:

- :func:`visible_to`: a clause for ORM statements;
- :func:`visible_sql`: a fragment for prepared asyncpg statements, whose two parameters
  :func:`visibility_args` fills (the same for every key, so a statement is prepared once);
- :func:`is_visible`: the check for a row already read.

And what follows from it for writes: :func:`sees_everyone` (nothing to check), and
:func:`owner_of_new` (a key creates only customers it sees).

Whatever hangs off a customer (events, alerts, stats, contacts) is visible exactly when
its customer is: queries join the customer and apply the rule to it. Except an
organisation's stats and alerts, which count its contact persons' histories too: a key
that cannot see every contact person (:func:`hides_contacts_sql`, :func:`sees_every_contact`)
reads indicators folded from the history it sees instead, and none of its alerts, nor
the follow-ups of its alerts (tasks, and their events on its timeline: :func:`follows_alert`),
which copy their titles. On Citus an organisation and its contact persons live on
different shards, so a statement that knows its customers reads the contact persons'
side by ``organization_id`` (:func:`hiding_contacts_sql`, :func:`hidden_contact`) instead
of probing from the organisation's row.
"""

from typing import Any

from sqlalchemy import ColumnElement, and_, exists, false, func, not_, select, true
from sqlalchemy.orm import aliased

from app.core.security import Principal
from app.customers.models import Customer


def sees_everyone(principal: Principal) -> bool:
    """Whether ``principal`` may see every customer (its key is not owned-only)."""
    return not principal.owned_only


def visible_to(principal: Principal, customer: Any = Customer) -> ColumnElement[bool]:
    """The customers ``principal`` may see, as an ORM clause on ``customer`` (the mapped
    class or an alias of it)."""
    if sees_everyone(principal):
        return true()
    if principal.agent_id is None:
        return false()
    condition: ColumnElement[bool] = customer.owner_id == principal.agent_id
    return condition


def visible_sql(alias: str, owned_only: str, agent_id: str) -> str:
    """The rule as SQL on the ``customers`` row aliased ``alias``, for a prepared statement
    whose parameters ``owned_only`` and ``agent_id`` (e.g. ``"$2"``, ``"$3"``) take
    :func:`visibility_args`."""
    return f"(NOT {owned_only}::boolean OR coalesce({alias}.owner_id = {agent_id}::text, false))"


def hides_contacts_sql(organization: str, owned_only: str, agent_id: str) -> str:
    """Whether the key of :func:`visibility_args` (``owned_only``, ``agent_id``) cannot see
    some live contact person of ``organization`` (a uuid; false for a person, who has none),
    as SQL: false at once for a key that sees everyone."""
    seen = visible_sql("h", owned_only, agent_id)
    # SQL of the callers' constants (parameter names, aliases), never of input.
    return (
        f"({owned_only}::boolean AND EXISTS (SELECT 1 FROM customers h"  # noqa: S608
        f" WHERE h.organization_id = {organization} AND h.merged_into IS NULL AND NOT {seen}))"
    )


def hiding_contacts_sql(organizations: str, owned_only: str, agent_id: str) -> str:
    """:func:`hides_contacts_sql` for many customers at once: a query of those among
    ``organizations`` (a SQL condition on ``h.organization_id``) with a live contact person
    the key cannot see (none for a key that sees everyone). Not correlated with the row it
    filters: Citus runs it once, where a probe per row was refused."""
    seen = visible_sql("h", owned_only, agent_id)
    # SQL of the callers' constants (parameter names, aliases), never of input.
    return (
        f"SELECT DISTINCT h.organization_id FROM customers h WHERE {owned_only}::boolean"  # noqa: S608
        f" AND {organizations} AND h.merged_into IS NULL AND NOT {seen}"
    )


def sees_every_contact(principal: Principal, customer: Any = Customer) -> ColumnElement[bool]:
    """:func:`hides_contacts_sql` negated, as an ORM clause on ``customer``: the customers
    whose every live contact person ``principal`` sees (all of them for a key that sees
    everyone)."""
    if sees_everyone(principal):
        return true()
    contact = aliased(Customer)
    return ~exists(
        select(1).where(contact.organization_id == customer.id, hidden_contact(principal, contact))
    )


def hidden_contact(principal: Principal, contact: Any = Customer) -> ColumnElement[bool]:
    """A live contact person (of any organisation) that ``principal`` cannot see, as an ORM
    clause on ``contact``: what :func:`sees_every_contact` looks for, to be read from the
    contact persons' side by their ``organization_id`` (on Citus an organisation and its
    contact persons live on different shards, so no statement joins them)."""
    seen = func.coalesce(visible_to(principal, contact), false())
    return and_(contact.merged_into.is_(None), not_(seen))


# The events that record a follow-up of an alert or an incident (a task or a rule's
# message, with its ``alert_id``; an incident's message, with its ``incident_id``): they
# tell what an organisation's whole history gave, so a key that does not see the alert or
# the incident's count does not see them.
FOLLOW_UP_TYPES = ("task.created", "task.completed", "message.sent", "message.failed")


def follows_alert_sql(alias: str) -> str:
    """Whether the ``events`` row aliased ``alias`` records a follow-up of an alert, as SQL."""
    types = ", ".join(f"'{t}'" for t in FOLLOW_UP_TYPES)
    return f"({alias}.type IN ({types}) AND {alias}.payload ?| array['alert_id', 'incident_id'])"


def follows_alert(type_name: str, payload: dict[str, Any]) -> bool:
    """The same, for an event already read."""
    return type_name in FOLLOW_UP_TYPES and ("alert_id" in payload or "incident_id" in payload)


def visibility_args(principal: Principal) -> tuple[bool, str | None]:
    """The two parameters of :func:`visible_sql` for ``principal``. An owned-only key
    without an agent sees nothing: ``owner_id = NULL`` holds for no row."""
    return principal.owned_only, principal.agent_id


def is_visible(owner_id: str | None, principal: Principal) -> bool:
    """The same rule, for a customer row already read (its ``owner_id``)."""
    return sees_everyone(principal) or (
        principal.agent_id is not None and owner_id == principal.agent_id
    )


def owner_of_new(owner_id: str | None, principal: Principal) -> str | None:
    """The owner of a customer ``principal`` creates: the one given, else (owned-only) its
    own agent. The caller refuses it unless :func:`is_visible`: a key never creates what it
    cannot see."""
    if owner_id is None and not sees_everyone(principal):
        return principal.agent_id
    return owner_id
