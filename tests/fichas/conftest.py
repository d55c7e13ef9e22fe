"""The rich customer the ficha tests read."""

import httpx
import pytest

from tests.support.clock import ControlledClock
from tests.support.fichas import rich_customer


@pytest.fixture
async def rich(
    client: httpx.AsyncClient, admin: dict[str, str], clock: ControlledClock
) -> dict[str, str]:
    """An organisation with a contact person who bought, complained and has preferences."""
    return await rich_customer(client, admin, clock)
