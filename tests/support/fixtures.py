"""What the fixtures of tests/conftest.py hand a test, for its annotations."""

import io
import json
from collections.abc import Awaitable, Callable

# ``make_key(role, *, agent_id=None, owned_only=False, supervisor=False)``: the
# Authorization header of a key created in the test's transaction.
MakeKey = Callable[..., Awaitable[dict[str, str]]]


class AppLog:
    """The JSON lines the service logged while a test ran."""

    def __init__(self, stream: io.StringIO) -> None:
        self._stream = stream

    def text(self) -> str:
        return self._stream.getvalue()

    def lines(self) -> list[dict[str, object]]:
        return [json.loads(line) for line in self.text().splitlines() if line.strip()]
