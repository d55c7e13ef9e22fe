"""What the analysis of one text answers, and what the endpoint accepts."""

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from app.text.rules import Intent, LanguageCode, UrgencyReason

MAX_TEXT_CHARS = 20_000

SentimentLabel = Literal["negative", "neutral", "positive"]
UrgencyLevel = Literal["low", "normal", "high"]


class Sentiment(BaseModel):
    label: SentimentLabel
    score: float = Field(ge=-1, le=1, description="-1 most negative, 1 most positive.")
    terms: list[str] = Field(description="The weighted words found (folded), in text order.")


class UrgencyFinding(BaseModel):
    reason: UrgencyReason
    term: str = Field(description="The words of the text that matched a term (folded).")


class Urgency(BaseModel):
    level: UrgencyLevel
    reasons: list[UrgencyFinding]


class IntentFinding(BaseModel):
    intent: Intent
    terms: list[str]


class Abuse(BaseModel):
    detected: bool = Field(description="Insults or harassment aimed at the company or an agent.")
    terms: list[str]


class TextAnalysis(BaseModel):
    """Language, sentiment, urgency, intents and abuse of one inbound text."""

    language: str | None = Field(
        description="ISO 639-1; null when the text has nothing to tell (`ok`, an emoji)."
    )
    language_confidence: float = Field(ge=0, le=1)
    supported: bool = Field(
        description="False for a language the rules do not cover: nothing else is analysed."
    )
    sentiment: Sentiment
    urgency: Urgency
    intents: list[IntentFinding]
    abusive: Abuse
    analyser_version: str = Field(description="Analyser code and rules document versions.")


class AnalyzeIn(BaseModel):
    text: Annotated[str, Field(max_length=MAX_TEXT_CHARS)] = Field(
        description="Any inbound text: an e-mail (quoted replies and signatures are "
        "ignored), a chat or SMS message, a mention, a survey comment, call notes."
    )
    language: LanguageCode | None = Field(
        default=None, description="The text's language when known; detected otherwise."
    )

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "text": "Es la tercera vez que llamo y sigo sin internet. "
                    "Necesito que venga un técnico hoy mismo.",
                }
            ]
        }
    }
