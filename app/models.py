"""Every domain's tables, imported in one place for Alembic and the tests."""


def load_all_models() -> None:
    """Import each domain's models module so its tables join Base.metadata."""
    import app.alerts.models
    import app.auth.models
    import app.customers.models
    import app.fichas.models
    import app.incidents.models
    import app.indicators.models
    import app.ingest.models
    import app.messages.models
    import app.outbound.models
    import app.outbox.models
    import app.tasks.models
    import app.text.models
    import app.timeline.models  # noqa: F401
