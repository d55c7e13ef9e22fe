"""Each behaviour of the analyser on texts written for it, one language or more each."""

import pytest

from app.text.analyser import TextAnalyser
from app.text.rules import UrgencyReason


def score(analyser: TextAnalyser, text: str) -> float:
    return analyser.analyse(text).sentiment.score


def reasons(analyser: TextAnalyser, text: str) -> set[UrgencyReason]:
    return {found.reason for found in analyser.analyse(text).urgency.reasons}


@pytest.mark.parametrize(
    ("plain", "negated"),
    [
        ("Estoy satisfecho con el servicio.", "No estoy nada satisfecho con el servicio."),
        ("Estou satisfeita com o atendimento.", "Não estou satisfeita com o atendimento."),
        ("I am happy with the service.", "I am not happy with the service."),
        ("Je suis content du service.", "Je ne suis pas content du service."),
    ],
)
def test_negation_turns_a_positive_word_negative(
    analyser: TextAnalyser, plain: str, negated: str
) -> None:
    assert analyser.analyse(plain).sentiment.label == "positive"
    assert analyser.analyse(negated).sentiment.label == "negative"


def test_negation_stops_at_the_end_of_its_clause(analyser: TextAnalyser) -> None:
    assert analyser.analyse("No, gracias. Estoy muy contento con todo.").sentiment.label == (
        "positive"
    )


def test_a_fixed_phrase_is_not_negated_word_by_word(analyser: TextAnalyser) -> None:
    for text in ("Todo bien, sin problemas.", "All good, no problems.", "Aucun problème, merci."):
        assert analyser.analyse(text).sentiment.label == "positive", text


@pytest.mark.parametrize(
    ("plain", "intensified"),
    [
        ("El servicio es malo.", "El servicio es muy malo."),
        ("Fiquei contente.", "Fiquei muito contente."),
        ("The service was bad.", "The service was very bad."),
        ("Je suis déçu.", "Je suis très déçu."),
        ("The service was bad.", "The service was BAD."),
        ("El servicio es malo.", "El servicio es malo!!!"),
    ],
)
def test_intensifiers_capitals_and_exclamations_strengthen(
    analyser: TextAnalyser, plain: str, intensified: str
) -> None:
    assert abs(score(analyser, intensified)) > abs(score(analyser, plain)) > 0


@pytest.mark.parametrize(
    "text",
    [
        "Necesito la documentación hoy mismo, por favor.",
        "Could someone look at our account before tomorrow's audit?",
        "Merci de me répondre avant demain.",
        "Preciso da resposta até sexta-feira.",
    ],
)
def test_a_deadline_is_urgent(analyser: TextAnalyser, text: str) -> None:
    analysis = analyser.analyse(text)
    assert analysis.urgency.level == "high"
    assert UrgencyReason.DEADLINE in {found.reason for found in analysis.urgency.reasons}


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("Es la tercera vez que llamo por lo mismo.", UrgencyReason.REPEATED_CONTACT),
        ("I have called five times about this.", UrgencyReason.REPEATED_CONTACT),
        ("Estamos sin internet en toda la oficina.", UrgencyReason.SERVICE_DOWN),
        ("Le site est en panne depuis ce matin.", UrgencyReason.SERVICE_DOWN),
        ("Mi madre tiene 88 años y vive sola.", UrgencyReason.VULNERABLE_PERSON),
        ("My dad is on oxygen at home.", UrgencyReason.VULNERABLE_PERSON),
        ("Se não resolverem vou cancelar tudo.", UrgencyReason.THREAT_TO_LEAVE),
        ("Si no me lo arreglan me voy a la competencia.", UrgencyReason.THREAT_TO_LEAVE),
        ("Je vais saisir mon avocat.", UrgencyReason.LEGAL_THREAT),
        ("Esto es urgente.", UrgencyReason.URGENT_WORD),
    ],
)
def test_each_urgency_reason_is_named(
    analyser: TextAnalyser, text: str, reason: UrgencyReason
) -> None:
    assert reason in reasons(analyser, text)
    assert analyser.analyse(text).urgency.level == "high"


def test_saying_it_is_not_urgent_calms_the_urgent_word(analyser: TextAnalyser) -> None:
    assert analyser.analyse("No es urgente, pero quería saber el horario.").urgency.level != "high"
    assert analyser.analyse("It's not urgent, just a question.").urgency.level != "high"


def test_thanks_without_a_request_is_low_urgency(analyser: TextAnalyser) -> None:
    assert analyser.analyse("¡Muchas gracias, todo perfecto!").urgency.level == "low"
    assert analyser.analyse("Hola, ¿hacéis envíos a Canarias?").urgency.level == "normal"


def test_intents_carry_the_words_that_found_them(analyser: TextAnalyser) -> None:
    analysis = analyser.analyse("Quiero el reembolso de la factura que me cobrasteis dos veces.")
    intents = {found.intent.value: found.terms for found in analysis.intents}
    assert "reembolso" in intents["refund"]
    assert "factura" in intents["billing"]


