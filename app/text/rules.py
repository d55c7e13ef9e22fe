"""The rules of text analysis as one JSON document, validated here.

The analyser takes a ``TextRules`` and nothing else, so the same code runs the default
document that ships beside this module (``default_rules.json``) or one an admin edits.

A *term* is one or more words separated by spaces, matched against the text's words
after both are folded (lower case, accents removed), so ``"está"`` also finds ``ESTA``
and ``esta``. Within a word, ``|`` separates alternatives and a trailing ``*`` matches any
word that starts with what precedes it: ``"tercera|cuarta vez"``, ``"reembols*"``,
``"before tomorrow*"``. Punctuation inside an alternative splits it into words the same
way the text is split (``"aujourd'hui"`` is the two words ``aujourd hui``). The word
``...`` stands for up to four words of the same clause (``"si no ... me doy de baja"``).
An emoji is a word of its own.
"""

import json
import math
import re
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from re import _compiler, _constants, _parser  # type: ignore[attr-defined]  # the stdlib regex engine
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    model_validator,
)

DEFAULT_RULES_PATH = Path(__file__).with_name("default_rules.json")

# Words as the analyser splits them; a term must contain at least one, or be an emoji.
WORD = re.compile(r"\w+")
EMOJI_CHARS = "\u2600-\u27bf\U0001f300-\U0001faff"
EMOJI = re.compile(f"[{EMOJI_CHARS}]")


class Intent(StrEnum):
    COMPLAINT = "complaint"
    CANCELLATION = "cancellation"
    REFUND = "refund"
    DELIVERY = "delivery"
    BILLING = "billing"
    TECHNICAL = "technical"
    INFORMATION = "information"
    PRAISE = "praise"
    LEGAL_THREAT = "legal_threat"


class UrgencyReason(StrEnum):
    URGENT_WORD = "urgent_word"
    DEADLINE = "deadline"
    SERVICE_DOWN = "service_down"
    VULNERABLE_PERSON = "vulnerable_person"
    REPEATED_CONTACT = "repeated_contact"
    THREAT_TO_LEAVE = "threat_to_leave"
    LEGAL_THREAT = "legal_threat"


# A term's spellings are the product of its words' alternatives ("a|b|c|d" ten times over
# is a million), each an entry the analyser compiles: bounded per term and per document
# (the shipped rules: 49 at most, 2,714 in all), or one document stops the process that
# compiles it.
MAX_TERM_SPELLINGS = 256
MAX_SPELLINGS = 50_000


def spelling_count(term: str) -> int:
    """How many word sequences a term stands for (``lexicon.spellings``, not made)."""
    return math.prod(len(word.split("|")) for word in term.split())


def _stored(info: ValidationInfo) -> bool:
    """Whether a document is read from the database: it passed the checks of the release
    that stored it, and a stricter one refuses new documents, never the rules every text
    arriving is read with."""
    return bool(info.context and info.context.get("stored"))


def _valid_term(term: str, info: ValidationInfo) -> str:
    words = term.split()
    if not words:
        raise ValueError("a term needs at least one word")
    if words[0] == "..." or words[-1] == "...":
        raise ValueError(f"{term!r}: '...' stands between two words")
    for word in words:
        if word == "...":
            continue
        for alternative in word.split("|"):
            body = alternative.rstrip("*")
            if not WORD.search(body) and not EMOJI.fullmatch(body):
                raise ValueError(f"{term!r}: the alternative {alternative!r} has no letters")
    if not _stored(info) and spelling_count(term) > MAX_TERM_SPELLINGS:
        raise ValueError(
            f"{term!r} stands for {spelling_count(term):,} spellings (the product of its "
            f"words' alternatives), more than {MAX_TERM_SPELLINGS}: split it into terms"
        )
    return term


_REPEATS = (_constants.MAX_REPEAT, _constants.MIN_REPEAT, _constants.POSSESSIVE_REPEAT)
_GROUPS = (_constants.SUBPATTERN, _constants.ASSERT, _constants.ASSERT_NOT)


