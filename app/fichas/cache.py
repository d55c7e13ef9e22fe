"""The ficha templates of this process, dropped whenever any process commits a change."""

from app.core.db import Executor
from app.core.notify import NotifiedCache
from app.fichas.queries import NOTIFY_CHANNEL, template_sections
from app.fichas.templates import Template


class TemplateCache(NotifiedCache[str, Template]):
    """Templates by role, read once and kept until a change is notified (a trigger on
    ``ficha_templates``)."""

    def __init__(self, database_url: str | None) -> None:
        super().__init__(database_url, NOTIFY_CHANNEL)

    async def sections(self, on: Executor, role: str) -> Template | None:
        """The sections and labels of a role's template; None when it has none."""
        return await self.get(role, lambda: template_sections(on, role))
