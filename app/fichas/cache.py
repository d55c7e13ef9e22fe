"""The ficha templates of this process, dropped whenever any process commits a change."""

from app.core.db import Executor
from app.core.notify import Listener
from app.fichas.queries import NOTIFY_CHANNEL, template_sections
from app.fichas.templates import Template


class TemplateCache:
    """Templates by role, read once and kept until a change is notified.

    A change (the API, a migration, psql) notifies on commit, through a trigger; every
    process drops its copies when the notification arrives, so an edit is seen everywhere
    within the notification delay. Only a read that began while LISTEN was in effect and
    saw no notification since is kept, so a read racing an edit cannot keep the old
    template. While the LISTEN connection is down (and without a database URL: tests whose
    edits never commit) every read goes to the database.
    """

    def __init__(self, database_url: str | None) -> None:
        self._templates: dict[str, Template] = {}
        self._generation = 0  # advances with every notification and every lost connection
        self._listener = (
            None
            if database_url is None
            else Listener(database_url, NOTIFY_CHANNEL, self._changed, on_lost=self._forget)
        )

    async def sections(self, on: Executor, role: str) -> Template | None:
        """The sections and labels of a role's template; None when it has none."""
        if role in self._templates:
            return self._templates[role]
        if self._listener is None:
            return await template_sections(on, role)
        self._listener.ensure()
        listening, generation = self._listener.listening, self._generation
        found = await template_sections(on, role)
        if found is not None and listening and generation == self._generation:
            self._templates[role] = found
        return found

    def _changed(self, _payload: str) -> None:
        self._forget()

    def _forget(self) -> None:
        self._generation += 1
        self._templates.clear()

    async def close(self) -> None:
        if self._listener is not None:
            await self._listener.close()
