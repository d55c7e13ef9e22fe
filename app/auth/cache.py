"""The callers this process has authenticated, dropped whenever any process commits a
change to a key or a session token."""

from app.auth.queries import NOTIFY_CHANNEL
from app.core.notify import NotifiedCache
from app.core.security import Principal


class KeyCache(NotifiedCache[str, Principal]):
    """The caller behind each secret's hash, read once and kept until a key or a session
    token is created, changed, revoked or removed anywhere (a trigger notifies on commit),
    so a revoked key is refused by every process within the notification delay. A session
    token's expiry is checked on each use. ``None`` as the URL reads every time."""

    def __init__(self, database_url: str | None) -> None:
        super().__init__(database_url, NOTIFY_CHANNEL)
