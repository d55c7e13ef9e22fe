"""The providers' local servers, one per test that asks for it."""

from collections.abc import Iterator

import pytest

from tests.support import providers
from tests.support.providers import Mailbox, Stub


@pytest.fixture
def twilio() -> Iterator[Stub]:
    with providers.twilio() as stub:
        yield stub


@pytest.fixture
def sendgrid() -> Iterator[Stub]:
    with providers.sendgrid() as stub:
        yield stub


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    with providers.smtp_server() as box:
        yield box
