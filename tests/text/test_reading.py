"""The analyser's shortcuts answer as the long way round: a language read from its words
as the model reads every byte, a term tried only where its words are, a reply header
tried only where a line starts."""

import dataclasses
import math
import random
import re
import time
import unicodedata

import pytest

from app.text import language
from app.text.analyser import TextAnalyser, _Words
from app.text.cleaning import Cleaner, LineStarts
from app.text.language import LanguageDetector
from app.text.lexicon import (
    TOKEN,
    Entry,
    Lexicon,
    Match,
    _tail_end,
    longest_first,
    split_words,
    unaccent,
)
from app.text.rules import EmailRules, default_rules
from bench.text_analysis import kilobyte_texts, load_labelled


@pytest.fixture(scope="module")
def detector() -> LanguageDetector:
    rules = default_rules()
    return LanguageDetector(
        supported=sorted(rules.languages),
        others=rules.detection.other_languages,
        prior=rules.detection.supported_prior,
    )


def _windows() -> list[str]:
    """What the detector reads of each labelled text and of each 1 KB text made of them."""
    rows = load_labelled()
    texts = [row["text"] for row in rows] + kilobyte_texts(rows)
    return [language._NOISE.sub(" ", text[: language.READ_CHARS]) for text in texts]


def test_the_words_answer_as_the_model_reading_every_byte(detector: LanguageDetector) -> None:
    answered = 0
    for text in _windows():
        temperature = math.sqrt(len(text.encode()) or 1)
        by_words = detector._by_words(text, temperature)
        if by_words is None:
            continue
        answered += 1
        by_bytes = detector._by_bytes(text, temperature)
        assert by_words.language == by_bytes.language, text
        assert by_words.confidence == pytest.approx(by_bytes.confidence, abs=0.02), text
    assert answered >= 400  # most texts of 150 characters or more


def test_a_short_or_unclear_text_is_read_byte_by_byte(detector: LanguageDetector) -> None:
    assert detector._by_words("Obrigada!", 3.0) is None
    mixed = "Hello, je voudrais saber if my pedido est arrivé, gracias. " * 3
    assert detector._by_words(mixed, math.sqrt(len(mixed))) is None
    assert detector.detect(mixed).language in {"en", "fr", "es", "pt"}


