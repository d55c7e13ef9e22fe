"""Streamed answers whose first piece is made before the answer starts."""

from collections.abc import AsyncIterator
from typing import TypeVar

from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send


class BegunStreamingResponse(StreamingResponse):
    """A streamed answer whose first piece is made before its status line goes out, once
    the route has returned and its dependencies have let go of the request's connection:
    what the stream takes before that piece (a database connection, a snapshot) is taken
    then, one connection at a time, and a failure there is answered as any route's (a 503
    when every connection is in use), never as a 200 with nothing after it."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        pieces = aiter(self.body_iterator)
        try:
            first = await anext(pieces)
        except StopAsyncIteration:
            self.body_iterator = _pieces()
        else:
            self.body_iterator = _pieces(first, rest=pieces)
        await super().__call__(scope, receive, send)


T = TypeVar("T")


async def _pieces(*head: T, rest: AsyncIterator[T] | None = None) -> AsyncIterator[T]:
    for piece in head:
        yield piece
    if rest is not None:
        async for piece in rest:
            yield piece
