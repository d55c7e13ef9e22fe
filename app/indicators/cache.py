"""The stored policies as this process read them, dropped whenever any process commits a
change to one."""

from typing import Any

from app.core.db import Executor
from app.core.notify import NotifiedCache
from app.indicators.queries import POLICIES_CHANNEL, stored_policies


class PolicyCache(NotifiedCache[str, dict[str, dict[str, Any]]]):
    """Every stored policy, read once and kept until a change is notified (a trigger on
    ``policies``); ``None`` as the URL reads every time."""

    def __init__(self, database_url: str | None) -> None:
        super().__init__(database_url, POLICIES_CHANNEL)

    async def stored(self, on: Executor, name: str) -> dict[str, Any] | None:
        """A stored policy's settings; None when none was ever stored."""
        every = await self.get("policies", lambda: stored_policies(on))
        return (every or {}).get(name)
