"""HTTP routes: analyse one text on demand; the rules an admin tunes."""

from typing import Any

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from app.auth.dependencies import Admin, Writer
from app.core.bounded_json import BoundedJsonRoute
from app.core.db import DriverDep, SessionDep
from app.core.errors import Forbidden, Unauthorized, ValidationFailed, problem_responses
from app.text import service
from app.text.rules import TextRules
from app.text.schemas import AnalyzeIn, TextAnalysis
from app.text.service import TextRulesDep

router = APIRouter(prefix="/v1", tags=["text"], route_class=BoundedJsonRoute)


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
        "analyser_version": "2+rules.2026-11-29",
    }
).model_dump(mode="json")

# A whole document is some 40 KB (app/text/default_rules.json); an example shows its shape.
_RULES_EXAMPLE: dict[str, Any] = TextRules.model_validate(
    {
        "version": "2026-12-01",
        "emoji": {"😡": -2},
        "intent_valence": {"complaint": -1.0, "praise": 1.0},
        "sentiment_intents": {"negative": "complaint", "positive": "praise"},
        "urgent_intents": {"legal_threat": "legal_threat"},
        "languages": {
            "es": {
                "negators": ["no", "nunca"],
                "intensifiers": ["muy"],
                "contrasts": ["pero"],
                "sentiment": {"excelente": 2, "inaceptable": -2},
                "urgency": {"urgent_word": ["urgente"], "deadline": ["hoy mismo"]},
                "calm": ["no es urgente"],
                "intents": {"delivery": ["pedido", "envío|envio"]},
                "abusive": ["ladrón|ladrones"],
            }
        },
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
async def analyze_text(
    body: AnalyzeIn, principal: Writer, connection: DriverDep, rules: TextRulesDep
) -> TextAnalysis:
    """Reads the text as a supervisor would, with the rules the service analyses stored
    texts with (`GET /v1/text-rules`): quoted replies, signatures and an agent's turns in a
    transcript are left out; the language is detected unless given (Spanish, Portuguese,
    English and French are analysed; another language is answered with `supported:
    false`). Up to 20,000 characters; nothing is stored."""
    analyser = await rules.analyser(connection)
    # In the thread pool, so that a long text (some milliseconds: docs/performance.md)
    # does not hold up the event loop.
    return await run_in_threadpool(analyser.analyse, body.text, body.language)


@router.get(
    "/text-rules",
    operation_id="get_text_rules",
    summary="The rules stored texts are analysed with",
    responses={
        200: {"content": {"application/json": {"example": _RULES_EXAMPLE}}},
        **problem_responses(Unauthorized, Forbidden),
    },
)
async def get_text_rules(session: SessionDep, principal: Admin) -> TextRules:
    """The whole document: per language, the terms and weights of sentiment, urgency,
    intents and abuse; what is cut from e-mails and transcripts; how scores are made
    (docs/text-analysis.md)."""
    return await service.stored_rules(session)


@router.put(
    "/text-rules",
    operation_id="put_text_rules",
    summary="Replace the rules texts are analysed with (used by the next text)",
    responses={
        200: {"content": {"application/json": {"example": _RULES_EXAMPLE}}},
        **problem_responses(Unauthorized, Forbidden, ValidationFailed),
    },
)
async def put_text_rules(body: TextRules, session: SessionDep, principal: Admin) -> TextRules:
    """A wrong term, regex or weight, or an unknown key, is a 422 naming its place. A
    document that changes the rules must carry a new `version` (422 on `body.version`
    otherwise): each stored analysis records the version it was made with, and
    `customer-history text reanalyze` analyses again those of another version. Every
    process drops its compiled rules when the change commits."""
    return await service.put_rules(session, body)
