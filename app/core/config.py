"""Service settings: one pydantic-settings object, every knob with a safe default."""

import re
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import Depends, Request
from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from app.core.cors import parse_origins

_SECRETS_VARIABLE = re.compile(r"ch_webhook_([a-z0-9_]+)_secrets")


def _split(raw: str) -> list[str]:
    return [part.strip() for part in raw.split(",") if part.strip()]


class WebhookSecretsSource(PydanticBaseSettingsSource):
    """Every ``CH_WEBHOOK_<SOURCE>_SECRETS`` variable, as one mapping of sources to secrets:
    any source an adapter names is configured the same way, with no field of its own to
    forget. ``<SOURCE>`` is the source's name upper-cased, ``-`` written ``_``
    (``CH_WEBHOOK_SENDGRID_INBOUND_SECRETS`` configures ``sendgrid-inbound``)."""

    def __init__(self, settings_cls: type[BaseSettings], *readers: EnvSettingsSource) -> None:
        super().__init__(settings_cls)
        self._readers = readers  # the last one wins: the environment over .env

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # the whole mapping is made in __call__

    def __call__(self) -> dict[str, Any]:
        found: dict[str, str] = {}
        for reader in self._readers:
            for name, value in reader.env_vars.items():
                matched = _SECRETS_VARIABLE.fullmatch(name.lower())
                if matched and value is not None:
                    found[matched[1].replace("_", "-")] = value
        return {"webhook_secrets": found} if found else {}


