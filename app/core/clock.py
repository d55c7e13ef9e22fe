"""What time it is for the service: one clock, held by the application and handed to
every service that decides by time.

Decisions by time (rule windows, "today", 90-day indicators, value segments, retention
cutoffs, signature tolerance windows, when an alert was acknowledged or cleared) read
``Clock.now()``; in production that is the system clock, and a test hands the service a
clock it moves itself. What the database records as the moment it learnt a fact
(``events.recorded_at``, a delivery's ``received_at``, the access log's ``at``) stays the
database's own time: it is when the row committed, not a decision.
"""

from datetime import UTC, datetime
from typing import Annotated, Protocol

from fastapi import Depends, Request


class Clock(Protocol):
    """A source of the current instant."""

    def now(self) -> datetime:
        """The current instant, timezone-aware, in UTC."""
        ...


class SystemClock:
    """The machine's clock: what the service runs on."""

    def now(self) -> datetime:
        """The current instant, timezone-aware, in UTC."""
        return datetime.now(UTC)


SYSTEM_CLOCK = SystemClock()


async def app_clock(request: Request) -> Clock:
    """The clock the application was built with (a coroutine, as ``app_settings``)."""
    clock: Clock = request.app.state.clock
    return clock


ClockDep = Annotated[Clock, Depends(app_clock)]
