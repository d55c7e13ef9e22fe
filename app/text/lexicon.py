"""Folding, splitting into words, and finding the rules' terms among the words.

A text is split into words and clause marks, less its accents, as written and in lower
case (a text all in Latin-1, as most are, by one ``bytes.translate`` and a split). Every
term of every list is compiled into one index keyed by its first word (or by the stem of
a ``*`` word), so finding all terms costs a few dictionary look-ups per word, whatever
the number of terms: a regex alternation of the same terms tries each one at every
position.
"""

import functools
import itertools
import operator
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

from app.text.rules import EMOJI, EMOJI_CHARS, WORD


def _folding_table() -> dict[int, str]:
    """Latin letters with diacritics mapped to their base letters (ñ→n, ç→c, é→e, ...)."""
    table: dict[int, str] = {}
    for code in range(0xC0, 0x250):
        char = chr(code)
        base = "".join(c for c in unicodedata.normalize("NFKD", char) if c.isascii())
        if base and base != char:
            table[code] = base
    table.update({ord("œ"): "oe", ord("Œ"): "OE", ord("æ"): "ae", ord("Æ"): "AE"})
    table.update({ord("ß"): "ss", 0x2019: "'", 0x02BC: "'"})  # typographic apostrophes
    return table


_FOLD = _folding_table()
# ``str.translate`` looks every character of a text up in the table once the text holds
# one that is not ASCII (73 µs a 1 KB text on a loaded machine); a search for the
# characters the table maps, replacing each as found, costs 13 µs and answers the same.
_FOLDED = {chr(code): base for code, base in _FOLD.items()}
_ACCENTED = re.compile("[" + "".join(map(re.escape, _FOLDED)) + "]")

# Words, emoji, and the marks that end a clause (a negation does not reach past them).
TOKEN = re.compile(rf"\w+|[.!?;:,\n{EMOJI_CHARS}]")
# Words whose entries a lexicon remembers before it starts afresh (bounded memory).
_REMEMBERED_WORDS = 50_000
# A term's word ``...`` stands for up to this many words of the same clause.
GAP, GAP_WORDS = "...", 4
CLAUSE_BREAKS = frozenset(".!?;:,\n")
SENTENCE_BREAKS = frozenset(".!?\n")


def _base(accented: re.Match[str]) -> str:
    return _FOLDED[accented.group()]


def unaccent(text: str) -> str:
    """The text with Latin diacritics removed, case kept."""
    return text if text.isascii() else _ACCENTED.sub(_base, text)


# ``TOKEN``'s split of a text all of whose characters are Latin-1, as most texts in the
# supported languages are, less its accents, without the regex or a Python call per
# accented letter: one ``bytes.translate`` takes the accents off and makes a space of
# every character the words and marks are not made of; the marks are spaced out, and the
# text split at the spaces. Latin-1 lower-cases letter by letter into Latin-1: the words
# of the text lower-cased are the words lower-cased.
_LATIN1_TWO_LETTERS = {  # æ, Æ, ß
    char.encode("latin-1"): base.encode()
    for char, base in _FOLDED.items()
    if ord(char) < 256 and len(base) > 1
}


def _latin1_spaced(code: int) -> int:
    base = _FOLDED.get(chr(code), chr(code))
    if len(base) > 1:  # replaced before the table is read
        return code
    return ord(base) if TOKEN.fullmatch(base) else ord(" ")


_LATIN1_SPACED = bytes(map(_latin1_spaced, range(256)))


def split_words(text: str) -> tuple[list[str], list[str]]:
    """``TOKEN``'s words and marks of the text less its accents: as written, and
    lower-cased."""
    try:
        latin1 = text.encode("latin-1")
    except UnicodeEncodeError:
        written = TOKEN.findall(unaccent(text))
        # Each word lower-cased, in three calls (no word holds a NUL).
        return written, "\0".join(written).lower().split("\0") if written else []
    for char, base in _LATIN1_TWO_LETTERS.items():
        if char in latin1:
            latin1 = latin1.replace(char, base)
    spaced = latin1.translate(_LATIN1_SPACED).decode("latin-1")
    for mark in CLAUSE_BREAKS:
        if mark in spaced:
            spaced = spaced.replace(mark, f" {mark} ")
    return _split(spaced), _split(spaced.lower())


