"""Which language a text is in: py3langid's naive Bayes model (shipped inside the wheel,
nothing downloaded), restricted to the supported languages and the others worth naming.

Measured on the tuning half of tests/text/labelled.jsonl (docs/text-analysis.md,
Method): py3langid and lingua-language-detector were as accurate, and lingua many times
slower and heavier. Most of the misses were Spanish and Portuguese taken for Galician; a
prior for the supported languages (``supported_prior``) settles those.

The model walks a text byte by byte in Python, which made it half of the analysis
(docs/performance.md, "The text analysis at half the cost"). So it scores each distinct
word once (``_WordScores``) and a text first as the sum of its words' scores: what that
leaves out is only the features that span two words. When that sum puts one language
far ahead (``CLEAR_MARGIN``), it is the answer; a closer call, mostly a short text,
is read by the model byte by byte as before.
"""

import math
import re
import threading
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt
from py3langid.langid import MODEL_FILE, LanguageIdentifier, visit_counts

# The detector reads the start of a text: 300 characters tell the language as well as the
# whole (the labelled set's texts are shorter), and reading costs time with every
# character (docs/performance.md, "Measurements behind the code").
READ_CHARS = 300
# Not language: links, addresses, handles, numbers; without an ``@`` in the text, the
# same less its two ``@`` patterns (a third of the detector's time went into trying them).
# The second's lookahead lets the search skip, in C, the characters none of its patterns
# can start at: the same replacements in two thirds of the time.
_NOISE = re.compile(r"https?://\S+|\S+@\S+|@\w+|#|\d+")
_NOISE_WITHOUT_AT = re.compile(r"(?=[h#\d])(?:https?://\S+|#|\d+)")
_WORD = re.compile(r"\w+")
# ``_WORD``'s split of a text all of whose characters are Latin-1, as most texts in the
# supported languages are, without the regex: the bytes that are not word characters made
# spaces by one ``bytes.translate``, then a split at the spaces (NFC leaves such a text as
# it is: nothing in Latin-1 composes).
_LATIN1_SPACED = bytes(code if _WORD.fullmatch(chr(code)) else ord(" ") for code in range(256))
# How far ahead of the next language, in the softmax's units, the words' sum must put
# one for its answer to stand: the next has then less than e**-4 (2%) of the probability.
# On the labelled set and its 1 KB texts (944 texts) the sum's answer was the model's in
# every text where it led by 2 or more.
CLEAR_MARGIN = 4.0
# Shorter texts are read byte by byte: they are cheap to read so, and on them the words'
# sum, which reads each word between two spaces, strays most from the model's
# probability (on the labelled set's texts of 150 characters or more, the confidence
# moved by 0.02 at most).
SHORTEST = 150
# Distinct words whose scores are kept (then forgotten all at once): 20,000 rows of
# float32 scores, 3.6 MB for 45 languages.
_REMEMBERED_WORDS = 20_000


@dataclass(frozen=True, slots=True)
class Detected:
    language: str | None  # None: the text has nothing to tell (``ok``, ``👍``, ``12``)
    confidence: float


@lru_cache(maxsize=8)
def _identifier(languages: tuple[str, ...]) -> LanguageIdentifier:
    """The model (about half a second to load) restricted to ``languages``."""
    identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=False)
    unknown = sorted(set(languages) - set(identifier.nb_classes))
    if unknown:
        raise ValueError(f"the language model does not know {unknown}")
    identifier.set_languages(list(languages))
    # The model keeps its every language's scores (27 MiB of float16) to restrict them
    # again; restricted once for good, the worker need not hold them.
    identifier._full_model = (identifier.nb_ptc, identifier.nb_pc, identifier.nb_classes)
    return identifier


