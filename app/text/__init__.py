"""Text analysis: what customers write, read for language, sentiment, urgency, intents and
abuse by rules kept as data (``default_rules.json``, validated by ``rules.TextRules``)."""
