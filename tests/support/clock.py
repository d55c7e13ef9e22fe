"""A clock the test moves: the service's "now" stands still until the test says otherwise."""

from datetime import UTC, datetime, timedelta


class ControlledClock:
    """Satisfies ``app.core.clock.Clock``; starts where it is told and moves only when
    ``advance`` or ``set`` is called."""

    def __init__(self, start: datetime) -> None:
        self._now = self._aware(start)

    def now(self) -> datetime:
        """The instant the test set, in UTC."""
        return self._now

    def advance(self, delta: timedelta) -> datetime:
        """Move the clock by ``delta`` (forward, or back when negative); the new now."""
        self._now += delta
        return self._now

    def set(self, when: datetime) -> datetime:
        """Move the clock to ``when`` (timezone-aware); the new now."""
        self._now = self._aware(when)
        return self._now

    def ago(self, **delta: float) -> datetime:
        """The clock's now less a ``timedelta(**delta)``: ``clock.ago(hours=3)``."""
        return self._now - timedelta(**delta)

    @staticmethod
    def _aware(when: datetime) -> datetime:
        if when.tzinfo is None:
            raise ValueError("a clock keeps aware instants only")
        return when.astimezone(UTC)
