"""For any text at all the analyser answers, and its answer stays within its ranges."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.text.analyser import TextAnalyser
from app.text.rules import default_rules

ANALYSER = TextAnalyser(default_rules())

# Words the rules know, punctuation and markers of e-mails and transcripts, so that the
# generated texts reach negation, intensifiers, gaps, quotes and signatures.
PIECES = st.sampled_from(
    [
        "no",
        "nada",
        "muy",
        "not",
        "very",
        "pas",
        "não",
        "MUITO",
        "!!",
        "?",
        ",",
        ".",
        "\n",
        "satisfecho",
        "urgente",
        "hoy mismo",
        "tercera vez",
        "ladrones",
        "si no",
        "me voy",
        "reembolso",
        "factura",
        "wrote:",
        "> ",
        "-- ",
        "Agente:",
        "Cliente:",
        "Saludos,",
        "🙄",
        "👍",
        "before tomorrow's audit",
        "avant demain",
        "n'est",
        "é",
        "ß",
        "\u0000",
    ]
)
TEXTS = st.one_of(
    st.text(max_size=3000),
    st.lists(st.one_of(PIECES, st.text(max_size=12)), max_size=80).map(" ".join),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=TEXTS, language=st.sampled_from([None, "es", "pt", "en", "fr", "de"]))
def test_any_text_is_analysed_within_range(text: str, language: str | None) -> None:
    analysis = ANALYSER.analyse(text, language)
    assert -1 <= analysis.sentiment.score <= 1
    assert 0 <= analysis.language_confidence <= 1
    label = analysis.sentiment.label
    settings_ = ANALYSER.rules.sentiment
    if analysis.sentiment.score >= settings_.positive_from:
        assert label == "positive"
    elif analysis.sentiment.score <= settings_.negative_to:
        assert label == "negative"
    else:
        assert label == "neutral"
    assert (analysis.urgency.level == "high") == bool(analysis.urgency.reasons)
    assert analysis.abusive.detected == bool(analysis.abusive.terms)
    assert len({found.intent for found in analysis.intents}) == len(analysis.intents)
    if not analysis.supported:
        assert analysis.language not in ANALYSER.rules.languages
        assert analysis.intents == [] and not analysis.abusive.detected
    assert analysis.analyser_version == ANALYSER.version
