"""The whole-database search behind the privacy tests."""

from collections.abc import Iterable

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

# Tables that hold no customer's data, only the company's: the text rules are thousands
# of words of four languages ("doente", "does not work"), which short needles ("Doe")
# would find.
COMPANY_TABLES = ("text_rules",)


async def columns_holding(session: AsyncSession, needles: Iterable[str]) -> list[str]:
    """Every (table.column, needle) where a needle still appears, across every text,
    JSON, array and binary column of every table."""
    columns = await session.execute(
        text(
            "SELECT table_name, column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'public' AND data_type IN "
            "('text', 'character varying', 'json', 'jsonb', 'ARRAY', 'bytea') "
            "AND table_name <> ALL(:company)"
        ),
        {"company": list(COMPANY_TABLES)},
    )
    found = []
    for table, column, data_type in columns:
        as_text = f"encode(\"{column}\", 'escape')" if data_type == "bytea" else f'"{column}"::text'
        for needle in needles:
            hits = await session.scalar(
                text(f'SELECT count(*) FROM "{table}" WHERE {as_text} ILIKE :n'),
                {"n": f"%{needle}%"},
            )
            if hits:
                found.append(f"{table}.{column}: {needle}")
    return found