def _split(spaced: str) -> list[str]:
    return list(filter(None, spaced.split(" ")))


def fold(text: str) -> str:
    """The text as terms are compared: accents removed, lower case."""
    return unaccent(text).lower()


@dataclass(frozen=True, slots=True)
class Entry:
    """One way of writing one term of one list."""

    category: str
    term: str
    value: float
    tail: tuple[tuple[str, bool], ...]  # the words after the first: (word, is a prefix)
    # The words of the tail that must be in the text as they are: a term of three words
    # or of a gap is tried only in a text holding them (one subset test, not a walk).
    needs: frozenset[str] = frozenset()


class Match(NamedTuple):
    """A term found (a tuple: a text makes dozens, and a frozen dataclass is slower to
    build)."""

    start: int
    end: int  # one past the last word
    entry: Entry
    words: str  # the words of the text that matched, folded


# A match made from its tuple in C: the named tuple's own constructor is a Python function
# (0.72 against 0.34 µs a match, and a 1 KB text makes about 35).
_match = functools.partial(tuple.__new__, Match)


def _alternatives(word: str) -> list[tuple[tuple[str, bool], ...]]:
    """Each alternative of one written word, as the words it folds into."""
    if word == GAP:
        return [((GAP, False),)]
    spelled: list[tuple[tuple[str, bool], ...]] = []
    for alternative in word.split("|"):
        if EMOJI.fullmatch(alternative):
            spelled.append(((alternative, False),))
            continue
        prefix = alternative.endswith("*")
        parts = WORD.findall(fold(alternative.rstrip("*")))
        if parts:
            spelled.append(
                tuple((part, prefix and i == len(parts) - 1) for i, part in enumerate(parts))
            )
    return spelled


def spellings(term: str) -> list[tuple[tuple[str, bool], ...]]:
    """Every word sequence a term stands for (the product of its alternatives)."""
    per_word = [_alternatives(word) for word in term.split()]
    return [tuple(itertools.chain.from_iterable(combo)) for combo in itertools.product(*per_word)]


class Lexicon:
    """Terms of many lists, found together in one pass over a text's words."""

    def __init__(self) -> None:
        self._exact: dict[str, list[Entry]] = defaultdict(list)
        self._prefix: dict[str, list[Entry]] = defaultdict(list)
        self._stem_lengths: tuple[int, ...] = ()
        # The entries each word starts (None: none), as found: a text's words are mostly
        # words seen before, so one look-up replaces one per stem length (about 15).
        self._starting: dict[str, _Starting | None] = {}

    def add(self, category: str, terms: Iterable[str], value: float = 1.0) -> None:
        """Add each term under ``category`` with ``value`` (a weight, or 1)."""
        lengths = set(self._stem_lengths)
        for term in terms:
            for spelled in spellings(term):
                (first, is_prefix), tail = spelled[0], spelled[1:]
                needs = frozenset(word for word, prefix in tail if not prefix and word != GAP)
                entry = Entry(category, term, value, tail, needs)
                if is_prefix:
                    self._prefix[first].append(entry)
                    lengths.add(len(first))
                else:
                    self._exact[first].append(entry)
        self._stem_lengths = tuple(sorted(lengths))
        self._starting.clear()

    def _entries_starting(self, word: str) -> "_Starting | None":
        entries = list(self._exact.get(word, ()))
        for length in self._stem_lengths:
            if length > len(word):
                break
            entries.extend(self._prefix.get(word[:length], ()))
        starting = _Starting.of(entries) if entries else None
        if len(self._starting) >= _REMEMBERED_WORDS:
            self._starting.clear()
        self._starting[word] = starting
        return starting

    def find(self, words: list[str]) -> list[Match]:
        """Every occurrence of every term in ``words`` (folded), overlaps included, in the
        order of their first word."""
        found = itertools.chain.from_iterable(self.by_category(words).values())
        return sorted(found, key=operator.itemgetter(0))

    def by_category(self, words: list[str]) -> dict[str, list[Match]]:
        """``find``'s matches by their entry's category, each category's in the order of
        their first word: what the analyser reads, with no pass over the matches to sort
        them out."""
        found: defaultdict[str, list[Match]] = defaultdict(list)
        # Most words start no term: their positions drop out in one pass of look-ups, in C
        # (a comprehension over every word was a fifth of the time here).
        known = list(map(self._starting.get, words, itertools.repeat(_UNSEEN)))
        starting = itertools.compress(
            enumerate(known), map(operator.is_not, known, itertools.repeat(None))
        )
        present: set[str] | None = None  # the text's words, for a term of three or a gap
        last = len(words) - 1
        for i, known_entries in starting:
            word = words[i]
            entries = self._entries_starting(word) if known_entries is _UNSEEN else known_entries
            if entries is None:
                continue
            for entry in entries.alone:
                found[entry.category].append(_match((i, i + 1, entry, word)))
            if i < last and entries.by_next:
                for entry in entries.by_next.get(words[i + 1], ()):
                    if len(entry.tail) == 1:
                        end = i + 2
                    else:
                        present = set(words) if present is None else present
                        if not entry.needs <= present:
                            continue
                        end = _tail_end(words, i + 2, entry.tail[1:])
                    if end:
                        found[entry.category].append(
                            _match((i, end, entry, " ".join(words[i:end])))
                        )
            for entry in entries.other:
                present = set(words) if present is None else present
                if entry.needs <= present:
                    end = _tail_end(words, i + 1, entry.tail)
                    if end:
                        found[entry.category].append(
                            _match((i, end, entry, " ".join(words[i:end])))
                        )
        return found