def _repeats_a_repeat(parsed: Any, repeated: bool = False) -> bool:
    """Whether a parsed regex holds a repeat (``+``, ``*``, ``{2,}``) or an alternation
    inside another repeat: the shapes that backtrack exponentially on a long text that
    almost matches (``(a|a)+``, ``(a|ab)+``: two ways to read each round). Alternatives
    of one character each are a character class to the parser, and pass."""
    for op, value in parsed:
        inside, again = [], repeated
        if op in _REPEATS:
            _, most, inner = value
            if most > 1 and repeated:
                return True
            inside, again = [inner], repeated or most > 1
        elif op in _GROUPS:
            inside = [value[-1]]
        elif op is _constants.ATOMIC_GROUP:
            inside = [value]
        elif op is _constants.GROUPREF_EXISTS:  # (?(1)yes|no): either branch
            inside = [branch for branch in value[1:] if branch is not None]
        elif op is _constants.BRANCH:
            if repeated:
                return True
            inside = value[1]
        if any(_repeats_a_repeat(sub, again) for sub in inside):
            return True
    return False


# One character of each kind a pattern's repeats may take (ASCII, accented and other
# letters, spaces, an emoji): two repeats that both take one of them can share a run.
_SAMPLE = "".join(map(chr, range(128))) + "\u00a0\u00e9\u00f1\u00c9\u2028\u4e2d\U0001f600"
_ONE_CHARACTER = (
    _constants.LITERAL,
    _constants.NOT_LITERAL,
    _constants.ANY,
    _constants.IN,
    _constants.CATEGORY,
)
_ZERO_WIDTH = (_constants.AT, _constants.ASSERT, _constants.ASSERT_NOT)


def _taken(state: Any, body: Any) -> frozenset[str]:
    """The sample characters one round of a repeat takes, when a round is one character
    (``\\s``, ``[^-]``, ``.``); none otherwise."""
    if len(body) != 1 or body[0][0] not in _ONE_CHARACTER:
        return frozenset()
    one = _compiler.compile(_parser.SubPattern(state, list(body)), re.IGNORECASE | re.DOTALL)
    return frozenset(c for c in _SAMPLE if one.fullmatch(c))


def _items(parsed: Any) -> list[Any]:
    """A sequence's items, a plain group's own spliced in (``(\\s*)(\\s*)`` is ``\\s*\\s*``)."""
    items = []
    for op, value in parsed:
        if op is _constants.SUBPATTERN and not value[1] and not value[2]:
            items += _items(value[-1])
        else:
            items.append((op, value))
    return items


def _repeats_in_a_row(parsed: Any, state: Any) -> bool:
    """Whether a sequence holds two repeats with nothing required between them that can
    take the same characters (``a*a*b``, ``\\w+\\s*\\w+``): a run of them is split
    between the two every way before the match fails, at every position, a polynomial
    time that a few thousand characters make minutes; any sequence within, too."""
    open_sets: list[frozenset[str]] = []  # repeats reachable with nothing required since
    for op, value in _items(parsed):
        if op in _REPEATS:
            least, most, body = value
            taken = _taken(state, body) if most > 1 else frozenset()
            if any(taken & before for before in open_sets):
                return True
            if _repeats_in_a_row(body, state):
                return True
            open_sets = [*open_sets, taken] if least == 0 else [taken]
            continue
        if op in _ZERO_WIDTH:
            if op is not _constants.AT and _repeats_in_a_row(value[-1], state):
                return True
            continue
        open_sets = []
        inside: list[Any] = []
        if op is _constants.SUBPATTERN:
            inside = [value[-1]]
        elif op is _constants.ATOMIC_GROUP:
            inside = [value]
        elif op is _constants.GROUPREF_EXISTS:
            inside = [branch for branch in value[1:] if branch is not None]
        elif op is _constants.BRANCH:
            inside = value[1]
        if any(_repeats_in_a_row(sub, state) for sub in inside):
            return True
    return False


