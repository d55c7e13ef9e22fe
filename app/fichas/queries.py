"""Prepared statements on ficha templates (the driver path): a template read by a ficha
or screen-pop that this process holds no copy of."""

from app.core.db import Executor, driver_connection
from app.fichas.templates import Template

# Read on a ficha or screen-pop when this process holds no copy (see cache.py).
_TEMPLATE = "SELECT sections, labels FROM ficha_templates WHERE role = $1"
# Notified on commit by the trigger on ficha_templates, whoever changed it.
NOTIFY_CHANNEL = "ch_ficha_templates"


async def template_sections(on: Executor, role: str) -> Template | None:
    conn = await driver_connection(on)
    row = await conn.fetchrow(_TEMPLATE, role)
    return None if row is None else (row["sections"], row["labels"])
