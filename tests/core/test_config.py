"""Every setting is documented where a newcomer looks for it: docs/configuration.md."""

from pathlib import Path

from pydantic import AliasChoices

from app.core.config import Settings

DOCUMENTED = (Path(__file__).parents[2] / "docs" / "configuration.md").read_text()


def _variable(name: str) -> str:
    field = Settings.model_fields[name]
    if isinstance(field.validation_alias, AliasChoices):
        return str(field.validation_alias.choices[0])
    if name == "webhook_secrets":  # one variable per source (WebhookSecretsSource)
        return "CH_WEBHOOK_<SOURCE>_SECRETS"
    return f"CH_{name.upper()}"


def test_every_setting_has_its_row_in_the_configuration_page() -> None:
    missing = [
        _variable(n) for n in Settings.model_fields if f"| `{_variable(n)}` |" not in DOCUMENTED
    ]
    assert not missing, f"document them in docs/configuration.md: {missing}"
