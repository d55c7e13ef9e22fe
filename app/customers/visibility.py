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
which copy their titles. Whether a key misses a contact person is read from the
organisation's own row, which lists the owners of its live contact persons
(``contact_owners``, kept by ``customers.queries.keep_contact_owners`` wherever a contact
person joins or leaves an organisation, changes owner, is merged or unmerged): one index
read where the statement already reads the organisation, a router read on Citus, where
the contact persons live on other shards.
"""

from typing import Any

from sqlalchemy import ColumnElement, Text, cast, false, func, true
from sqlalchemy.dialects.postgresql import ARRAY, array

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


def hides_contacts_sql(customer: str, owned_only: str, agent_id: str) -> str:
    """Whether the key of :func:`visibility_args` (``owned_only``, ``agent_id``) cannot see
    some live contact person of the ``customers`` row aliased ``customer`` (false for a
    person, who has none), as SQL: false at once for a key that sees everyone.

    Read from the row itself (its ``contact_owners``), never from its contact persons: on
    Citus they live on other shards, and a probe by ``organization_id`` inside a statement
    about the organisation was refused (``0A000``). An ownerless contact person is a NULL
    in the list, which ``<@`` matches with nothing: it is hidden from every owned-only key,
    as :func:`visible_sql` says."""
    return f"({owned_only}::boolean AND NOT {customer}.contact_owners <@ ARRAY[{agent_id}::text])"


def hiding_contacts_sql(customers: str, owned_only: str, agent_id: str) -> str:
    """:func:`hides_contacts_sql` for many customers at once: a query of the ids of those
    among ``customers`` (a SQL condition on ``h.id``) with a live contact person the key
    cannot see (none for a key that sees everyone)."""
    hides = hides_contacts_sql("h", owned_only, agent_id)
    # SQL of the callers' constants (parameter names, aliases), never of input.
    return f"SELECT h.id FROM customers h WHERE {customers} AND {hides}"  # noqa: S608


def sees_every_contact(principal: Principal, customer: Any = Customer) -> ColumnElement[bool]:
    """:func:`hides_contacts_sql` negated, as an ORM clause on ``customer`` (the mapped
    class or an alias of it, already in the statement): the customers whose every live
    contact person ``principal`` sees (all of them for a key that sees everyone)."""
    if sees_everyone(principal):
        return true()
    owners = customer.contact_owners
    if principal.agent_id is None:  # sees no contact person at all
        condition: ColumnElement[bool] = func.cardinality(owners) == 0
        return condition
    seen: ColumnElement[bool] = owners.contained_by(cast(array([principal.agent_id]), ARRAY(Text)))
    return seen


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
