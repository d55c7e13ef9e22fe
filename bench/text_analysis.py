"""Text analysis measured on the labelled set, and its speed on one core.

    .venv/bin/python -m bench.text_analysis [--split tuning|held_out|both] [--errors]

For each split (``tests/text/labelled.jsonl`` records each message's; half of every
language was set aside, by a hash of the id, before any rule was written) and each
language: language accuracy (a text in another language must come out unsupported),
sentiment macro-F1, precision and recall of high urgency, intent micro-F1, abusive
recall. Then messages analysed per second for 1 KB texts. Tune on ``--split tuning
--errors``; report the held-out figures.
"""

import argparse
import json
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.text.analyser import TextAnalyser
from app.text.rules import default_rules
from app.text.schemas import TextAnalysis

LABELLED = Path(__file__).resolve().parent.parent / "tests" / "text" / "labelled.jsonl"
SUPPORTED = ("es", "pt", "en", "fr")
GROUPS = (*SUPPORTED, "other")
SENTIMENTS = ("negative", "neutral", "positive")


def load_labelled(path: Path = LABELLED) -> list[dict[str, Any]]:
    """The labelled messages, each with its ``split``."""
    with path.open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def group_of(row: dict[str, Any]) -> str:
    return row["language"] if row["language"] in SUPPORTED else "other"


@dataclass
class Tally:
    """Counts for one group of messages, turned into figures by ``figures``."""

    messages: int = 0
    language_right: int = 0
    sentiment: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    urgent: dict[str, int] = field(default_factory=lambda: defaultdict(int))  # tp fp fn
    intents: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    abusive: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def add(self, row: dict[str, Any], got: TextAnalysis) -> None:
        self.messages += 1
        expected_language = row["language"] if row["language"] in SUPPORTED else None
        if expected_language is None:
            self.language_right += not got.supported
            return  # an unsupported text is not analysed further
        self.language_right += got.language == expected_language
        self.sentiment[(row["sentiment"], got.sentiment.label)] += 1
        _confusion(self.urgent, row["urgency"] == "high", got.urgency.level == "high")
        wanted, found = set(row["intents"]), {i.intent.value for i in got.intents}
        self.intents["tp"] += len(wanted & found)
        self.intents["fp"] += len(found - wanted)
        self.intents["fn"] += len(wanted - found)
        _confusion(self.abusive, row["abusive"], got.abusive.detected)

    def figures(self) -> dict[str, float | None]:
        analysed = sum(self.sentiment.values())
        return {
            "messages": self.messages,
            "language_accuracy": _ratio(self.language_right, self.messages),
            "sentiment_macro_f1": _macro_f1(self.sentiment) if analysed else None,
            "urgent_precision": _ratio(self.urgent["tp"], self.urgent["tp"] + self.urgent["fp"]),
            "urgent_recall": _ratio(self.urgent["tp"], self.urgent["tp"] + self.urgent["fn"]),
            "intent_micro_f1": _f1(self.intents["tp"], self.intents["fp"], self.intents["fn"]),
            "abusive_recall": _ratio(self.abusive["tp"], self.abusive["tp"] + self.abusive["fn"]),
            "abusive_precision": _ratio(
                self.abusive["tp"], self.abusive["tp"] + self.abusive["fp"]
            ),
        }


def _confusion(counts: dict[str, int], expected: bool, got: bool) -> None:
    if expected and got:
        counts["tp"] += 1
    elif got:
        counts["fp"] += 1
    elif expected:
        counts["fn"] += 1


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 3) if whole else None


def _f1(tp: int, fp: int, fn: int) -> float | None:
    return round(2 * tp / (2 * tp + fp + fn), 3) if tp + fp + fn else None


def _macro_f1(confusion: dict[tuple[str, str], int]) -> float:
    scores = []
    for label in SENTIMENTS:
        tp = confusion[(label, label)]
        fp = sum(n for (want, got), n in confusion.items() if got == label and want != label)
        fn = sum(n for (want, got), n in confusion.items() if want == label and got != label)
        scores.append(_f1(tp, fp, fn) or 0.0)
    return round(sum(scores) / len(scores), 3)