def test_forgetting_words_leaves_the_scores_as_they_were(
    detector: LanguageDetector, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = ["el", "pedido", "no", "ha", "llegado", "todavia"]
    second = ["y", "nadie", "me", "responde", "desde", "el", "lunes"]
    remembering = language._WordScores(detector._identifier)
    expected = [remembering.total(first), remembering.total(second)]
    monkeypatch.setattr(language, "_REMEMBERED_WORDS", 8)
    forgetful = language._WordScores(detector._identifier)
    forgetful.total(["the", "parcel", "never", "came"])
    for _ in range(2):  # each text makes it forget the words before
        assert forgetful.total(first) == pytest.approx(expected[0])
        assert forgetful.total(second) == pytest.approx(expected[1])


def _every_match(lexicon: Lexicon, words: list[str]) -> dict[str, list[tuple[object, ...]]]:
    """The long way round: every entry tried at every word."""
    found: dict[str, list[tuple[object, ...]]] = {}
    for i, word in enumerate(words):
        entries = list(lexicon._exact.get(word, ()))
        entries += [e for stem, es in lexicon._prefix.items() if word.startswith(stem) for e in es]
        for entry in entries:
            end = _tail_end(words, i + 1, entry.tail) if entry.tail else i + 1
            if end:
                match = (i, end, entry.term, " ".join(words[i:end]))
                found.setdefault(entry.category, []).append(match)
    return {category: sorted(matches) for category, matches in found.items()}


def test_the_terms_are_found_as_every_term_tried_at_every_word() -> None:
    """Each category's matches, in text order, on every labelled text and 1 KB text in each
    language's lexicon, and on word salads of the rules' own words."""
    analyser = TextAnalyser(default_rules())
    rows = load_labelled()
    texts = [row["text"] for row in rows] + kilobyte_texts(rows)
    vocabulary = sorted({word for text in texts for word in _Words(text).folded})
    draw = random.Random(3)
    salads = [draw.choices(vocabulary + [",", "."] * 20, k=80) for _ in range(100)]
    for lexicon in [*analyser._lexicons.values(), analyser._any_language]:
        for words in [_Words(text).folded for text in texts] + salads:
            got = {
                category: sorted((m.start, m.end, m.entry.term, m.words) for m in matches)
                for category, matches in lexicon.by_category(words).items()
                if matches
            }
            assert got == _every_match(lexicon, words)
            for matches in lexicon.by_category(words).values():
                assert [m.start for m in matches] == sorted(m.start for m in matches)


def test_the_longest_of_overlapping_terms_wins_whatever_the_order_given() -> None:
    """``longest_first`` against choosing one span at a time, longest then leftmost."""
    entry = Entry("sentiment", "x", 1.0, ())
    draw = random.Random(5)
    for _ in range(2000):
        spans = {
            (start, start + draw.choice([1, 1, 1, 2, 3])) for start in range(draw.randint(0, 12))
        }
        spans = set(draw.sample(sorted(spans), k=draw.randint(0, len(spans))))
        matches = [Match(start, end, entry, "x") for start, end in spans]
        if draw.random() < 0.5:
            matches.sort()
        taken: set[int] = set()
        expected = []
        for start, end in sorted(spans, key=lambda span: (span[0] - span[1], span[0])):
            if taken.isdisjoint(range(start, end)):
                expected.append((start, end))
                taken.update(range(start, end))
        assert [(m.start, m.end) for m in longest_first(matches)] == sorted(expected)


def _random_texts(count: int) -> list[str]:
    """Texts of letters, accents, spaces, punctuation, digits, emoji and other scripts."""
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDE áéíóúçãñœßÉ  .,;:!?'-_\n\t0123456789@#/👍😡€✓ЖжΩ中"
    draw = random.Random(7)
    return ["".join(draw.choices(alphabet, k=draw.randint(0, 400))) for _ in range(count)]


@pytest.mark.parametrize(
    "pattern",
    [
        r"^\s*(?:agent|agente)\s*:\s?",  # \s* reaches over blank lines
        r"^[ \t]*(?:on)\s[^\n]{0,200}(?:wrote)\s?:",
        r"(?:^--\s*$)|(?:^from:)",
        r"^$",  # an empty line, or the end after a last line break
    ],
)
def test_a_pattern_at_line_starts_is_found_where_matching_each_line_start_finds_it(
    pattern: str,
) -> None:
    compiled = re.compile(pattern, re.IGNORECASE | re.MULTILINE)
    starts = LineStarts.of(compiled)
    rows = load_labelled()
    texts = [row["text"] for row in rows] + kilobyte_texts(rows) + _random_texts(200)
    texts += ["", "\n", "Agent: hi", "hi\n\n  \nAgent: no", "x\nOn Monday, A wrote:", "a\n--"]
    for text in texts:
        expected = next(
            (
                start
                for start in [0, *(m.end() for m in re.finditer("\n", text))]
                if compiled.match(text, start)
            ),
            None,
        )
        assert starts.first(text) == expected, text


def _lexicon(*terms: str) -> Lexicon:
    lexicon = Lexicon()
    lexicon.add("found", terms)
    return lexicon


@pytest.mark.parametrize(
    ("term", "text", "found"),
    [
        (
            "si no ... me doy de baja",
            "si no lo arreglais me doy de baja hoy",
            "si no lo arreglais me doy de baja",
        ),
        ("si no ... me doy de baja", "si no lo arreglais me doy un respiro", None),
        ("de 7*|8* anos", "mi hija de 8 anos esta sola", "de 8 anos"),
        ("de 7*|8* anos", "el pedido de 8 libros", None),
        ("sin servicio desde", "llevo sin servicio desde ayer", "sin servicio desde"),
        ("sin servicio desde", "sin servicio hoy", None),
    ],
)
def test_a_term_of_many_words_is_found_only_with_all_its_words(
    term: str, text: str, found: str | None
) -> None:
    matches = _lexicon(term).find(text.split())
    assert [match.words for match in matches] == ([found] if found else [])


def _cleaner(*headers: str) -> Cleaner:
    return Cleaner.from_rules(EmailRules(reply_headers=list(headers)))


@pytest.mark.parametrize(
    "header",
    [
        r"^[ \t]*on\s[^\n]{0,200}wrote\s?:",  # at a line start: tried line by line
        r"on\s[^\n]{0,200}wrote\s?:",  # anywhere: searched
        r"^[ \t]*(on)\s[^\n]{0,200}\1?wrote\s?:",  # refers to a group: searched alone
        r"^x|on\s[^\n]{0,200}wrote\s?:",  # an alternative not at a line start: searched
    ],
)
def test_a_reply_header_cuts_where_it_starts(header: str) -> None:
    cleaner = _cleaner(r"^[ \t]*-{2,}\s*original message", header)
    text = "Thanks, all sorted now.\nOn Monday, Support wrote:\n> Sorry, it is broken."
    assert cleaner.own_words(text) == "Thanks, all sorted now."
    inline = "Thanks, all sorted. On Monday, Support wrote: sorry, it is broken."
    expected = inline if header.startswith("^[") else "Thanks, all sorted."
    assert cleaner.own_words(inline) == expected


def test_the_earliest_reply_header_wins() -> None:
    cleaner = _cleaner(r"^[ \t]*from\s?:", r"^[ \t]*-{2,}\s*original message", r"wrote:")
    text = "Still broken.\n--- Original Message ---\nFrom: us\nsomeone wrote: ok"
    assert cleaner.own_words(text) == "Still broken."


@pytest.mark.parametrize(
    "marker",
    [
        r"--\s*$",  # matches within a line: the lines before a search's first match skipped
        r"--\s*+$",  # possessive: would take the next line's start in a search
        r"--\Z",  # the end of the line, never of a longer text
        r"--(?!\n)",  # a look-ahead that sees the next line in a search
    ],
)
def test_a_signature_marker_cuts_at_its_line_as_matched_line_by_line(marker: str) -> None:
    cleaner = Cleaner.from_rules(EmailRules(signature_markers=[marker]))
    text = "Thanks, all sorted now.\nSee you.\n--\n  Jane, Great Products Ltd"
    assert cleaner.own_words(text) == "Thanks, all sorted now.\nSee you."
    assert cleaner.own_words("--\nThanks.") == "--\nThanks."  # never the first line


PARAGRAPH = "Necesito la factura de octubre, no la encuentro en la web. " * 8


@pytest.mark.parametrize(
    "sign_off", ["Saludos,", "Saludos" + "!" * 300, "-- " * 100 + "Kind regards", "SALUDOS"]
)
def test_a_sign_off_is_one_however_long_its_line(sign_off: str) -> None:
    cleaner = Cleaner.from_rules(EmailRules(sign_offs=["saludos", "kind regards"]))
    text = f"{PARAGRAPH}\n\n{sign_off}\nJuan Pérez"
    assert cleaner.own_words(text) == PARAGRAPH.strip()


def test_a_long_line_beginning_as_a_sign_off_is_not_one() -> None:
    cleaner = Cleaner.from_rules(EmailRules(sign_offs=["saludos", "kind regards"]))
    text = f"{PARAGRAPH}\n\nSaludos a todo el equipo de soporte, sois muy amables.\nJuan"
    assert cleaner.own_words(text) == text


def test_a_latin1_text_is_split_as_the_token_regex_splits_it() -> None:
    rng = random.Random(7)
    alphabet = [chr(code) for code in range(256)]
    texts = [row["text"] for row in load_labelled()]
    texts += ["", " ", "&", "\0", "A.B", "ok!!", "x\n\ny", "__init__", "ÀÉÎ hé?"]
    texts += ["Æß æ", "ª²µ\xd7\xf7", "“œ”"]
    texts += ["".join(rng.choices(alphabet, k=rng.randint(0, 60))) for _ in range(5000)]
    for text in texts:
        written = TOKEN.findall(unaccent(text))
        folded = [word.lower() for word in written]
        assert split_words(text) == (written, folded), repr(text)


def test_a_latin1_text_is_split_as_the_detectors_regex_splits_it() -> None:
    rng = random.Random(11)
    alphabet = [chr(code) for code in range(256)]
    texts = [*_windows(), "", "  ", "ª²½ ÀÉÎ ñ ß ÿ", "a\xa0b\x85c", "é\u0301", "“hé”"]
    texts += ["".join(rng.choices(alphabet, k=rng.randint(0, 60))) for _ in range(5000)]
    for text in texts:
        expected = re.findall(r"\w+", unicodedata.normalize("NFC", text))
        assert language._words(text) == expected, repr(text)


@pytest.mark.parametrize(
    "blanks",
    [
        "hola\n" + "\n" * 19_990 + "adios",  # blank lines a label's search ran on over
        "hola\n" + " \n" * 9_995 + "adios",
        "hola\r" + "\r" * 19_990 + "adios",
        "hola" + "\n" * 19_995,  # blank lines at the end
        "Agent: hi\n" + "\n" * 19_980 + "Cliente: bien",
    ],
)
def test_thousands_of_blank_lines_are_read_in_linear_time(blanks: str) -> None:
    """As many characters as ``POST /v1/text/analyze`` accepts, all line breaks: the
    agents' labels and the signature markers were searched from every break with a
    ``\\s*`` that ran on over the breaks after it (10,000 took 7 s, 20,000 about 30), and
    the blank lines at the end dropped one list copy at a time."""
    cleaner = Cleaner.from_rules(default_rules().email)
    started = time.process_time()
    own = cleaner.own_words(blanks)
    assert time.process_time() - started < 1.0  # about 10 ms
    assert own.split()[:1] in (["hola"], ["bien"])


def test_a_blank_at_a_line_start_is_read_as_the_line_alone_reads_it() -> None:
    """The labels' and markers' leading blanks no longer cross a line break in the whole
    text's search: the same texts are cut as with ``\\s*``, which matched each line alone."""
    rules = default_rules().email
    cleaner = Cleaner.from_rules(rules)
    flags = re.IGNORECASE | re.MULTILINE
    markers = "|".join(f"(?:{marker})" for marker in rules.signature_markers)
    names = "|".join(re.escape(n) for n in sorted(rules.agent_labels, key=len, reverse=True))
    customers = "|".join(re.escape(n) for n in sorted(rules.customer_labels, key=len, reverse=True))
    agent = re.compile(rf"^\s*(?:{names})\s*:\s?", re.IGNORECASE)
    signature = re.compile(rf"^\s*(?:{markers})", flags)
    before = dataclasses.replace(
        cleaner,
        agent_label=agent,
        customer_label=re.compile(rf"^\s*(?:{customers})\s*:\s?", re.IGNORECASE),
        agent_turn=LineStarts.of(re.compile(agent.pattern, agent.flags | re.MULTILINE)),
        signature_markers=signature,
        any_signature=LineStarts.of(signature),
    )
    pieces = [
        "\n",
        "\n",
        " ",
        "\t",
        "\x0b",
        "\x0c",
        "\u2028",
        "Agent:",
        "Cliente: ",
        "--",
        "__",
        "Sent from my phone",
        "hola",
        "pedido urgente",
        "Saludos",
        "> cita",
    ]
    generator = random.Random(7)
    for _ in range(3_000):
        text = "".join(generator.choices(pieces, k=generator.randint(1, 30)))
        assert cleaner.own_words(text) == before.own_words(text), repr(text)
