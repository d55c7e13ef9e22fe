"""The derived indicators' TypedDicts (what mypy checks in every reader) and the answer's
models (what the API promises) name the same keys, section by section."""

import pytest
from pydantic import BaseModel

from app.indicators import schemas, shapes


@pytest.mark.parametrize(
    ("typed", "model"),
    [
        (shapes.Derived, schemas.IndicatorsOut),
        (shapes.DerivedValue, schemas.ValueIndicators),
        (shapes.DerivedService, schemas.ServiceIndicators),
        (shapes.DerivedSatisfaction, schemas.SatisfactionIndicators),
        (shapes.DerivedContact, schemas.ContactIndicators),
        (shapes.LastInteraction, schemas.LastInteraction),
        (shapes.DerivedRisk, schemas.RiskIndicators),
        (shapes.FlagEntry, schemas.Flag),
        (shapes.DerivedText, schemas.TextIndicators),
        (shapes.MessageFinding, schemas.MessageFinding),
        (shapes.UrgentMessage, schemas.UrgentMessage),
        (shapes.AngryMessage, schemas.AngryMessage),
        (shapes.ChurnSignal, schemas.ChurnSignal),
        (shapes.ChurnCause, schemas.ChurnCause),
    ],
)
def test_each_typed_section_has_the_keys_of_its_answer(typed: type, model: type[BaseModel]) -> None:
    answered = set(model.model_fields)
    if model is schemas.IndicatorsOut:
        answered -= {"customer_id", "as_of", "flags"}  # the answer's, not derived
    assert set(typed.__annotations__) == answered
