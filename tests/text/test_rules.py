"""The rules document: what it accepts, what it refuses, and that it alone drives the
analyser."""

import json

import pytest
from pydantic import ValidationError

from app.text.analyser import TextAnalyser
from app.text.lexicon import Lexicon, fold, spellings
from app.text.rules import DEFAULT_RULES_PATH, default_rules, load_rules

MINIMAL = {
    "version": "test-1",
    "languages": {
        "es": {
            "negators": ["no"],
            "sentiment": {"chachi": 2},
            "urgency": {"deadline": ["para ayer"]},
            "intents": {"delivery": ["paquete*"]},
            "abusive": ["merluzo|merluzos"],
        }
    },
}


def test_the_default_document_is_valid_json_and_round_trips() -> None:
    document = json.loads(DEFAULT_RULES_PATH.read_text(encoding="utf-8"))
    rules = load_rules(document)
    assert rules == default_rules()
    assert set(rules.languages) == {"es", "pt", "en", "fr"}
    assert load_rules(rules.model_dump_json()) == rules


def test_a_document_of_its_own_drives_the_analyser() -> None:
    analyser = TextAnalyser(load_rules(MINIMAL))
    analysis = analyser.analyse("Los paquetes los quiero para ayer. Muy chachi.", "es")
    assert analysis.sentiment.label == "positive"
    assert [found.intent.value for found in analysis.intents] == ["delivery"]
    assert analysis.urgency.reasons[0].term == "para ayer"
    assert analysis.analyser_version.endswith("rules.test-1")
    assert analyser.analyse("Sois unos merluzos.", "es").abusive.terms == ["merluzos"]
    assert analyser.analyse("No es chachi.", "es").sentiment.label == "negative"


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        (("languages", "es", "sentiment"), {"": 1}, "languages.es.sentiment"),
        (("languages", "es", "abusive"), ["..."], "languages.es.abusive.0"),
        (("languages", "es", "abusive"), ["... tonto"], "languages.es.abusive.0"),
        (("languages", "es", "abusive"), ["a|"], "languages.es.abusive.0"),
        (("languages", "es", "sentiment"), {"chachi": 9}, "languages.es.sentiment.chachi"),
        (("languages", "es", "urgency"), {"someday": ["x"]}, "languages.es.urgency.someday"),
        (("languages", "es", "intents"), {"gossip": ["x"]}, "languages.es.intents.gossip"),
        (("email", "reply_headers"), ["(unclosed"], "email.reply_headers.0"),
        # A repeat inside a repeat backtracks exponentially: '^(a+)+$' took 8 s on 27
        # characters, analysed in the event loop (one e-mail stopped the process).
        (("email", "reply_headers"), ["^From:", "^(a+)+$"], "email.reply_headers.1"),
        (("email", "reply_headers"), [r"^(\w+\s?)*:$"], "email.reply_headers.0"),
        (("email", "signature_markers"), ["(?:-+)*x"], "email.signature_markers.0"),
        (("email", "signature_markers"), ["((ab|c{2,})+)+"], "email.signature_markers.0"),
        # Inside an atomic group or either branch of a conditional too.
        (("email", "signature_markers"), ["(?>-+)*x"], "email.signature_markers.0"),
        (("email", "signature_markers"), ["(-)?(?(1)(a+)+|b)"], "email.signature_markers.0"),
        # Alternatives that match the same text, repeated: '^(?:a|a)+$' took 298 s on 33
        # characters, with no repeat inside the repeat.
        (("email", "reply_headers"), ["^(?:a|a)+$"], "email.reply_headers.0"),
        (("email", "signature_markers"), ["(ab|a)*$"], "email.signature_markers.0"),
        # Two repeats in a row that can take the same characters: each split of a run
        # between them is tried, at every position ('a*a*b' took 4 s on 1,000 'a', 40 s
        # on 2,000: the text analysed in the event loop).
        (("email", "reply_headers"), ["a*a*b"], "email.reply_headers.0"),
        (("email", "reply_headers"), [r"^from\s*\s*:"], "email.reply_headers.0"),
        (("email", "signature_markers"), [r"\w+\s*\w+:"], "email.signature_markers.0"),
        (("email", "signature_markers"), [r"(.*)(.*)="], "email.signature_markers.0"),
        (("email", "signature_markers"), [r"(?:x|y)\S{2,}[^-]*$"], "email.signature_markers.0"),
        # A count past what the regex engine holds (it raised OverflowError: a 500).
        (("email", "signature_markers"), ["-{4294967296}"], "email.signature_markers.0"),
        (("languages", "spanish"), {}, "languages.spanish"),
        (("surprise",), 1, "surprise"),
    ],
)
def test_a_wrong_document_is_refused_naming_the_place(
    path: tuple[str, ...], value: object, field: str
) -> None:
    document = json.loads(json.dumps(MINIMAL))
    target = document
    for key in path[:-1]:
        target = target.setdefault(key, {})
    target[path[-1]] = value
    with pytest.raises(ValidationError) as refused:
        load_rules(document)
    places = {".".join(str(part) for part in error["loc"]) for error in refused.value.errors()}
    assert any(place.startswith(field) for place in places), places


