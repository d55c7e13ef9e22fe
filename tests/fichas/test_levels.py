"""The visual level of each indicator a ficha shows (app/fichas/levels.py)."""

import pytest

from app.fichas import levels
from app.fichas.schemas import ChurnAtAGlance, SatisfactionAtAGlance, ValueAtAGlance
from app.indicators.shapes import ValueSegment


@pytest.mark.parametrize(
    ("csat", "nps", "level"),
    [
        (None, None, None),
        (2, None, "unhappy"),
        (3, None, "neutral"),
        (5, None, "happy"),
        (None, 6, "unhappy"),
        (None, 8, "neutral"),
        (None, 9, "happy"),
        (5, 3, "unhappy"),
        (4, 7, "neutral"),
    ],
)
def test_satisfaction_is_the_worse_of_the_latest_ratings(
    csat: int | None, nps: int | None, level: str | None
) -> None:
    assert levels.satisfaction(csat, nps) == level


def test_every_value_segment_has_a_level_and_an_unknown_one_reads_low() -> None:
    assert {levels.value(s.value) for s in ValueSegment} <= set(levels.LEVELS["value"])
    assert levels.value(ValueSegment.CHAMPION) == "high"
    assert levels.value(ValueSegment.NONE) == "none"
    assert levels.value("platinum") == "low"


@pytest.mark.parametrize(
    ("indicator", "model"),
    [("satisfaction", SatisfactionAtAGlance), ("value", ValueAtAGlance), ("churn", ChurnAtAGlance)],
)
def test_each_level_has_its_icon_in_the_spec(indicator: str, model: type) -> None:
    schema = model.model_json_schema()["properties"]
    assert schema["level"]["enum"] == list(levels.LEVELS[indicator])
    assert schema["icon"]["enum"] == [
        levels.badge(indicator, lv)["icon"] for lv in levels.LEVELS[indicator]
    ]
