"""Each provider sends the request its platform documents, to a real local server."""

import uuid
from dataclasses import replace

import httpx
import pytest
from pydantic import SecretStr

from app.core.config import Settings
from app.messages.providers import (
    Outgoing,
    ProviderError,
    SendGrid,
    Smtp,
    Twilio,
    configured,
)
from tests.support import providers
from tests.support.providers import SENDGRID_KEY, SMTP_LOGIN, TWILIO_SID, TWILIO_TOKEN

MESSAGE = Outgoing(
    message_id=uuid.UUID("0195f0a0-0000-7000-8000-000000000001"),
    to="+34612345678",
    name="Ana Ruiz",
    subject="Sus llamadas",
    body="Hola Ana, vimos sus 4 llamadas.",
)


def _twilio_settings(base_url: str, **more: object) -> Settings:
    values: dict[str, object] = {
        "twilio_base_url": base_url,
        "twilio_account_sid": TWILIO_SID,
        "twilio_auth_token": SecretStr(TWILIO_TOKEN),
        "twilio_sms_from": "+34910000000",
        "twilio_whatsapp_from": "+34910000001",
        "public_base_url": "https://history.example.com",
    }
    return Settings.model_validate(values | more)


async def test_an_sms_is_the_documented_form_with_basic_auth() -> None:
    with providers.twilio() as stub:
        sms = configured(_twilio_settings(stub.base_url))["sms"]
        async with httpx.AsyncClient() as client:
            accepted = await sms.send(MESSAGE, client)

    [request] = stub.requests
    assert request.path == f"/2010-04-01/Accounts/{TWILIO_SID}/Messages.json"
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert request.form() == {
        "To": ["+34612345678"],
        "From": ["+34910000000"],
        "Body": ["Hola Ana, vimos sus 4 llamadas."],
        "StatusCallback": ["https://history.example.com/v1/webhooks/twilio"],
    }
    assert (accepted.provider, accepted.provider_message_id) == ("twilio", f"SM{1:032x}")


async def test_a_whatsapp_message_names_both_ends_as_whatsapp_addresses() -> None:
    with providers.twilio() as stub:
        whatsapp = configured(_twilio_settings(stub.base_url))["whatsapp"]
        async with httpx.AsyncClient() as client:
            await whatsapp.send(MESSAGE, client)
    form = stub.requests[0].form()
    assert (form["To"], form["From"]) == (["whatsapp:+34612345678"], ["whatsapp:+34910000001"])


async def test_a_messaging_service_sends_instead_of_a_number() -> None:
    with providers.twilio() as stub:
        settings = _twilio_settings(
            stub.base_url, twilio_sms_from="", twilio_messaging_service_sid="MG" + "b" * 32
        )
        async with httpx.AsyncClient() as client:
            await configured(settings)["sms"].send(MESSAGE, client)
    form = stub.requests[0].form()
    assert form["MessagingServiceSid"] == ["MG" + "b" * 32] and "From" not in form


async def test_twilio_refusals_say_whether_to_retry() -> None:
    with providers.twilio() as stub:
        wrong = _twilio_settings(stub.base_url, twilio_auth_token=SecretStr("wrong"))
        async with httpx.AsyncClient() as client:
            with pytest.raises(ProviderError) as refused:
                await Twilio(wrong, "sms", "+34910000000").send(MESSAGE, client)
            assert not refused.value.retry and "20003" in refused.value.reason
            stub.fail_with = 503
            with pytest.raises(ProviderError) as down:
                await configured(_twilio_settings(stub.base_url))["sms"].send(MESSAGE, client)
            assert down.value.retry
    unreachable = _twilio_settings(stub.base_url)  # the server is gone now
    async with httpx.AsyncClient() as client:
        with pytest.raises(ProviderError) as gone:
            await configured(unreachable)["sms"].send(MESSAGE, client)
    assert gone.value.retry


def _sendgrid_settings(base_url: str, key: str = SENDGRID_KEY) -> Settings:
    return Settings(
        sendgrid_base_url=base_url,
        sendgrid_api_key=SecretStr(key),
        email_from="hola@shop.example",
        email_from_name="Shop",
    )


async def test_an_email_through_sendgrid_is_the_documented_json_with_a_bearer_key() -> None:
    email = replace(MESSAGE, to="ana@example.com")
    with providers.sendgrid() as stub:
        sender = configured(_sendgrid_settings(stub.base_url))["email"]
        assert isinstance(sender, SendGrid)
        async with httpx.AsyncClient() as client:
            accepted = await sender.send(email, client)

    [request] = stub.requests
    assert request.path == "/v3/mail/send"
    assert request.headers["authorization"] == f"Bearer {SENDGRID_KEY}"
    assert request.headers["content-type"] == "application/json"
    assert request.json() == {
        "personalizations": [
            {
                "to": [{"email": "ana@example.com", "name": "Ana Ruiz"}],
                "custom_args": {"ch_message_id": str(MESSAGE.message_id)},
            }
        ],
        "from": {"email": "hola@shop.example", "name": "Shop"},
        "subject": "Sus llamadas",
        "content": [{"type": "text/plain", "value": "Hola Ana, vimos sus 4 llamadas."}],
    }
    assert (accepted.provider, accepted.provider_message_id) == ("sendgrid", "sgmsg000001")


async def test_sendgrid_refusing_the_key_is_not_retried() -> None:
    with providers.sendgrid() as stub:
        sender = configured(_sendgrid_settings(stub.base_url, key="SG.wrong"))["email"]
        async with httpx.AsyncClient() as client:
            with pytest.raises(ProviderError) as refused:
                await sender.send(MESSAGE, client)
    assert not refused.value.retry and "401" in refused.value.reason


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
async def test_an_email_through_smtp_logs_in_and_is_delivered() -> None:
    email = replace(MESSAGE, to="ana@example.com")
    with providers.smtp_server() as box:
        settings = Settings(
            smtp_host="127.0.0.1",
            smtp_port=box.port,
            smtp_username=SMTP_LOGIN[0],
            smtp_password=SecretStr(SMTP_LOGIN[1]),
            smtp_security="none",
            email_from="hola@shop.example",
            email_from_name="Shop",
        )
        sender = configured(settings)["email"]
        assert isinstance(sender, Smtp)
        async with httpx.AsyncClient() as client:
            accepted = await sender.send(email, client)

    assert box.logins == [SMTP_LOGIN[0]]
    [envelope] = box.envelopes
    assert (envelope.mail_from, envelope.rcpt_tos) == ("hola@shop.example", ["ana@example.com"])
    [mail] = box.messages()
    assert (mail["From"], mail["To"], mail["Subject"]) == (
        "Shop <hola@shop.example>",
        "Ana Ruiz <ana@example.com>",
        "Sus llamadas",
    )
    assert mail.get_payload(decode=True).decode().strip() == email.body
    assert accepted.provider_message_id == mail["Message-ID"].strip("<>")


def test_a_channel_without_credentials_has_no_provider() -> None:
    assert configured(Settings()) == {}
    no_sender = Settings(twilio_account_sid=TWILIO_SID, twilio_auth_token=SecretStr("t"))
    assert configured(no_sender) == {}
    smtp_without_from = Settings(smtp_host="127.0.0.1")
    assert configured(smtp_without_from) == {}
