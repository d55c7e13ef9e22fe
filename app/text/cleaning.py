"""What of a text is the customer's own words: quoted replies, signatures, disclaimers and
an agent's turns in a transcript are cut before anything is analysed, so an agent's
"sorry for the inconvenience" or last week's angry e-mail below a thank-you does not
count."""

import re
from dataclasses import dataclass
from re import _constants, _parser  # type: ignore[attr-defined]  # the stdlib regex parser
from typing import Any

from app.text.lexicon import fold, spellings
from app.text.rules import EmailRules

# The blanks a label or a signature marker may follow at the start of its line: not a line
# break. The patterns are searched over a whole text from each line break (``LineStarts``),
# where a ``\s*`` ran on over the blank lines that follow, each of which starts a search
# of its own: a few thousand empty lines took seconds (the answer is the same, every line
# being matched alone once found).
_LINE_SPACE = r"[^\S\n]*"


def _label_pattern(labels: list[str]) -> re.Pattern[str] | None:
    if not labels:
        return None
    names = "|".join(re.escape(label) for label in sorted(labels, key=len, reverse=True))
    return re.compile(rf"^{_LINE_SPACE}(?:{names})\s*:\s?", re.IGNORECASE)


# A reference to a group, or what looks like one (a pattern is then only searched alone).
_REFERENCE = re.compile(r"\\[1-9]|\(\?P=|\(\?\(")


def _at_line_start(pattern: str) -> bool:
    """Whether every match of ``pattern`` (multi-line) starts a line: it begins with ``^``
    outside any alternative, and refers to no group (which joining would renumber)."""
    parsed = _parser.parse(pattern)
    return (
        parsed.data[:1] == [(_constants.AT, _constants.AT_BEGINNING)]
        and not parsed.state.groupdict
        and _REFERENCE.search(pattern) is None
    )


@dataclass(frozen=True)
class LineStarts:
    """A multi-line regex whose every match starts a line, searched by its line breaks: a
    match at the text's start, else a search for a line break followed by a match. The
    break is a literal the regex engine skips to in C, where a search for the regex itself
    runs it at every character and a loop over the lines steps in Python (the default
    reply headers, agent labels and signature markers: 24 → 15 µs a text of the labelled
    set's 1 KB texts, docs/performance.md, "What ingestion pays for the analysis")."""

    pattern: re.Pattern[str]
    after_break: re.Pattern[str]

    @classmethod
    def of(cls, pattern: re.Pattern[str]) -> "LineStarts":
        return cls(pattern, re.compile(f"\n(?:{pattern.pattern})", pattern.flags))

    def first(self, text: str) -> int | None:
        """Where the first match in ``text`` starts; None if there is none."""
        if self.pattern.match(text):
            return 0
        found = self.after_break.search(text)
        return None if found is None else found.start() + 1


@dataclass(frozen=True)
class ReplyHeaders:
    """The reply headers' regexes: those that only match where a line starts joined in one,
    tried at line starts only, instead of a search trying each header at every character
    (the four default headers' searches took 85 µs of a 1 KB text, docs/performance.md,
    "The text analysis at half the cost"); any other searched alone."""

    at_line_start: LineStarts | None
    anywhere: tuple[re.Pattern[str], ...]

    @classmethod
    def of(cls, headers: list[str], flags: int) -> "ReplyHeaders":
        joined = [header for header in headers if _at_line_start(header)]
        return cls(
            at_line_start=LineStarts.of(re.compile("|".join(f"(?:{h})" for h in joined), flags))
            if joined
            else None,
            anywhere=tuple(re.compile(h, flags) for h in headers if h not in joined),
        )

    def start(self, text: str) -> int:
        """Where the first header of ``text`` starts (its length if none)."""
        cut = len(text)
        for pattern in self.anywhere:
            found = pattern.search(text)
            if found and found.start() < cut:
                cut = found.start()
        if self.at_line_start is not None:
            first = self.at_line_start.first(text)
            if first is not None and first < cut:
                return first
        return cut