def test_words_match_without_accents_or_case(analyser: TextAnalyser) -> None:
    written = analyser.analyse("QUIERO LA DEVOLUCION, ES URGENTE")
    assert {found.intent.value for found in written.intents} >= {"refund"}
    assert written.urgency.level == "high"


def test_a_question_without_a_complaint_is_a_request_for_information(
    analyser: TextAnalyser,
) -> None:
    asked = analyser.analyse("Bonjour, est-ce qu'on peut payer en plusieurs fois ?")
    assert [found.intent.value for found in asked.intents] == ["information"]
    complained = analyser.analyse("Le colis est arrivé cassé, c'est inadmissible ! Que faire ?")
    assert "information" not in {found.intent.value for found in complained.intents}
    assert "complaint" in {found.intent.value for found in complained.intents}


@pytest.mark.parametrize(
    ("text", "term"),
    [
        ("Sois unos ladrones.", "ladrones"),
        ("Vocês são uns incompetentes.", "incompetentes"),
        ("You're useless, put me through to someone else.", "useless"),
        ("Bande d'escrocs, rendez-moi mon argent.", "escrocs"),
    ],
)
def test_insults_aimed_at_the_company_are_abusive(
    analyser: TextAnalyser, text: str, term: str
) -> None:
    abusive = analyser.analyse(text).abusive
    assert abusive.detected
    assert any(term in found for found in abusive.terms)


def test_a_complaint_is_not_abuse(analyser: TextAnalyser) -> None:
    for text in (
        "Me siento engañado con esta factura.",
        "This is a scam and I want my money back.",
        "Je suis très mécontent du service.",
    ):
        assert not analyser.analyse(text).abusive.detected, text


def test_another_language_is_detected_and_left_unanalysed(analyser: TextAnalyser) -> None:
    analysis = analyser.analyse(
        "Guten Tag, meine Bestellung ist noch nicht angekommen. Das ist dringend!"
    )
    assert analysis.language == "de"
    assert analysis.supported is False
    assert analysis.urgency.level == "normal" and analysis.intents == []


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Hola, quería saber el estado de mi pedido.", "es"),
        ("Olá, gostaria de saber o estado da minha encomenda.", "pt"),
        ("Hi, I would like to know the status of my order.", "en"),
        ("Bonjour, je voudrais connaître l'état de ma commande.", "fr"),
    ],
)
def test_supported_languages_are_recognised(
    analyser: TextAnalyser, text: str, language: str
) -> None:
    analysis = analyser.analyse(text)
    assert analysis.language == language
    assert analysis.supported
    assert 0.5 < analysis.language_confidence <= 1


def test_a_text_with_nothing_to_tell_has_no_language_but_is_analysed(
    analyser: TextAnalyser,
) -> None:
    analysis = analyser.analyse("👍")
    assert analysis.language is None and analysis.supported
    assert analysis.sentiment.label == "positive"


def test_a_given_language_is_trusted(analyser: TextAnalyser) -> None:
    analysis = analyser.analyse("ok", language="pt")
    assert (analysis.language, analysis.language_confidence) == ("pt", 1.0)
    assert analyser.analyse("Bonjour", language="de").supported is False


def test_an_earlier_message_quoted_below_is_not_read(analyser: TextAnalyser) -> None:
    text = (
        "Gracias, ya está todo solucionado.\n\n"
        "El lun, 3 nov 2026 a las 10:15, Juan Pérez <juan@example.com> escribió:\n"
        "> Sois unos ladrones, es la tercera vez que llamo. URGENTE.\n"
    )
    analysis = analyser.analyse(text)
    assert analysis.sentiment.label == "positive"
    assert not analysis.abusive.detected
    assert analysis.urgency.level == "low"


def test_a_signature_and_its_sign_off_are_not_read(analyser: TextAnalyser) -> None:
    text = (
        "Could you send me a copy of the October invoice?\n\n"
        "Many thanks,\nJane Doe\nHead of Customer Happiness\nGreat Products Ltd\n"
        "--\nThis e-mail is confidential. Excellent service since 1990!"
    )
    analysis = analyser.analyse(text)
    assert analysis.sentiment.label == "neutral"
    assert "praise" not in {found.intent.value for found in analysis.intents}


def test_an_agents_turns_in_a_transcript_are_not_read(analyser: TextAnalyser) -> None:
    text = (
        "Agente: Lamento mucho las molestias, es un problema terrible.\n"
        "Cliente: Vale, muchas gracias, perfecto.\n"
    )
    assert analyser.analyse(text).sentiment.label == "positive"


def test_the_version_names_the_rules(analyser: TextAnalyser) -> None:
    assert analyser.analyse("hola").analyser_version == analyser.version
    assert analyser.version.endswith(f"rules.{analyser.rules.version}")


def test_the_language_model_keeps_only_the_languages_it_chooses_among(
    analyser: TextAnalyser,
) -> None:
    # Every worker holds the model: the scores of languages it never answers would be
    # 27 MiB of each worker's memory (docs/performance.md, "Memory").
    identifier = analyser._detector._identifier
    kept = [matrix.shape[-1] for matrix in identifier._full_model[:2]]
    assert kept == [len(identifier.nb_classes)] * 2
    assert analyser.analyse("Quiero cancelar mi pedido, por favor.").language == "es"
