"""The excerpt of an inbound e-mail's body, on bodies a hostile sender writes."""

import random
import re
import time

from app.ingest.adapters import email_message
from app.ingest.adapters.email_message import excerpt


def test_a_body_of_blanks_is_excerpted_in_linear_time() -> None:
    """A megabyte of spaces or tabs (any sender can mail one, and the inbound platforms
    deliver it signed): a search for ``[ \\t]+\\n`` tried the run from each of its
    characters (100,000 took 5 s)."""
    for blank in (" ", "\t"):
        started = time.process_time()
        found = excerpt("Hola" + blank * 1_000_000 + "x")
        assert time.process_time() - started < 1.0  # a few ms
        assert found is not None and found.startswith("Hola") and len(found) <= 300


def test_blanks_ending_lines_are_dropped_as_the_regex_dropped_them() -> None:
    generator = random.Random(11)
    pieces = [" ", "\t", "\n", "\r\n", "a", "word", "> quoted", "On Monday, Jane wrote:"]
    for _ in range(3_000):
        text = "".join(generator.choices(pieces, k=generator.randint(1, 40)))
        old = text.replace("\r\n", "\n").replace("\r", "\n")
        old = email_message._strip_quoted_reply(old)
        old = re.sub(r"\n{3,}", "\n\n", re.sub(r"[ \t]+\n", "\n", old)).strip()
        if len(old) <= email_message.EXCERPT_CHARS:
            assert excerpt(text) == (old or None), repr(text)
