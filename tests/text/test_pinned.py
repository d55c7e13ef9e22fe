"""The analyser's whole answer for every labelled message and every 1 KB text of the speed
bench, pinned: a change made for speed must not change a word, a score or a confidence.
The labelled messages' answers are kept whole, the 1 KB texts' (472 of them, 480 KB
whole) as the digest of their JSON with the language and score, to keep the file small.

A change meant to change the analysis rewrites the pinned answers, and the diff shows
what moved:

    .venv/bin/python -m tests.text.test_pinned
"""

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from app.text.analyser import TextAnalyser
from app.text.rules import default_rules
from bench.text_analysis import kilobyte_texts, load_labelled
from bench.text_ingest import TEXTS

PINNED = Path(__file__).with_name("pinned_analyses.jsonl")


def _cases() -> list[tuple[str, str]]:
    """Each text by a name that says where it comes from."""
    rows = load_labelled()
    cases = [(row["id"], row["text"]) for row in rows]
    cases += [(f"kilobyte-{n}", text) for n, text in enumerate(kilobyte_texts(rows))]
    cases += [(f"ingest-{n}", text) for n, text in enumerate(TEXTS)]
    return cases


def _pin(name: str, analysis: dict[str, Any]) -> dict[str, Any]:
    """What is kept of one answer: all of it, or for a 1 KB text its digest and gist."""
    whole = json.dumps(analysis, ensure_ascii=False, sort_keys=True)
    if not name.startswith("kilobyte-"):
        return {"case": name, "analysis": analysis}
    return {
        "case": name,
        "digest": hashlib.sha256(whole.encode()).hexdigest()[:16],
        "language": analysis["language"],
        "confidence": analysis["language_confidence"],
        "score": analysis["sentiment"]["score"],
    }


def _answers(analyser: TextAnalyser) -> dict[str, dict[str, Any]]:
    return {
        name: _pin(name, analyser.analyse(text).model_dump(mode="json")) for name, text in _cases()
    }


def _pinned() -> dict[str, dict[str, Any]]:
    with PINNED.open(encoding="utf-8") as lines:
        rows = [json.loads(line) for line in lines]
    return {row["case"]: row for row in rows}


@pytest.fixture(scope="module")
def answers(analyser: TextAnalyser) -> dict[str, dict[str, Any]]:
    return _answers(analyser)


def test_every_text_is_pinned(answers: dict[str, dict[str, Any]]) -> None:
    assert sorted(_pinned()) == sorted(answers)


def test_the_analysis_is_the_pinned_one(answers: dict[str, dict[str, Any]]) -> None:
    pinned = _pinned()
    moved = [name for name, answer in answers.items() if pinned.get(name) != answer]
    assert not moved, {name: (pinned.get(name), answers[name]) for name in moved[:3]}


if __name__ == "__main__":
    with PINNED.open("w", encoding="utf-8") as out:
        for pinned in _answers(TextAnalyser(default_rules())).values():
            out.write(json.dumps(pinned, ensure_ascii=False) + "\n")
    print(f"written to {PINNED}")