class Settings(BaseSettings):
    """Configuration read from the environment (prefix ``CH_``) and an optional ``.env`` file."""

    model_config = SettingsConfigDict(env_prefix="CH_", env_file=".env", extra="ignore")

    database_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("DATABASE_URL", "CH_DATABASE_URL"),
        description="PostgreSQL URL of the owner of the tables (migrations run as it); unset "
        "starts an embedded PostgreSQL in data_dir.",
    )
    service_database_url: str | None = Field(
        default=None,
        description="PostgreSQL URL the service connects with: a login that is a member of "
        "ch_service, neither superuser nor owner. Unset: the embedded server's ch_app, or "
        "with DATABASE_URL given, DATABASE_URL itself (the owner: the guard then holds only "
        "against mistakes).",
    )
    data_dir: Path = Field(default=Path(".data"), description="Embedded PostgreSQL data.")
    db_pool_size: int = Field(
        default=20,
        ge=1,
        description="Connections a process opens as requests need them and keeps open.",
    )
    db_max_overflow: int = Field(
        default=0,
        ge=0,
        description="Connections past the pool's, each closed as soon as it is given back.",
    )
    db_pool_timeout: float = Field(
        default=30.0,
        gt=0,
        description="Seconds a request waits for a connection when all are in use; then 503.",
    )
    body_idle_timeout_seconds: float = Field(
        default=15.0,
        gt=0,
        description="Seconds a request body may stop arriving before the request is a 408.",
    )
    body_min_bytes_per_second: int = Field(
        default=1024,
        gt=0,
        description="Past its first idle allowance, the slowest average a body may arrive at.",
    )
    max_body_bytes: int = Field(default=1_048_576, ge=1024, description="Largest request body.")
    max_bulk_body_bytes: int = Field(
        default=16 * 1_048_576, ge=1024, description="Largest NDJSON bulk import body."
    )
    max_header_bytes: int = Field(
        default=32_768,
        ge=4096,
        description="Largest request line plus headers; larger ones get 431 from the server.",
    )
    max_headers: int = Field(
        default=100, ge=10, description="Most request headers; more get 431 from the server."
    )
    sse_ping_seconds: int = Field(default=15, ge=1, description="Heartbeat on live streams.")
    max_streams_per_key: int = Field(
        default=50,
        ge=1,
        description="Live timeline streams one API key may hold open at once in a process; "
        "past it a new one is 429.",
    )
    session_token_seconds: int = Field(
        default=900,
        ge=60,
        le=86_400,
        description="How long a session token minted for a browser works (60 s to a day).",
    )
    cors_origins: str = Field(
        default="",
        description="Origins (scheme://host[:port]) whose pages may call the API from a "
        "browser, comma-separated; empty: none (no CORS headers, preflights 405).",
    )
    maintenance_seconds: int = Field(
        default=300, ge=0, description="Between the service's maintenance passes; 0: none."
    )
    outbound_poll_seconds: float = Field(
        default=1.0,
        ge=0,
        description="Between the outbound sender's looks for deliveries due; 0: this process "
        "never sends.",
    )
    outbound_timeout_seconds: float = Field(
        default=10.0, gt=0, le=60, description="How long a receiver may take to answer."
    )
    outbound_private_networks: bool = Field(
        default=False,
        description="Let webhook subscriptions reach this machine and private, link-local "
        "or otherwise internal addresses (a receiver on 127.0.0.1, as in tests); off: such "
        "URLs are refused and a name resolving to one is never connected to.",
    )
    outbound_concurrency: int = Field(
        default=16, ge=1, le=256, description="Deliveries in flight at once."
    )
    outbound_disable_after_hours: int = Field(
        default=120,
        ge=1,
        description="A subscription that has failed every attempt for this long is disabled.",
    )
    log_level: str = Field(default="INFO", description="Python logging level name.")
    default_region: str = Field(
        default="ES", description="ISO 3166 region for phone numbers in national format."
    )
    base_currency: str = Field(default="EUR", description="Currency of lifetime value totals.")
    currency_rates: str = Field(
        default="",
        description="Units of the base currency per unit of another, e.g. 'USD=0.92,GBP=1.17'; "
        "amounts in currencies without a rate are kept apart, never mixed in.",
    )
    segment_champion_value: int = Field(
        default=1000, ge=0, description="Base-currency value of a champion."
    )
    segment_loyal_orders: int = Field(
        default=5, ge=1, description="Orders that make a loyal customer."
    )
    segment_at_risk_days: int = Field(
        default=180, ge=1, description="Days without purchase: at risk."
    )
    segment_new_days: int = Field(default=30, ge=1, description="Days a first-time buyer is new.")
    public_base_url: str | None = Field(
        default=None,
        description="The service's public URL (e.g. https://history.example.com) when behind a "
        "proxy: Twilio signs the URL it called.",
    )
    trusted_proxies: str = Field(
        default="",
        description="Addresses or networks of the proxies whose X-Forwarded-Proto/-For the "
        "server believes (uvicorn's forwarded_allow_ips); empty: none.",
    )
    message_seconds: int = Field(
        default=5,
        ge=0,
        description="Between passes of the message sender, made by one process of the "
        "deployment; 0: this process never sends.",
    )
    message_hours: str = Field(
        default="09:00-21:00",
        pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]-([01][0-9]|2[0-4]):[0-5][0-9]$",
        description="When a customer who set no contact hours may be messaged, every day, "
        "on their clock (HH:MM-HH:MM).",
    )
    message_timezone: str = Field(
        default="UTC",
        description="IANA time zone of a customer who set none, for contact hours.",
    )
    twilio_base_url: str = Field(
        default="https://api.twilio.com", description="Twilio's REST API (SMS, WhatsApp)."
    )
    twilio_account_sid: str = Field(default="", description="Twilio Account SID; empty: no SMS.")
    twilio_auth_token: SecretStr = Field(
        default=SecretStr(""), description="Twilio Auth Token (basic auth with the SID)."
    )
    twilio_sms_from: str = Field(
        default="", description="The Twilio number (E.164) SMS are sent from."
    )
    twilio_messaging_service_sid: str = Field(
        default="",
        description="A Twilio Messaging Service SID to send SMS through instead of a number.",
    )
    twilio_whatsapp_from: str = Field(
        default="", description="The WhatsApp sender (E.164); empty: no WhatsApp."
    )
    sendgrid_base_url: str = Field(
        default="https://api.sendgrid.com", description="SendGrid's v3 API (e-mail)."
    )
    sendgrid_api_key: SecretStr = Field(
        default=SecretStr(""), description="SendGrid API key with Mail Send; empty: no SendGrid."
    )
    smtp_host: str = Field(
        default="", description="SMTP server for e-mail when SendGrid is not configured."
    )
    smtp_port: int = Field(default=587, ge=1, le=65535, description="SMTP port.")
    smtp_username: str = Field(default="", description="SMTP login; empty: none.")
    smtp_password: SecretStr = Field(default=SecretStr(""), description="SMTP password.")
    smtp_security: Literal["starttls", "tls", "none"] = Field(
        default="starttls",
        description="starttls (upgrade on the port), tls (implicit TLS, port 465) or none.",
    )
    email_from: str = Field(
        default="", description="The address e-mail to customers comes from; empty: no e-mail."
    )
    email_from_name: str = Field(default="", description="The name shown with email_from.")
    webhook_secrets: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Secrets of each webhook source, read from CH_WEBHOOK_<SOURCE>_SECRETS "
        "(comma-separated, several during a rotation); a source without secrets is disabled "
        "and answers 404.",
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        assert isinstance(env_settings, EnvSettingsSource)
        assert isinstance(dotenv_settings, EnvSettingsSource)
        secrets = WebhookSecretsSource(settings_cls, dotenv_settings, env_settings)
        return init_settings, secrets, env_settings, dotenv_settings, file_secret_settings

    @field_validator("webhook_secrets", mode="before")
    @classmethod
    def _split_secrets(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value  # pydantic names what is wrong with it
        return {
            source: _split(raw) if isinstance(raw, str) else raw for source, raw in value.items()
        }

    @field_validator("message_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"'{value}' is not an IANA time zone") from exc
        return value

    @field_validator("cors_origins")
    @classmethod
    def _exact_origins(cls, value: str) -> str:
        parse_origins(value)  # a start with a mistyped origin fails, naming it
        return value

    def cors_origin_list(self) -> list[str]:
        """The allowed origins, as browsers spell them in ``Origin``."""
        return parse_origins(self.cors_origins)

    def service_url(self) -> str:
        """The URL the service's own connections use (its role, not the owner's)."""
        url = self.service_database_url or self.database_url
        assert url, "the database URL is resolved before the service connects"
        return url

    def rates(self) -> dict[str, Decimal]:
        """The currency rate table (units of base_currency per unit)."""
        table: dict[str, Decimal] = {}
        for pair in self.currency_rates.split(","):
            if "=" in pair:
                code, _, rate = pair.partition("=")
                table[code.strip().upper()] = Decimal(rate.strip())
        return table


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()


async def app_settings(request: Request) -> Settings:
    """The settings the application was built with (a coroutine: FastAPI runs a plain
    function dependency in a worker thread, which slowed the screen-pop measurably:
    docs/performance.md, "Measurements behind the code")."""
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(app_settings)]
