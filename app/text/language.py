"""Which language a text is in: py3langid's naive Bayes model (shipped inside the wheel,
nothing downloaded), restricted to the supported languages and the others worth naming.

Measured on the tuning half of tests/text/labelled.jsonl (docs/text-analysis.md,
Method): py3langid and lingua-language-detector were as accurate, and lingua many times
slower and heavier. Most of the misses were Spanish and Portuguese taken for Galician; a
prior for the supported languages (``supported_prior``) settles those.
"""

import math
import re
from dataclasses import dataclass
from functools import lru_cache

from py3langid.langid import MODEL_FILE, LanguageIdentifier

# The detector reads the start of a text: 300 characters tell the language as well as the
# whole (the labelled set's texts are shorter), and reading costs time with every
# character (docs/performance.md, "Measurements behind the code").
READ_CHARS = 300
# Not language: links, addresses, handles, numbers.
_NOISE = re.compile(r"https?://\S+|\S+@\S+|@\w+|#|\d+")


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
    return identifier


class LanguageDetector:
    """Chooses among ``supported`` and ``others``, favouring the supported by ``prior``."""

    def __init__(self, supported: list[str], others: list[str], prior: float) -> None:
        self._identifier = _identifier(tuple(sorted(set(supported + others))))
        self._boost = {language: prior for language in supported}

    def detect(self, text: str) -> Detected:
        """The most likely language of ``text`` and its probability among the candidates."""
        text = _NOISE.sub(" ", text[:READ_CHARS])
        scores = self._identifier.rank(text)
        if not scores or scores[0][1] < -1e30:  # no feature of the model in the text
            return Detected(None, 0.0)
        boosted = [(score + self._boost.get(lang, 0.0), lang) for lang, score in scores]
        best_score, best = max(boosted)
        # The model's own calibration: log-probabilities shrink by the square root of the
        # text's length in bytes before the softmax (norm_probs=True does the same).
        temperature = math.sqrt(len(text.encode("utf-8", "surrogatepass")) or 1)
        total = sum(math.exp((score - best_score) / temperature) for score, _ in boosted)
        return Detected(best, round(1.0 / total, 3))
