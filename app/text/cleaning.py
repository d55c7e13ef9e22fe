"""What of a text is the customer's own words: quoted replies, signatures, disclaimers and
an agent's turns in a transcript are cut before anything is analysed, so an agent's
"sorry for the inconvenience" or last week's angry e-mail below a thank-you does not
count."""

import re
from dataclasses import dataclass

from app.text.lexicon import fold, spellings
from app.text.rules import EmailRules


def _label_pattern(labels: list[str]) -> re.Pattern[str] | None:
    if not labels:
        return None
    names = "|".join(re.escape(label) for label in sorted(labels, key=len, reverse=True))
    return re.compile(rf"^\s*(?:{names})\s*:\s?", re.IGNORECASE)


@dataclass(frozen=True)
class Cleaner:
    """The compiled ``email`` section of a rules document."""

    reply_headers: tuple[re.Pattern[str], ...]
    signature_markers: re.Pattern[str] | None
    sign_offs: frozenset[str]
    sign_off_tail_lines: int
    agent_label: re.Pattern[str] | None
    customer_label: re.Pattern[str] | None

    @classmethod
    def from_rules(cls, rules: EmailRules) -> "Cleaner":
        """Compile the patterns once."""
        flags = re.IGNORECASE | re.MULTILINE
        markers = "|".join(f"(?:{marker})" for marker in rules.signature_markers)
        return cls(
            reply_headers=tuple(re.compile(header, flags) for header in rules.reply_headers),
            signature_markers=re.compile(rf"^\s*(?:{markers})", flags) if markers else None,
            sign_offs=frozenset(
                " ".join(word for word, _ in spelled)
                for sign_off in rules.sign_offs
                for spelled in spellings(sign_off)
            ),
            sign_off_tail_lines=rules.sign_off_tail_lines,
            agent_label=_label_pattern(rules.agent_labels),
            customer_label=_label_pattern(rules.customer_labels),
        )

    def own_words(self, text: str) -> str:
        """The part of ``text`` its author wrote for this message."""
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        text = self._before_reply(text)
        lines = [line for line in text.split("\n") if not line.lstrip().startswith(">")]
        lines = self._without_agent_turns(lines)
        lines = self._before_signature(lines)
        return "\n".join(lines).strip()

    def _before_reply(self, text: str) -> str:
        cut = len(text)
        for header in self.reply_headers:
            found = header.search(text)
            if found and found.start() < cut:
                cut = found.start()
        return text[:cut]

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
        for index, line in enumerate(lines):
            if index and self.signature_markers is not None and self.signature_markers.match(line):
                lines = lines[:index]
                break
        while lines and not lines[-1].strip():
            lines = lines[:-1]
        last = len(lines)
        for index in range(len(lines) - 1, 0, -1):
            if last - index > self.sign_off_tail_lines + 1:
                break
            if _bare(lines[index]) in self.sign_offs and any(s.strip() for s in lines[:index]):
                return lines[:index]
        return lines


def _bare(line: str) -> str:
    """A line as sign-offs are compared: folded, words only."""
    return " ".join(re.findall(r"\w+", fold(line)))
