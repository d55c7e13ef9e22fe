"""Every webhook adapter is complete (docs/extending.md, "A webhook source").

The other steps of the recipe are pinned where they are tested: its name reserved
(``test_key_namespaces``), its documented payload in and its events out, and a forged
signature refused (``test_sources``, parametrised over every adapter).
"""

import re
from pathlib import Path

import pytest

from app.core.config import Settings
from app.ingest.adapters import ADAPTERS
from app.main import create_app

WEBHOOKS_PAGE = (Path(__file__).parents[2] / "docs" / "webhooks.md").read_text()


@pytest.mark.parametrize("source", sorted(ADAPTERS))
def test_its_secrets_variable_configures_it(source: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """CH_WEBHOOK_<SOURCE>_SECRETS reaches the source: an adapter whose name does not
    survive the trip (an underscore, a capital) would answer 404 whatever is configured."""
    assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", source), "a lower-case URL segment"
    assert ADAPTERS[source].source == source
    monkeypatch.setenv(f"CH_WEBHOOK_{source.upper().replace('-', '_')}_SECRETS", "one, two")
    assert Settings(_env_file=None).webhook_secrets[source] == ["one", "two"]


@pytest.mark.parametrize("source", sorted(ADAPTERS))
def test_its_row_in_the_webhooks_page_names_its_url_and_setting(source: str) -> None:
    variable = f"CH_WEBHOOK_{source.upper().replace('-', '_')}_SECRETS"
    rows = [line for line in WEBHOOKS_PAGE.splitlines() if f"/v1/webhooks/{source}`" in line]
    assert any(f"`{variable}`" in row for row in rows), f"docs/webhooks.md, Sources: {source}"


def test_the_environment_wins_over_dotenv_and_blank_secrets_are_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("CH_WEBHOOK_SHOPIFY_SECRETS=from-file\nCH_WEBHOOK_STRIPE_SECRETS= , \n")
    monkeypatch.setenv("CH_WEBHOOK_SHOPIFY_SECRETS", "from-env,rotated")
    settings = Settings(_env_file=dotenv)
    assert settings.webhook_secrets["shopify"] == ["from-env", "rotated"]
    assert settings.webhook_secrets.get("stripe", []) == []


def test_a_secrets_variable_naming_no_source_stops_the_start() -> None:
    """A mistyped variable (``CH_WEBHOOK_SHOPFY_SECRETS``) would leave the real source
    unconfigured and its deliveries answered 404: the app refuses to start, naming it."""
    settings = Settings(_env_file=None, webhook_secrets={"shopfy": ["s3cret"]})
    with pytest.raises(ValueError, match="CH_WEBHOOK_SHOPFY_SECRETS") as refused:
        create_app(settings)
    assert "s3cret" not in str(refused.value)
    assert "shopify" in str(refused.value)  # the sources there are
