"""Merge families in SQL: written once, for every domain's statements.

A merge points the absorbed customer's ``merged_into`` at its survivor and leaves its
events under its own id. So a customer's history is its own events and those of every
customer merged into it, directly or not (its family, down ``merged_into``); and a merged
customer's history lives now at the end of its chain (up ``merged_into``).

An organisation's history also holds its contact persons' (each live customer whose
``organization_id`` it is, with its own family): its indicators count them, and its
timeline shows them unless asked not to.
"""

# One step down a family: the customers merged into one already in it.
_MERGED_IN = "customers c JOIN family f ON c.merged_into = f.id"


def family_cte(customer: str) -> str:
    """The recursive CTE ``family(id)``: the customer ``customer`` (a uuid) and everyone
    merged into it, directly or not. Follow it with the statement that reads it, after
    ``WITH RECURSIVE``."""
    return f"family(id) AS (SELECT {customer} UNION SELECT c.id FROM {_MERGED_IN})"


def families_cte(customers: str) -> str:
    """The recursive CTE ``family(root, id)``: :func:`family_cte` for each customer of the
    uuid array ``customers`` at once, each row under its ``root``."""
    return (
        f"family(root, id) AS (SELECT r, r FROM unnest({customers}) AS r"
        f" UNION SELECT f.root, c.id FROM {_MERGED_IN})"
    )


def organization_families_cte(customers: str) -> str:
    """As :func:`families_cte`, each customer's contact persons and their families
    included under its ``root`` (a person has none)."""
    return (
        f"family(root, id) AS (SELECT r, r FROM unnest({customers}) AS r"
        f" UNION SELECT r, c.id FROM unnest({customers}) AS r"
        " JOIN customers c ON c.organization_id = r AND c.merged_into IS NULL"
        f" UNION SELECT f.root, c.id FROM {_MERGED_IN})"
    )


def contacts_cte(organization: str, seen: str) -> str:
    """The recursive CTE ``family(id)``: the live contact persons of ``organization`` (a
    uuid) for whom the SQL condition ``seen`` on ``c`` holds, and everyone merged into them."""
    return (
        "family(id) AS (SELECT c.id FROM customers c"
        f" WHERE c.organization_id = {organization} AND c.merged_into IS NULL AND {seen}"
        f" UNION SELECT c.id FROM {_MERGED_IN})"
    )


def history_cte(customer: str, seen: str) -> str:
    """The recursive CTE ``family(id)`` of a customer's history: :func:`family_cte`, and
    for an organisation its live contact persons for whom the SQL condition ``seen`` on
    ``c`` holds, with everyone merged into them (a person has none)."""
    return (
        f"family(id) AS (SELECT {customer} UNION SELECT c.id FROM customers c"
        f" WHERE c.organization_id = {customer} AND c.merged_into IS NULL AND {seen}"
        f" UNION SELECT c.id FROM {_MERGED_IN})"
    )


def chain_cte(starts: str) -> str:
    """The recursive CTE ``chain(start, id, merged_into, depth)``: from each customer
    whose id is in the uuid array ``starts``, up its merge chain (100 steps at most); the
    row whose ``merged_into`` is null is the customer its history lives on now."""
    return (
        "chain(start, id, merged_into, depth) AS ("
        f" SELECT id, id, merged_into, 0 FROM customers WHERE id = ANY({starts})"
        " UNION ALL SELECT chain.start, c.id, c.merged_into, chain.depth + 1"
        " FROM customers c JOIN chain ON c.id = chain.merged_into WHERE chain.depth < 100)"
    )