@dataclass(frozen=True, slots=True)
class _Starting:
    """The entries one word starts: one word long, by their exact second word, the rest."""

    alone: tuple[Entry, ...]
    by_next: dict[str, tuple[Entry, ...]]
    other: tuple[Entry, ...]

    @classmethod
    def of(cls, entries: list[Entry]) -> "_Starting":
        by_next: dict[str, list[Entry]] = defaultdict(list)
        other = []
        for entry in entries:
            if entry.tail and not entry.tail[0][1] and entry.tail[0][0] != GAP:
                by_next[entry.tail[0][0]].append(entry)
            elif entry.tail:
                other.append(entry)
        return cls(
            alone=tuple(entry for entry in entries if not entry.tail),
            by_next={word: tuple(group) for word, group in by_next.items()},
            other=tuple(other),
        )


# A word not looked up yet (``Lexicon._starting`` holds None for a word that starts nothing).
_UNSEEN = _Starting(alone=(), by_next={}, other=())


def _tail_end(words: list[str], j: int, tail: tuple[tuple[str, bool], ...]) -> int:
    """Where the rest of a term ends if it matches ``words`` from ``j``; 0 if it does not."""
    count = len(words)
    for index, (part, is_prefix) in enumerate(tail):
        if part == GAP:
            rest = tail[index + 1 :]
            for skip in range(GAP_WORDS + 1):
                if j + skip > count or (skip and words[j + skip - 1] in CLAUSE_BREAKS):
                    return 0
                end = _tail_end(words, j + skip, rest) if rest else j + skip
                if end:
                    return end
            return 0
        if j >= count:
            return 0
        other = words[j]
        if not (other.startswith(part) if is_prefix else other == part):
            return 0
        j += 1
    return j


def longest_first(matches: list[Match]) -> list[Match]:
    """Non-overlapping matches, the longest winning where two overlap, in text order."""
    end = 0
    for match in matches:
        if match.start < end:
            break
        end = match.end
    else:  # in text order and none overlapping, as most texts' are: all of them
        return matches
    chosen: list[Match] = []
    taken: set[int] = set()
    for match in sorted(matches, key=lambda m: (m.start - m.end, m.start)):
        span = range(match.start, match.end)
        if taken.isdisjoint(span):
            chosen.append(match)
            taken.update(span)
    return sorted(chosen, key=lambda m: m.start)
