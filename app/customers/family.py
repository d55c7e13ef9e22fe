"""Merge families in SQL: written once, for every domain's statements.

A merge points the absorbed customer's ``merged_into`` at its survivor and leaves its
events under its own id. So a customer's history is its own events and those of every
customer merged into it, directly or not (its family); and a merged customer's history
lives now at the end of its chain (the family's root).

Each merged customer holds that root in ``merge_root`` (a customer not merged holds none:
it is its own root), kept by merges and unmerges alone (``merges.py``). So a family is
the root and the customers whose ``merge_root`` it is, and a survivor one lookup: simple
filters, where walking ``merged_into`` took recursive queries, which Citus does not plan
over distributed tables (docs/scaling.md). Where a family is joined to the customers it
starts from, those come in a sub-query: Citus reads it first, then the members by it,
where it refuses to join two tables spread by ``id`` on another column. A merged
customer's family is itself alone: what was merged into it belongs to its root's.

An organisation's history also holds its contact persons' (each live customer whose
``organization_id`` it is, with its own family): its indicators count them, and its
timeline shows them unless asked not to.
"""


def family_cte(customer: str) -> str:
    """The CTE ``family(id)``: the customer ``customer`` (a uuid) and everyone merged into
    it, directly or not. Follow it with the statement that reads it, after ``WITH``."""
    return (
        f"family(id) AS (SELECT {customer}"
        f" UNION ALL SELECT id FROM customers WHERE merge_root = {customer})"
    )


def organization_families_cte(customers: str) -> str:
    """The CTE ``family(root, id)``: :func:`family_cte` for each customer of the uuid
    array ``customers`` at once, each row under its ``root``, with each customer's contact
    persons and their families (a person has none)."""
    return (
        f"family(root, id) AS (SELECT r, r FROM unnest({customers}) AS r"
        f" UNION SELECT merge_root, id FROM customers WHERE merge_root = ANY({customers})"
        f" UNION SELECT organization_id, id FROM customers WHERE {_contacts_of_any(customers)}"
        " UNION SELECT o.organization_id, m.id FROM customers m JOIN ("
        f"SELECT organization_id, id FROM customers WHERE {_contacts_of_any(customers)}"
        ") AS o ON m.merge_root = o.id)"
    )


def _contacts_of_any(organizations: str) -> str:
    return f"organization_id = ANY({organizations}) AND merged_into IS NULL"


def contacts_cte(organization: str, seen: str) -> str:
    """The CTEs ``contacts(id)`` and ``family(id)``: the live contact persons of
    ``organization`` (a uuid) for whom the SQL condition ``seen`` on ``c`` holds, and
    those with everyone merged into them.

    The contact persons are a CTE of their own, read once, not the sub-query of
    :func:`history_cte`: left alone in a ``UNION ALL`` of two reads of ``customers``,
    that sub-query's join on ``merge_root`` is pushed down by Citus 14 shard by shard, as
    if members sat on their root's shard, and a member merged into a contact person from
    another shard is left out without an error (docs/scaling.md). Materialised, Citus
    reads the contact persons first and then the members by them, as on one PostgreSQL."""
    contacts = (
        f"SELECT c.id FROM customers c WHERE c.organization_id = {organization}"
        f" AND c.merged_into IS NULL AND {seen}"
    )
    return (
        f"contacts(id) AS MATERIALIZED ({contacts}), family(id) AS (SELECT id FROM contacts"
        " UNION ALL SELECT m.id FROM customers m JOIN contacts o ON m.merge_root = o.id)"
    )


def _contacts_and_theirs(organization: str, seen: str) -> str:
    contacts = (
        f"SELECT c.id FROM customers c WHERE c.organization_id = {organization}"
        f" AND c.merged_into IS NULL AND {seen}"
    )
    return (
        f"{contacts} UNION ALL SELECT m.id FROM customers m"
        f" JOIN ({contacts}) AS o ON m.merge_root = o.id"
    )


def history_cte(customer: str, seen: str) -> str:
    """The CTE ``family(id)`` of a customer's history: :func:`family_cte`, and for an
    organisation its live contact persons for whom the SQL condition ``seen`` on ``c``
    holds, with everyone merged into them (a person has none)."""
    return (
        f"family(id) AS (SELECT {customer}"
        f" UNION ALL SELECT id FROM customers WHERE merge_root = {customer}"
        f" UNION ALL {_contacts_and_theirs(customer, seen)})"
    )


def survivor(customer: str) -> str:
    """The SQL expression of where the history of ``customer`` (a ``customers`` row's
    alias) lives now: its family's root."""
    return f"coalesce({customer}.merge_root, {customer}.id)"
