"""HTTP route: analyse one text on demand."""

from functools import lru_cache

from fastapi import APIRouter

from app.auth.dependencies import Writer
from app.core.bounded_json import BoundedJsonRoute
from app.core.errors import Forbidden, Unauthorized, ValidationFailed, problem_responses
from app.text.analyser import TextAnalyser
from app.text.rules import default_rules
from app.text.schemas import AnalyzeIn, TextAnalysis

router = APIRouter(prefix="/v1", tags=["text"], route_class=BoundedJsonRoute)


@lru_cache(maxsize=1)
def default_analyser() -> TextAnalyser:
    """The analyser of the rules that ship with the code, built once per process."""
    return TextAnalyser(default_rules())


_EXAMPLE = TextAnalysis.model_validate(
    {
        "language": "es",
        "language_confidence": 0.985,
        "supported": True,
        "sentiment": {"label": "negative", "score": -0.62, "terms": ["sin internet"]},
        "urgency": {
            "level": "high",
            "reasons": [
                {"reason": "repeated_contact", "term": "tercera vez"},
                {"reason": "deadline", "term": "hoy mismo"},
            ],
        },
        "intents": [
            {"intent": "technical", "terms": ["sin internet"]},
            {"intent": "complaint", "terms": ["sin internet"]},
        ],
        "abusive": {"detected": False, "terms": []},
        "analyser_version": "1+rules.2026-11-29",
    }
).model_dump(mode="json")


@router.post(
    "/text/analyze",
    operation_id="analyze_text",
    summary="Language, sentiment, urgency, intents and abuse of one text",
    responses={
        200: {"content": {"application/json": {"example": _EXAMPLE}}},
        **problem_responses(Unauthorized, Forbidden, ValidationFailed),
    },
)
def analyze_text(body: AnalyzeIn, principal: Writer) -> TextAnalysis:
    """Reads the text as a supervisor would: quoted replies, signatures and an agent's turns
    in a transcript are left out; the language is detected unless given (Spanish,
    Portuguese, English and French are analysed; another language is answered with
    `supported: false`). Up to 20,000 characters; nothing is stored."""
    # A plain function: FastAPI runs it in its thread pool, so that a long text (some
    # milliseconds: docs/performance.md) does not hold up the event loop.
    return default_analyser().analyse(body.text, body.language)
