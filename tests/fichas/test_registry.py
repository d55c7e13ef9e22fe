"""Every ficha section and every job role is complete (docs/extending.md, "A ficha section"
and "A job role"). A ficha of every section in every language is built in
``test_fichas.test_a_template_of_every_section_builds_in_every_language``; the database's
copy of each default template is held equal to the code's in ``test_templates_admin``."""

import pytest

from app.core.security import JOB_ROLES
from app.fichas.schemas import Ficha
from app.fichas.service import BUILDERS, EVENT_SECTIONS
from app.fichas.templates import (
    DEFAULT_TEMPLATES,
    LABELS,
    LANGUAGES,
    SECTIONS,
    text,
    validate_sections,
)
from app.indicators.rules import DEFAULT_RULES
from app.indicators.state import CHURN_REASONS
from app.timeline.catalog import CATALOG


def test_every_section_has_a_builder() -> None:
    assert set(BUILDERS) == set(SECTIONS)


def test_every_section_has_its_typed_model() -> None:
    """The spec types each section a template may name, by its key in `sections`."""
    sections = Ficha.model_json_schema()["$defs"]["FichaSections"]["properties"]
    assert set(sections) == set(SECTIONS)


def test_the_sections_that_show_events_are_sections() -> None:
    assert set(EVENT_SECTIONS) <= set(SECTIONS)


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_section_has_a_label_in_every_language(language: str) -> None:
    assert set(LABELS) == set(LANGUAGES)
    assert set(SECTIONS) <= set(LABELS[language])


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_text_a_ficha_writes_is_in_every_language(language: str) -> None:
    """Each event type's summary, each flag's label, each rule's alert title and each
    action's name: what the ficha writes itself (docs/extending.md, "A ficha section")."""
    assert set(LABELS[language]) == set(LABELS["en"])
    keys = set(LABELS[language])
    assert {f"event.{t}" for t in CATALOG} <= keys
    assert {f"alert.{rule}" for rule in DEFAULT_RULES} <= keys
    # The codes the rules set (app/indicators/rules.py); an incident's is incident:<id>.
    flags = {"at_risk", "abandoned_calls", "recurring_problem", "open_dispute", "incident"}
    assert {f"flag.{code}" for code in flags | {"urgent_message", "angry_customer"}} <= keys
    assert {f"action.{kind}" for kind in ("call", "email", "sms", "whatsapp")} <= keys


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_churn_reason_is_written_in_every_language(language: str) -> None:
    """The indicators say why a churn risk is what it is in English (``CHURN_REASONS``);
    a ficha says it in its language, from the same cause and values."""
    values = {"count": 3, "date": "2026-11-02", "days": 90, "usually": 30}
    for cause, english in CHURN_REASONS.items():
        assert text("en", f"churn.{cause}", **values) == english.format(**values)
        written = text(language, f"churn.{cause}", **values)
        assert written and (language == "en" or written != english.format(**values)), cause
        for value in ("3", "2026-11-02", "90", "30"):
            assert (value in written) == (value in english.format(**values)), (cause, value)


def test_every_job_role_has_a_valid_default_template() -> None:
    assert set(DEFAULT_TEMPLATES) == {role.value for role in JOB_ROLES}
    for sections in DEFAULT_TEMPLATES.values():
        validate_sections(sections)  # a TemplateError names what is wrong
