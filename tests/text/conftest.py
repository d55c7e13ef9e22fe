"""One analyser of the default rules for the text tests (building it loads the language
model, about half a second)."""

import pytest

from app.text.analyser import TextAnalyser
from app.text.rules import default_rules


@pytest.fixture(scope="session")
def analyser() -> TextAnalyser:
    return TextAnalyser(default_rules())
