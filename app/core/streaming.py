"""Streamed answers whose first piece is made before the answer starts."""

from collections.abc import AsyncIterator
from typing import TypeVar

T = TypeVar("T")


async def begun(stream: AsyncIterator[T]) -> AsyncIterator[T]:
    """``stream`` with its first piece already made: what it takes before that piece (a
    database connection, a snapshot) is taken before the status line goes out, so that a
    failure there is answered as any route's (a 503 when every connection is in use),
    never as a 200 with nothing after it."""
    try:
        first = await anext(stream)
    except StopAsyncIteration:
        return _pieces()
    return _pieces(first, rest=stream)


async def _pieces(*head: T, rest: AsyncIterator[T] | None = None) -> AsyncIterator[T]:
    for piece in head:
        yield piece
    if rest is not None:
        async for piece in rest:
            yield piece