class _WordScores:
    """Each word's score for every candidate language, computed once: the model's walk
    over the word between two spaces. Shared by the event loop and the thread pool
    (``POST /v1/text/analyze``): a lock keeps a row from being handed out twice."""

    def __init__(self, identifier: LanguageIdentifier) -> None:
        self._identifier = identifier
        self._lock = threading.Lock()
        self._rows: dict[str, int] = {}
        # Row 0 stays zero: a word none of whose features the model knows.
        self._scores = np.zeros(
            (_REMEMBERED_WORDS + 1, len(identifier.nb_classes)), dtype=np.float32
        )

    def total(self, words: list[str]) -> npt.NDArray[np.float64]:
        """The sum of ``words``' scores."""
        with self._lock:
            if len(self._rows) + len(words) > _REMEMBERED_WORDS:
                self._rows.clear()  # before, not while, rows are handed out
            try:  # in one pass when every word has been seen, as in most texts
                rows = list(map(self._rows.__getitem__, words))
            except KeyError:  # each looked up as rows are made: a word twice gets one row
                rows = [
                    self._row(word) if row is None else row
                    for word, row in zip(words, map(self._rows.get, words), strict=True)
                ]
            # ``take``, not ``[rows]``: the same rows, gathered from a list for less.
            return self._scores.take(rows, axis=0).sum(axis=0, dtype=np.float64)

    def _row(self, word: str) -> int:
        identifier = self._identifier
        visits = visit_counts(
            identifier.tk_nextmove,
            identifier._rowbase,
            identifier.tk_output,
            f" {word} ".encode("utf-8", "surrogatepass"),
        )
        if not visits:
            self._rows[word] = 0
            return 0
        row = len(self._rows) + 1
        features = np.fromiter(visits.keys(), dtype=np.intp, count=len(visits))
        counts = np.fromiter(visits.values(), dtype=np.float32, count=len(visits))
        self._scores[row] = np.log1p(counts) @ identifier.nb_ptc[features]
        self._rows[word] = row
        return row


def _words(text: str) -> list[str]:
    """The words of ``text`` as the model reads them: accents composed (NFC)."""
    try:
        latin1 = text.encode("latin-1")
    except UnicodeEncodeError:
        return _WORD.findall(unicodedata.normalize("NFC", text))
    return latin1.translate(_LATIN1_SPACED).decode("latin-1").split()


class LanguageDetector:
    """Chooses among ``supported`` and ``others``, favouring the supported by ``prior``."""

    def __init__(self, supported: list[str], others: list[str], prior: float) -> None:
        self._identifier = _identifier(tuple(sorted(set(supported + others))))
        self._boost = {language: prior for language in supported}
        self._words = _WordScores(self._identifier)
        classes = self._identifier.nb_classes
        self._languages = list(classes)
        self._prior = self._identifier.nb_pc.astype(np.float64) + [
            self._boost.get(language, 0.0) for language in classes
        ]

    def detect(self, text: str) -> Detected:
        """The most likely language of ``text`` and its probability among the candidates."""
        text = text[:READ_CHARS]
        text = (_NOISE if "@" in text else _NOISE_WITHOUT_AT).sub(" ", text)
        # The model's own calibration: log-probabilities shrink by the square root of the
        # text's length in bytes before the softmax (norm_probs=True does the same).
        temperature = math.sqrt(len(text.encode("utf-8", "surrogatepass")) or 1)
        return self._by_words(text, temperature) or self._by_bytes(text, temperature)

    def _by_words(self, text: str, temperature: float) -> Detected | None:
        """The answer of the words' scores, if it is clear."""
        if len(text) < SHORTEST:
            return None
        # As the model reads a text: lower case if all capitals.
        words = _words(text.lower() if text.isupper() else text)
        if not words:
            return None
        scores = (self._words.total(words) + self._prior) / temperature
        best = int(scores.argmax())
        odds = np.exp(scores - scores[best])
        odds[best] = 0.0
        if odds.max() > math.exp(-CLEAR_MARGIN):
            return None
        return Detected(self._languages[best], round(1.0 / (1.0 + float(odds.sum())), 3))

    def _by_bytes(self, text: str, temperature: float) -> Detected:
        """The model's answer over every byte of ``text``."""
        scores = self._identifier.rank(text)
        if not scores or scores[0][1] < -1e30:  # no feature of the model in the text
            return Detected(None, 0.0)
        boosted = [(score + self._boost.get(lang, 0.0), lang) for lang, score in scores]
        best_score, best = max(boosted)
        total = sum(math.exp((score - best_score) / temperature) for score, _ in boosted)
        return Detected(best, round(1.0 / total, 3))