def evaluate(
    analyser: TextAnalyser, rows: Iterable[dict[str, Any]]
) -> dict[str, dict[str, dict[str, float | None]]]:
    """Figures per split, then per language group and ``overall``."""
    tallies: dict[str, dict[str, Tally]] = defaultdict(lambda: defaultdict(Tally))
    for row in rows:
        got = analyser.analyse(row["text"])
        tallies[row["split"]][group_of(row)].add(row, got)
        tallies[row["split"]]["overall"].add(row, got)
    return {
        split: {group: tally.figures() for group, tally in groups.items()}
        for split, groups in tallies.items()
    }


def errors(analyser: TextAnalyser, rows: Iterable[dict[str, Any]]) -> list[str]:
    """One line for each message where the analysis disagrees with its label."""
    lines = []
    for row in rows:
        got = analyser.analyse(row["text"])
        wrong = []
        if group_of(row) == "other":
            if got.supported:
                wrong.append(f"language {got.language}")
        else:
            if got.language != row["language"]:
                wrong.append(f"language {got.language}")
            if got.sentiment.label != row["sentiment"]:
                wrong.append(
                    f"sentiment {got.sentiment.label} ({got.sentiment.score}) "
                    f"want {row['sentiment']} {got.sentiment.terms}"
                )
            if (got.urgency.level == "high") != (row["urgency"] == "high"):
                reasons = [r.term for r in got.urgency.reasons]
                wrong.append(f"urgency {got.urgency.level} want {row['urgency']} {reasons}")
            found = {i.intent.value: i.terms for i in got.intents}
            if set(found) != set(row["intents"]):
                wrong.append(f"intents {found} want {row['intents']}")
            if got.abusive.detected != row["abusive"]:
                wrong.append(f"abusive {got.abusive.terms} want {row['abusive']}")
        if wrong:
            text = row["text"].replace("\n", " ")[:110]
            lines.append(f"{row['id']} [{text}]\n    " + "\n    ".join(wrong))
    return lines


def kilobyte_texts(rows: list[dict[str, Any]]) -> list[str]:
    """Texts of about 1 KB, each made of labelled messages of one language."""
    by_language: dict[str, list[str]] = defaultdict(list)
    for row in rows:
        by_language[group_of(row)].append(row["text"])
    texts = []
    for messages in by_language.values():
        for start in range(len(messages)):
            text = ""
            index = start
            while len(text) < 1024:
                text += messages[index % len(messages)] + "\n\n"
                index += 1
            texts.append(text[:1024])
    return texts


def throughput(analyser: TextAnalyser, texts: list[str], seconds: float = 3.0) -> float:
    """Texts analysed per second of this process's CPU time: one core, and a figure that
    other processes on a shared machine do not drag down as much as wall-clock time."""
    done = 0
    started = time.process_time()
    while time.process_time() - started < seconds:
        for text in texts:
            analyser.analyse(text)
        done += len(texts)
    return done / (time.process_time() - started)


def _print(figures: dict[str, dict[str, dict[str, float | None]]]) -> None:
    columns = (
        "messages",
        "language_accuracy",
        "sentiment_macro_f1",
        "urgent_precision",
        "urgent_recall",
        "intent_micro_f1",
        "abusive_recall",
    )
    short = ("n", "language", "sentiment", "urgent P", "urgent R", "intents", "abusive R")
    for split, groups in sorted(figures.items(), key=lambda item: item[0] != "tuning"):
        print(f"\n{split}")
        print(f"{'':8}" + "".join(f"{name:>11}" for name in short))
        for group in (*GROUPS, "overall"):
            if group not in groups:
                continue
            cells = ("-" if groups[group][c] is None else groups[group][c] for c in columns)
            print(f"{group:8}" + "".join(f"{cell:>11}" for cell in cells))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", choices=("tuning", "held_out", "both"), default="both")
    parser.add_argument("--errors", action="store_true", help="list the tuning split's misses")
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    rows = load_labelled()
    chosen = [r for r in rows if args.split in ("both", r["split"])]
    started = time.perf_counter()
    analyser = TextAnalyser(default_rules())
    print(f"analyser {analyser.version} built in {time.perf_counter() - started:.2f} s")
    if args.errors:
        print("\n".join(errors(analyser, [r for r in rows if r["split"] == "tuning"])))
    _print(evaluate(analyser, chosen))
    rate = throughput(analyser, kilobyte_texts(rows), args.seconds)
    print(f"\nthroughput: {rate:,.0f} messages of 1 KB per CPU-second (one core)")


if __name__ == "__main__":
    main()