@dataclass(frozen=True)
class Cleaner:
    """The compiled ``email`` section of a rules document."""

    reply_headers: ReplyHeaders
    signature_markers: re.Pattern[str] | None
    sign_offs: frozenset[str]
    sign_off_tail_lines: int
    # More words than the longest sign-off has: the line is not one.
    sign_off_words: re.Pattern[str]
    agent_label: re.Pattern[str] | None
    customer_label: re.Pattern[str] | None
    # The agent's label at any line start of a whole text: one search tells most texts,
    # which have no agent's turns, from the few that need their lines matched one by one
    # (a line that matches alone matches here at its start).
    agent_turn: LineStarts | None
    # The signature markers at any line start of a text, for ``_first_signature_candidate``.
    any_signature: LineStarts | None
    markers_within_lines: bool

    @classmethod
    def from_rules(cls, rules: EmailRules) -> "Cleaner":
        """Compile the patterns once."""
        flags = re.IGNORECASE | re.MULTILINE
        markers = "|".join(f"(?:{marker})" for marker in rules.signature_markers)
        agent_label = _label_pattern(rules.agent_labels)
        signature_markers = re.compile(rf"^{_LINE_SPACE}(?:{markers})", flags) if markers else None
        sign_offs = frozenset(
            " ".join(word for word, _ in spelled)
            for sign_off in rules.sign_offs
            for spelled in spellings(sign_off)
        )
        most = max((len(sign_off.split(" ")) for sign_off in sign_offs), default=0)
        return cls(
            reply_headers=ReplyHeaders.of(rules.reply_headers, flags),
            signature_markers=signature_markers,
            sign_offs=sign_offs,
            sign_off_tail_lines=rules.sign_off_tail_lines,
            sign_off_words=re.compile(rf"\W*(?:\w+\W+){{{most}}}\w"),
            agent_label=agent_label,
            customer_label=_label_pattern(rules.customer_labels),
            agent_turn=None
            if agent_label is None
            else LineStarts.of(re.compile(agent_label.pattern, agent_label.flags | re.MULTILINE)),
            any_signature=None if signature_markers is None else LineStarts.of(signature_markers),
            markers_within_lines=signature_markers is not None
            and _within_lines(_parser.parse(signature_markers.pattern, signature_markers.flags)),
        )

    def own_words(self, text: str) -> str:
        """The part of ``text`` its author wrote for this message."""
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        text = self._before_reply(text)
        lines = text.split("\n")
        if ">" in text:
            lines = [line for line in lines if not line.lstrip().startswith(">")]
        if self.agent_turn is not None and self.agent_turn.first(text) is not None:
            lines = self._without_agent_turns(lines)
        lines = self._before_signature(lines)
        return "\n".join(lines).strip()

    def _before_reply(self, text: str) -> str:
        return text[: self.reply_headers.start(text)]

    def _without_agent_turns(self, lines: list[str]) -> list[str]:
        if self.agent_label is None or not any(self.agent_label.match(line) for line in lines):
            return lines
        kept = []
        for line in lines:
            if self.agent_label.match(line):
                continue
            if self.customer_label is not None:
                line = self.customer_label.sub("", line, count=1)
            kept.append(line)
        return kept

    def _before_signature(self, lines: list[str]) -> list[str]:
        markers = self.signature_markers
        for index in range(self._first_signature_candidate(lines), len(lines)):
            if markers is not None and markers.match(lines[index]):
                lines = lines[:index]
                break
        # The blank lines at the end dropped in one slice (one a slice copied the rest of
        # the lines each time: a text ending in thousands of them took a second).
        end = len(lines)
        while end and not lines[end - 1].strip():
            end -= 1
        lines = lines[:end]
        last = len(lines)
        for index in range(len(lines) - 1, 0, -1):
            if last - index > self.sign_off_tail_lines + 1:
                break
            if self._signs_off(lines[index]) and any(s.strip() for s in lines[:index]):
                return lines[:index]
        return lines

    def _signs_off(self, line: str) -> bool:
        """Whether ``line`` is a sign-off. A line with more words than any sign-off is told
        by the start of it (folding and splitting the whole of a 1 KB line, as a message
        of one paragraph is, took a tenth of its analysis): a word, whole, of the folded
        start is one of the folded line."""
        if not self.sign_offs:
            return False
        if self.sign_off_words.match(fold(line[:_SIGN_OFF_START])):
            return False
        return _bare(line) in self.sign_offs

    def _first_signature_candidate(self, lines: list[str]) -> int:
        """The first line after the first that may start a signature: with markers that
        match within a line (``_within_lines``), no line before the first match of one
        search over the lines joined (most texts have no signature: one search instead
        of a match per line)."""
        if self.any_signature is None or not self.markers_within_lines:
            return 1
        rest = "\n".join(lines[1:])
        found = self.any_signature.first(rest)
        return len(lines) if found is None else 1 + rest.count("\n", 0, found)


# What a regex may hold for a match in a line alone to be a match at the same place of
# the text around it: no ``\A`` or ``\Z`` (nor ``^`` or ``$`` out of multi-line mode), no
# look-around or reference, whose answers change with what precedes or follows the line,
# and no atomic group or possessive repeat, which may take what follows the line and
# not give it back (``(?>\s*)$``).
_LINE_BOUND = {_constants.AT_BEGINNING_STRING, _constants.AT_END_STRING}
_NOT_WITHIN = {
    _constants.ASSERT,
    _constants.ASSERT_NOT,
    _constants.GROUPREF,
    _constants.GROUPREF_EXISTS,
    _constants.ATOMIC_GROUP,
    _constants.POSSESSIVE_REPEAT,
}


def _within_lines(parsed: Any) -> bool:
    """Whether every match of a parsed regex in one line is one in any text holding it."""
    for op, value in parsed:
        if op in _NOT_WITHIN or (op is _constants.AT and value in _LINE_BOUND):
            return False
        if op is _constants.BRANCH:
            nested = value[1]
        elif op is _constants.SUBPATTERN:
            if value[2] & re.MULTILINE:  # (?-m:...): its ^ and $ no longer mean a line's
                return False
            nested = [value[-1]]
        elif op in (_constants.MAX_REPEAT, _constants.MIN_REPEAT):
            nested = [value[2]]
        else:
            continue
        if not all(_within_lines(inner) for inner in nested):
            return False
    return True


# How much of a line tells that it has more words than a sign-off.
_SIGN_OFF_START = 200


def _bare(line: str) -> str:
    """A line as sign-offs are compared: folded, words only."""
    return " ".join(re.findall(r"\w+", fold(line)))
