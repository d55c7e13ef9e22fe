"""The analyser: one inbound text in, its language, sentiment, urgency, intents and abuse
out. Pure and synchronous: the rules are compiled once when it is built, and analysing a
text touches nothing outside it."""

import itertools
import math
from typing import Any

from app.text.cleaning import Cleaner
from app.text.language import LanguageDetector
from app.text.lexicon import (
    CLAUSE_BREAKS,
    SENTENCE_BREAKS,
    Lexicon,
    Match,
    longest_first,
    split_words,
)
from app.text.rules import Intent, LanguageRules, SentimentSettings, TextRules, UrgencyReason
from app.text.schemas import TextAnalysis

# The analyser's own code; the rules document carries its own version beside it.
# 2: the language of a text of 150 characters or more read from its words' scores when
# they are clear (app/text/language.py): the same language, sentiment, urgency, intents
# and abuse on every text compared, a language confidence that moved by up to 0.02.
ANALYSER_VERSION = "2"

# Categories of the compiled lexicon.
_SENTIMENT, _NEGATOR, _INTENSIFIER, _CONTRAST = "sentiment", "negator", "intensifier", "contrast"
_CALM, _ABUSIVE = "calm", "abusive"
_URGENCY, _INTENT = "urgency:", "intent:"
# Each intent and urgency reason with its category, in their order (an enum member's
# ``value`` is a property: read once here rather than per text).
_INTENTS = tuple((intent, _INTENT + intent.value) for intent in Intent)
_REASONS = tuple((reason, _URGENCY + reason.value) for reason in UrgencyReason)


def _compile(emoji: dict[str, float], *languages: LanguageRules) -> Lexicon:
    """One lexicon of every list of ``languages`` (several: a text too short to tell)."""
    lexicon = Lexicon()
    for symbols, weight in emoji.items():
        lexicon.add(_SENTIMENT, [symbols], weight)
    for rules in languages:
        lexicon.add(_NEGATOR, rules.negators)
        lexicon.add(_INTENSIFIER, rules.intensifiers)
        lexicon.add(_CONTRAST, rules.contrasts)
        lexicon.add(_CALM, rules.calm)
        lexicon.add(_ABUSIVE, rules.abusive)
        for term, weight in rules.sentiment.items():
            lexicon.add(_SENTIMENT, [term], weight)
        for reason, terms in rules.urgency.items():
            lexicon.add(_URGENCY + reason.value, terms)
        for intent, terms in rules.intents.items():
            lexicon.add(_INTENT + intent.value, terms)
    return lexicon


class _Words:
    """A cleaned text split for matching: its words as written (less accents) and folded.

    What only some texts need (capitals, sentence numbers) is read at the words that
    matched.
    """

    __slots__ = ("_sentence", "exclaimed", "folded", "written")

    def __init__(self, text: str) -> None:
        self.written, self.folded = split_words(text)
        self.exclaimed = "!!" in text
        self._sentence: list[int] | None = None

    def shouted(self, start: int, end: int) -> bool:
        """Whether a word of ``start:end`` is written in capitals (three letters or more)."""
        if end - start == 1:  # most terms: no generator
            word = self.written[start]
            return len(word) >= 3 and word.isupper()
        return any(len(word) >= 3 and word.isupper() for word in self.written[start:end])

    def sentence(self) -> list[int]:
        """The number of the sentence each word is in."""
        if self._sentence is None:
            ends = [word in SENTENCE_BREAKS for word in self.folded]
            self._sentence = [0, *itertools.accumulate(ends[:-1])]
        return self._sentence


