"""Channel providers: one interface, one class per provider API.

SMS and WhatsApp go through Twilio's Messages API, e-mail through SendGrid's v3 Mail Send
or a plain SMTP server. Each is configured by settings alone (base URLs included, so that
tests point them at local servers) and is absent when its credentials are not set: a
channel without a provider is never chosen.
"""

from abc import ABC, abstractmethod
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formataddr, make_msgid
from typing import Any
from uuid import UUID

import aiosmtplib
import httpx

from app.core.config import Settings

TIMEOUT = httpx.Timeout(10.0)


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One rendered message to one address."""

    message_id: UUID
    to: str  # E.164 for SMS and WhatsApp, an address for e-mail
    name: str  # the customer's name, for the e-mail's To
    subject: str
    body: str


@dataclass(frozen=True, slots=True)
class Accepted:
    """The provider took the message: its id for the message, when it gives one."""

    provider: str
    provider_message_id: str | None


class ProviderError(Exception):
    """The provider refused or could not be reached. ``retry``: worth trying again later
    (the provider was down or busy), else the message itself was refused."""

    def __init__(self, reason: str, *, retry: bool) -> None:
        super().__init__(reason)
        self.reason = reason[:500]
        self.retry = retry


class Provider(ABC):
    """Sends messages of one channel."""

    name: str
    channel: str  # sms | whatsapp | email
    # The webhook source by which the provider reports what became of its messages: only
    # its deliveries change their status.
    receiver: str | None = None

    @abstractmethod
    async def send(self, message: Outgoing, client: httpx.AsyncClient) -> Accepted:
        """Hand ``message`` to the provider; ProviderError when it is not taken."""


def _http_error(provider: str, response: httpx.Response) -> ProviderError:
    retry = response.status_code == 429 or response.status_code >= 500
    try:
        body: Any = response.json()
    except ValueError:
        body = response.text[:200]
    return ProviderError(f"{provider} answered {response.status_code}: {body}", retry=retry)


async def _post(client: httpx.AsyncClient, provider: str, **request: Any) -> httpx.Response:
    try:
        response = await client.post(timeout=TIMEOUT, **request)
    except httpx.HTTPError as exc:
        raise ProviderError(f"{provider} unreachable: {type(exc).__name__}", retry=True) from None
    if not response.is_success:
        raise _http_error(provider, response)
    return response


class Twilio(Provider):
    """Twilio's Messages API: ``POST /2010-04-01/Accounts/{AccountSid}/Messages.json``,
    form-encoded, basic auth with the Account SID and Auth Token. WhatsApp addresses are
    ``whatsapp:+E164`` on both ends."""

    name = "twilio"
    receiver = "twilio"  # the status callbacks, and the customers' replies

    def __init__(
        self, settings: Settings, channel: str, sender: str, service_sid: str = ""
    ) -> None:
        self.channel = channel
        self._settings = settings
        self._sender = sender  # the number messages come from...
        self._service_sid = service_sid  # ...unless a Messaging Service picks one

    def _address(self, number: str) -> str:
        return f"whatsapp:{number}" if self.channel == "whatsapp" else number

    async def send(self, message: Outgoing, client: httpx.AsyncClient) -> Accepted:
        s = self._settings
        form = {"To": self._address(message.to), "Body": message.body}
        if self._service_sid:
            form["MessagingServiceSid"] = self._service_sid
        else:
            form["From"] = self._address(self._sender)
        if s.public_base_url:
            form["StatusCallback"] = f"{s.public_base_url.rstrip('/')}/v1/webhooks/twilio"
        response = await _post(
            client,
            self.name,
            url=f"{s.twilio_base_url.rstrip('/')}/2010-04-01/Accounts/"
            f"{s.twilio_account_sid}/Messages.json",
            data=form,
            auth=(s.twilio_account_sid, s.twilio_auth_token.get_secret_value()),
        )
        try:
            sid = response.json()["sid"]
        except (ValueError, KeyError, TypeError):
            sid = None
        return Accepted(self.name, sid if isinstance(sid, str) else None)


class SendGrid(Provider):
    """SendGrid's v3 Mail Send: ``POST /v3/mail/send`` with a Bearer key and a JSON body;
    202 when accepted, the message's id in ``X-Message-Id``. Our message id rides along in
    ``custom_args``, so that the Event Webhook's events name it."""

    name = "sendgrid"
    channel = "email"
    receiver = "sendgrid-events"

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    async def send(self, message: Outgoing, client: httpx.AsyncClient) -> Accepted:
        s = self._settings
        sender: dict[str, str] = {"email": s.email_from}
        if s.email_from_name:
            sender["name"] = s.email_from_name
        recipient = {"email": message.to, **({"name": message.name} if message.name else {})}
        response = await _post(
            client,
            self.name,
            url=f"{s.sendgrid_base_url.rstrip('/')}/v3/mail/send",
            headers={"Authorization": f"Bearer {s.sendgrid_api_key.get_secret_value()}"},
            json={
                "personalizations": [
                    {"to": [recipient], "custom_args": {"ch_message_id": str(message.message_id)}}
                ],
                "from": sender,
                "subject": message.subject,
                "content": [{"type": "text/plain", "value": message.body}],
            },
        )
        return Accepted(self.name, response.headers.get("x-message-id"))