def _valid_pattern(pattern: str, info: ValidationInfo) -> str:
    try:
        parsed = _parser.parse(pattern)
    except (re.error, OverflowError) as exc:  # OverflowError: a count past the engine's
        raise ValueError(f"{pattern!r} is not a regular expression: {exc}") from exc
    if not _stored(info) and _repeats_a_repeat(parsed):
        raise ValueError(
            f"{pattern!r} repeats a repeat or an alternation (as '(a+)+' or '(a|ab)+'), "
            "which takes exponential time on some texts: write it without the outer repeat"
        )
    if not _stored(info) and _repeats_in_a_row(parsed, parsed.state):
        raise ValueError(
            f"{pattern!r} has two repeats in a row that can take the same characters (as "
            "'a*a*b' or '\\w+\\s*\\w+'), which takes polynomial time on some texts: "
            "make one of them take what the other cannot"
        )
    return pattern


Term = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_valid_term)]
Pattern = Annotated[str, Field(min_length=1, max_length=500), AfterValidator(_valid_pattern)]
LanguageCode = Annotated[str, Field(pattern=r"^[a-z]{2}$", description="ISO 639-1")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SentimentSettings(_Strict):
    """How term weights become a score in [-1, 1] and a label."""

    positive_from: float = Field(0.25, gt=0, lt=1, description="Score from which positive.")
    negative_to: float = Field(-0.25, gt=-1, lt=0, description="Score up to which negative.")
    negation_window: int = Field(3, ge=0, le=10, description="Words a negation reaches.")
    negation_factor: float = Field(-0.8, ge=-2, le=0)
    intensifier_window: int = Field(2, ge=0, le=10)
    intensifier_factor: float = Field(1.5, ge=1, le=4)
    caps_factor: float = Field(1.5, ge=1, le=4, description="A word of 3+ capitals, shouted.")
    exclamation_factor: float = Field(1.3, ge=1, le=4, description="Text with '!!' or more.")
    before_contrast: float = Field(0.5, ge=0, le=2, description="Before 'but' in a sentence.")
    after_contrast: float = Field(1.5, ge=0, le=4, description="After 'but' in a sentence.")
    saturation: float = Field(
        4.0, gt=0, description="s / sqrt(s^2 + saturation) turns the weight sum s into a score."
    )


class LanguageRules(_Strict):
    """The words of one supported language."""

    negators: list[Term] = Field(default_factory=list)
    intensifiers: list[Term] = Field(default_factory=list)
    contrasts: list[Term] = Field(default_factory=list, description="'but', 'pero', 'mais'")
    sentiment: dict[Term, Annotated[float, Field(ge=-4, le=4)]] = Field(
        default_factory=dict, description="Term and weight; 0 neutralises a shorter term."
    )
    urgency: dict[UrgencyReason, list[Term]] = Field(default_factory=dict)
    calm: list[Term] = Field(
        default_factory=list, description="'no es urgente': urgent words are then ignored."
    )
    intents: dict[Intent, list[Term]] = Field(default_factory=dict)
    abusive: list[Term] = Field(default_factory=list)


class EmailRules(_Strict):
    """What is cut from a text before it is analysed: earlier messages and signatures."""

    reply_headers: list[Pattern] = Field(
        default_factory=list,
        description="Multi-line regexes (case-insensitive); the text is cut where one starts. "
        "No repeat or alternation inside a repeat (`(a+)+`, `(a|ab)+`).",
    )
    signature_markers: list[Pattern] = Field(
        default_factory=list,
        description="Regexes matched at a line start; the rest is cut. No repeat or "
        "alternation inside a repeat.",
    )
    sign_offs: list[Term] = Field(
        default_factory=list,
        description="A line that is only one of these, near the end, starts the signature.",
    )
    sign_off_tail_lines: int = Field(
        6, ge=0, description="Most lines a signature may have after its sign-off."
    )
    agent_labels: list[Term] = Field(
        default_factory=list, description="Transcript speakers whose lines are dropped."
    )
    customer_labels: list[Term] = Field(default_factory=list)


class LanguageDetection(_Strict):
    """Which languages the detector chooses among."""

    other_languages: list[LanguageCode] = Field(
        default_factory=list, description="Detected and reported as unsupported."
    )
    supported_prior: float = Field(
        2.0,
        ge=0,
        le=50,
        description="Added to the log-probability of each supported language: traffic is "
        "mostly in them, and close calls (Spanish or Galician) should fall their way.",
    )


class TextRules(_Strict):
    """The whole rules document."""

    version: str = Field(min_length=1, max_length=50)
    detection: LanguageDetection = LanguageDetection()
    sentiment: SentimentSettings = SentimentSettings()
    emoji: dict[Term, Annotated[float, Field(ge=-4, le=4)]] = Field(
        default_factory=dict, description="Sentiment weight of emoji, in every language."
    )
    intent_valence: dict[Intent, Annotated[float, Field(ge=-4, le=4)]] = Field(
        default_factory=dict, description="Added to the sentiment sum when the intent is found."
    )
    abusive_valence: float = Field(-2.0, ge=-4, le=0)
    intent_suppressed_by: dict[Intent, list[Intent]] = Field(
        default_factory=dict, description="An intent dropped when one of these is found."
    )
    sentiment_intents: dict[Literal["negative", "positive"], Intent] = Field(
        default_factory=dict,
        description="The intent a text of that sentiment has (a negative message about the "
        "service is a complaint), with the sentiment's terms as its own.",
    )
    question_intent: Intent | None = Field(
        None, description="The intent of a text that asks a question ('?')."
    )
    urgent_intents: dict[Intent, UrgencyReason] = Field(
        default_factory=dict, description="Intents that make a text urgent, with the reason."
    )
    low_urgency_intents: list[Intent] = Field(
        default_factory=list,
        description="A text with no urgency reason, not negative, and no intent but these "
        "is low urgency.",
    )
    email: EmailRules = EmailRules()
    languages: dict[LanguageCode, LanguageRules] = Field(min_length=1)

    @model_validator(mode="after")
    def _others_are_not_supported(self) -> "TextRules":
        both = set(self.detection.other_languages) & set(self.languages)
        if both:
            raise ValueError(f"languages both supported and other: {sorted(both)}")
        return self

    @model_validator(mode="after")
    def _spellings_bounded(self, info: ValidationInfo) -> "TextRules":
        if _stored(info):
            return self
        terms = [*self.emoji, *self.email.sign_offs]
        for rules in self.languages.values():
            terms += [*rules.negators, *rules.intensifiers, *rules.contrasts, *rules.calm]
            terms += [*rules.sentiment, *rules.abusive]
            for listed in [*rules.urgency.values(), *rules.intents.values()]:
                terms += listed
        total = sum(map(spelling_count, terms))
        if total > MAX_SPELLINGS:
            raise ValueError(
                f"the terms stand for {total:,} spellings in all, more than {MAX_SPELLINGS:,}"
            )
        return self


def load_rules(document: str | bytes | dict[str, Any], *, stored: bool = False) -> TextRules:
    """Validate a rules document (JSON text or its parsed form); ValidationError if wrong.
    A ``stored`` one (read from the database) is held to what it was stored under: its
    patterns are checked to be regular expressions, not for the backtracking shapes a
    later release refuses."""
    context = {"stored": stored}
    if isinstance(document, dict):
        return TextRules.model_validate(document, context=context)
    return TextRules.model_validate(json.loads(document), context=context)


@lru_cache(maxsize=1)
def default_rules() -> TextRules:
    """The rules document that ships with the code."""
    return load_rules(DEFAULT_RULES_PATH.read_bytes())