def test_a_language_both_supported_and_other_is_refused() -> None:
    with pytest.raises(ValidationError, match="both supported and other"):
        load_rules({**MINIMAL, "detection": {"other_languages": ["es", "de"]}})


def test_a_language_the_model_does_not_know_is_refused() -> None:
    rules = load_rules({**MINIMAL, "detection": {"other_languages": ["xx"]}})
    with pytest.raises(ValueError, match="does not know"):
        TextAnalyser(rules)


def test_term_syntax() -> None:
    assert spellings("tercera|cuarta vez") == [
        (("tercera", False), ("vez", False)),
        (("cuarta", False), ("vez", False)),
    ]
    assert spellings("reembols*") == [(("reembols", True),)]
    assert spellings("aujourd'hui") == [(("aujourd", False), ("hui", False))]
    assert fold("Ñandú ÉTÉ Œuvre") == "nandu ete oeuvre"


def test_a_gap_stays_within_its_clause() -> None:
    lexicon = Lexicon()
    lexicon.add("threat", ["si no ... me voy"])
    words = fold("si no lo arreglan hoy me voy").split()
    assert [m.words for m in lexicon.find(words)] == ["si no lo arreglan hoy me voy"]
    assert lexicon.find(["si", "no", ",", "me", "voy"]) == []
    assert lexicon.find(fold("si no a b c d e me voy").split()) == []


def test_no_urgency_or_abuse_term_is_a_bare_number() -> None:
    """A bare number matched amounts and order numbers as deadlines (a term '48' once came
    from splitting 'en 24|48|72 horas' into phrases)."""
    for language, words in default_rules().languages.items():
        lists = [*words.urgency.values(), words.abusive, *words.intents.values()]
        for terms in lists:
            for term in terms:
                for spelled in spellings(term):
                    assert not (len(spelled) == 1 and spelled[0][0].isdigit()), (language, term)


def test_the_shipped_rules_have_no_repeat_inside_a_repeat() -> None:
    assert default_rules().email.reply_headers  # checked when loaded, as any document


def test_atomic_groups_conditionals_and_alternations_without_a_nested_repeat_are_kept() -> None:
    markers = [
        "(?>--)\\s*$",
        "(-)?(?(1)a+|b)",
        "(?:-|_){2,}",
        "^(de|from)\\s?:",
        "[ \\t]*-{2,}\\s*x",
    ]
    rules = load_rules(
        {**MINIMAL, "email": {**MINIMAL.get("email", {}), "signature_markers": markers}}
    )
    assert list(rules.email.signature_markers) == markers


def test_a_term_written_many_ways_is_refused_before_it_is_compiled() -> None:
    """Each word's alternatives multiply: 'a|b|c|d' ten times over is a million
    spellings, and compiling it held the event loop half a minute (the whole process
    stopped answering, /healthz included); at 200 characters it never ended."""
    term = " ".join(["a|b|c|d"] * 10)
    document = json.loads(json.dumps(MINIMAL))
    document["languages"]["es"]["abusive"] = ["merluzo", term]
    with pytest.raises(ValidationError) as refused:
        load_rules(document)
    places = {".".join(str(part) for part in error["loc"]) for error in refused.value.errors()}
    assert places == {"languages.es.abusive.1"}


def test_a_document_of_too_many_spellings_is_refused() -> None:
    """Terms of a few spellings each, many of them, add up the same way (1 MB of
    'a|b a|b a|b a|b a|b a|b' is 2.6 million entries)."""
    document = json.loads(json.dumps(MINIMAL))
    document["languages"]["es"]["abusive"] = [
        f"w{n}|x{n} a|b a|b a|b a|b a|b" for n in range(2_000)
    ]
    with pytest.raises(ValidationError, match="spellings"):
        load_rules(document)