class TextAnalyser:
    """Analyses texts with one rules document; build it once and share it."""

    def __init__(self, rules: TextRules) -> None:
        self.rules = rules
        self.version = f"{ANALYSER_VERSION}+rules.{rules.version}"
        self._cleaner = Cleaner.from_rules(rules.email)
        self._detector = LanguageDetector(
            supported=sorted(rules.languages),
            others=rules.detection.other_languages,
            prior=rules.detection.supported_prior,
        )
        self._lexicons = {
            lang: _compile(rules.emoji, words) for lang, words in rules.languages.items()
        }
        self._any_language = _compile(rules.emoji, *rules.languages.values())

    def analyse(self, text: str, language: str | None = None) -> TextAnalysis:
        """Analyse one text; ``language`` (ISO 639-1) when known, detected otherwise."""
        own = self._cleaner.own_words(text)
        if language is not None:
            confidence = 1.0
        else:
            detected = self._detector.detect(own)
            language, confidence = detected.language, detected.confidence
        if language is not None and language not in self._lexicons:
            return self._unsupported(language, confidence)
        lexicon = self._lexicons[language] if language else self._any_language
        words = _Words(own)
        by_category = lexicon.by_category(words.folded)
        intents = self._intents(by_category, asks="?" in own)  # a '?' is always a word
        abusive = _terms(by_category[_ABUSIVE])
        sentiment, polar_terms = self._sentiment(words, by_category, intents, bool(abusive))
        label = sentiment["label"]
        derived = self.rules.sentiment_intents.get(label) if label != "neutral" else None
        if derived is not None:
            intents.setdefault(derived, polar_terms)
        self._suppress(intents)
        # The answer validated once, from plain values: a model built for each part costs
        # a validation (and a Python call) of its own.
        return TextAnalysis.model_validate(
            {
                "language": language,
                "language_confidence": confidence,
                "supported": True,
                "sentiment": sentiment,
                "urgency": self._urgency(by_category, intents, label),
                "intents": [{"intent": i, "terms": terms} for i, terms in intents.items()],
                "abusive": {"detected": bool(abusive), "terms": abusive},
                "analyser_version": self.version,
            }
        )

    def _unsupported(self, language: str, confidence: float) -> TextAnalysis:
        return TextAnalysis.model_validate(
            {
                "language": language,
                "language_confidence": confidence,
                "supported": False,
                "sentiment": {"label": "neutral", "score": 0.0, "terms": []},
                "urgency": {"level": "normal", "reasons": []},
                "intents": [],
                "abusive": {"detected": False, "terms": []},
                "analyser_version": self.version,
            }
        )

    def _intents(self, by_category: dict[str, list[Match]], asks: bool) -> dict[Intent, list[str]]:
        """The intents whose terms were found, and the question intent if a '?' was."""
        found = {
            intent: _terms(by_category[category])
            for intent, category in _INTENTS
            if by_category.get(category)
        }
        if asks and self.rules.question_intent is not None:
            found.setdefault(self.rules.question_intent, ["?"])
        return found

    def _suppress(self, intents: dict[Intent, list[str]]) -> None:
        """Drop the intents that a stronger one found beside them overrides."""
        for intent, suppressors in self.rules.intent_suppressed_by.items():
            if intent in intents and any(other in intents for other in suppressors):
                del intents[intent]

    def _sentiment(
        self,
        words: _Words,
        by_category: dict[str, list[Match]],
        intents: dict[Intent, list[str]],
        abusive: bool,
    ) -> tuple[dict[str, Any], list[str]]:
        """The sentiment (a ``Sentiment``'s fields), and the terms that pulled it the way it
        went."""
        settings = self.rules.sentiment
        negators = {m.end - 1 for m in by_category[_NEGATOR]}
        intensifiers = {m.end - 1 for m in by_category[_INTENSIFIER]}
        contrasts = [m.start for m in by_category[_CONTRAST]]
        total = 0.0
        weighed: list[tuple[str, float]] = []
        for match in longest_first(by_category[_SENTIMENT]):
            weight = match.entry.value
            if weight == 0:
                continue
            if _reach(words.folded, match.start, negators, settings.negation_window):
                weight *= settings.negation_factor
            if _reach(words.folded, match.start, intensifiers, settings.intensifier_window):
                weight *= settings.intensifier_factor
            if words.shouted(match.start, match.end):
                weight *= settings.caps_factor
            if contrasts:
                weight *= _contrast_factor(words.sentence(), match.start, contrasts, settings)
            weighed.append((match.words, weight))
            total += weight
        total += sum(self.rules.intent_valence.get(intent, 0.0) for intent in intents)
        if abusive:
            total += self.rules.abusive_valence
        if words.exclaimed:
            total *= settings.exclamation_factor
        score = round(total / math.sqrt(total * total + settings.saturation), 3)
        label = (
            "positive"
            if score >= settings.positive_from
            else "negative"
            if score <= settings.negative_to
            else "neutral"
        )
        terms = list(dict.fromkeys(term for term, _ in weighed))
        polar = [term for term, weight in weighed if (weight > 0) == (score > 0)]
        return {"label": label, "score": score, "terms": terms}, list(dict.fromkeys(polar))

    def _urgency(
        self,
        by_category: dict[str, list[Match]],
        intents: dict[Intent, list[str]],
        label: str,
    ) -> dict[str, Any]:
        """The urgency (an ``Urgency``'s fields), given the sentiment's label."""
        calm = bool(by_category[_CALM])
        reasons: list[dict[str, Any]] = []
        for reason, category in _REASONS:
            if (calm and reason is UrgencyReason.URGENT_WORD) or not by_category.get(category):
                continue
            for term in _terms(by_category[category]):
                reasons.append({"reason": reason, "term": term})
        for intent, reason in self.rules.urgent_intents.items():
            for term in intents.get(intent, []):
                reasons.append({"reason": reason, "term": term})
        if reasons:
            return {"level": "high", "reasons": reasons}
        quiet = set(intents) <= set(self.rules.low_urgency_intents)
        level = "low" if quiet and label != "negative" else "normal"
        return {"level": level, "reasons": []}


def _terms(matches: list[Match]) -> list[str]:
    """The distinct words that matched, in text order (``Lexicon.find`` answers matches in
    the order of their first word)."""
    return list(dict.fromkeys([match.words for match in matches]))


def _reach(words: list[str], start: int, positions: set[int], window: int) -> bool:
    """Whether one of ``positions`` lies among the ``window`` words before ``start`` in the
    same clause."""
    if not positions:
        return False
    index = start - 1
    while index >= 0 and start - index <= window and words[index] not in CLAUSE_BREAKS:
        if index in positions:
            return True
        index -= 1
    return False


def _contrast_factor(
    sentence: list[int], start: int, contrasts: list[int], settings: SentimentSettings
) -> float:
    """Weight of a term by where it stands from a 'but' of its own sentence: what follows
    the 'but' is what the writer means ("good product, but the delivery was awful")."""
    same = [position for position in contrasts if sentence[position] == sentence[start]]
    if any(position < start for position in same):
        return settings.after_contrast
    if same:
        return settings.before_contrast
    return 1.0