class Smtp(Provider):
    """A plain SMTP server (``aiosmtplib``): STARTTLS, implicit TLS or neither, with a login
    when one is set. The Message-ID it is sent with is the provider's id."""

    name = "smtp"
    channel = "email"

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def _email(self, message: Outgoing) -> EmailMessage:
        s = self._settings
        email = EmailMessage()
        email["From"] = formataddr((s.email_from_name, s.email_from))
        email["To"] = formataddr((message.name, message.to))
        email["Subject"] = message.subject
        domain = s.email_from.rpartition("@")[2] or None
        email["Message-ID"] = make_msgid(idstring=message.message_id.hex, domain=domain)
        email.set_content(message.body)
        return email

    async def send(self, message: Outgoing, client: httpx.AsyncClient) -> Accepted:
        s = self._settings
        try:
            email = self._email(message)
        except UnicodeError:  # josé@ejemplo.es is a valid address; SMTP without SMTPUTF8
            reason = "smtp cannot write the address: it is not ASCII"
            raise ProviderError(reason, retry=False) from None
        try:
            await aiosmtplib.send(
                email,
                hostname=s.smtp_host,
                port=s.smtp_port,
                username=s.smtp_username or None,
                password=s.smtp_password.get_secret_value() or None,
                use_tls=s.smtp_security == "tls",
                start_tls=s.smtp_security == "starttls",
                timeout=TIMEOUT.connect,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            raise ProviderError(f"smtp refused the recipient: {exc}", retry=False) from None
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise ProviderError(f"smtp failed: {type(exc).__name__}: {exc}", retry=True) from None
        return Accepted(self.name, email["Message-ID"].strip("<>"))


# Each provider's receiver, by the provider's name as a message keeps it.
RECEIVERS = {p.name: p.receiver for p in (Twilio, SendGrid, Smtp) if p.receiver}
# Where the customers' replies come in (SMS and WhatsApp).
REPLY_RECEIVERS = frozenset({Twilio.receiver})


def configured(settings: Settings) -> dict[str, Provider]:
    """The provider of each channel that has one configured."""
    found: dict[str, Provider] = {}
    if settings.twilio_account_sid and settings.twilio_auth_token.get_secret_value():
        service_sid = settings.twilio_messaging_service_sid
        if settings.twilio_sms_from or service_sid:
            found["sms"] = Twilio(settings, "sms", settings.twilio_sms_from, service_sid)
        if settings.twilio_whatsapp_from:
            found["whatsapp"] = Twilio(settings, "whatsapp", settings.twilio_whatsapp_from)
    if settings.email_from:
        if settings.sendgrid_api_key.get_secret_value():
            found["email"] = SendGrid(settings)
        elif settings.smtp_host:
            found["email"] = Smtp(settings)
    return found
