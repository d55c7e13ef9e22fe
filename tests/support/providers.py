"""Local stand-ins for the message providers, real servers on 127.0.0.1: Twilio's Messages
API and SendGrid's Mail Send over HTTP, and an SMTP server (``aiosmtpd``).

Each HTTP stub answers as its provider documents: it refuses a request without the
documented authentication (401) or without a required field (400, with the provider's
own error body), and otherwise accepts it (Twilio 201 with the Message resource, SendGrid
202 with ``X-Message-Id``). Every request it got is kept, decoded, for the test to check
field by field.
"""

import base64
import itertools
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session
from pydantic import SecretStr

from tests.support.server import free_port

TWILIO_SID = "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
TWILIO_TOKEN = "twilio-auth-token-for-tests"
SENDGRID_KEY = "SG.test-key.for-tests"
SMTP_LOGIN = ("mailer", "smtp-password-for-tests")
PUBLIC = "https://history.example.com"  # the service's public URL in links and callbacks
SMS_FROM = "+34910000000"


def twilio_settings(stub: "Stub") -> dict[str, Any]:
    """The settings that send SMS through ``stub`` from SMS_FROM, with links under PUBLIC."""
    return {
        "public_base_url": PUBLIC,
        "twilio_base_url": stub.base_url,
        "twilio_account_sid": TWILIO_SID,
        "twilio_auth_token": SecretStr(TWILIO_TOKEN),
        "twilio_sms_from": SMS_FROM,
        "email_from": "hola@shop.example",
    }


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def form(self) -> dict[str, list[str]]:
        return parse_qs(self.body.decode(), keep_blank_values=True)

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Stub:
    """A provider's stand-in: its base URL, the requests it got, and what it answers next
    (``fail_with``: a status to answer instead, once per request, while set)."""

    base_url: str = ""
    requests: list[Request] = field(default_factory=list)
    fail_with: int | None = None


def _basic(headers: dict[str, str]) -> tuple[str, str] | None:
    scheme, _, value = headers.get("authorization", "").partition(" ")
    if scheme != "Basic":
        return None
    user, _, password = base64.b64decode(value).decode().partition(":")
    return user, password


def _twilio(request: Request, counter: Iterator[int]) -> tuple[int, dict[str, str], bytes]:
    """Twilio's answer to ``POST /2010-04-01/Accounts/{Sid}/Messages.json``."""
    if request.path != f"/2010-04-01/Accounts/{TWILIO_SID}/Messages.json":
        return 404, {}, b'{"code": 20404, "message": "The requested resource was not found"}'
    if _basic(request.headers) != (TWILIO_SID, TWILIO_TOKEN):
        return 401, {}, b'{"code": 20003, "message": "Authenticate", "status": 401}'
    if request.headers.get("content-type") != "application/x-www-form-urlencoded":
        return 400, {}, b'{"code": 20001, "message": "Unsupported content type"}'
    form = {k: v[0] for k, v in request.form().items()}
    if not form.get("To"):
        return 400, {}, b'{"code": 21604, "message": "A \'To\' phone number is required."}'
    if not form.get("From") and not form.get("MessagingServiceSid"):
        return 400, {}, b'{"code": 21603, "message": "A \'From\' phone number is required."}'
    if not form.get("Body"):
        return 400, {}, b'{"code": 21602, "message": "Message body is required."}'
    sid = f"SM{next(counter):032x}"
    resource = {
        "sid": sid,
        "account_sid": TWILIO_SID,
        "to": form["To"],
        "from": form.get("From"),
        "messaging_service_sid": form.get("MessagingServiceSid"),
        "body": form["Body"],
        "status": "queued",
        "direction": "outbound-api",
        "api_version": "2010-04-01",
        "uri": f"/2010-04-01/Accounts/{TWILIO_SID}/Messages/{sid}.json",
    }
    return 201, {"content-type": "application/json"}, json.dumps(resource).encode()


def _sendgrid(request: Request, counter: Iterator[int]) -> tuple[int, dict[str, str], bytes]:
    """SendGrid's answer to ``POST /v3/mail/send``."""
    if request.path != "/v3/mail/send":
        return 404, {}, b'{"errors": [{"message": "not found"}]}'
    if request.headers.get("authorization") != f"Bearer {SENDGRID_KEY}":
        errors = {
            "errors": [{"field": None, "message": "The provided authorization grant is invalid"}]
        }
        return 401, {}, json.dumps(errors).encode()
    try:
        body = request.json()
    except ValueError:
        return 400, {}, b'{"errors": [{"message": "Bad Request", "field": null}]}'
    missing = [
        name
        for name, present in [
            ("personalizations", bool(body.get("personalizations"))),
            ("personalizations.0.to", bool((body.get("personalizations") or [{}])[0].get("to"))),
            ("from.email", bool((body.get("from") or {}).get("email"))),
            ("subject", bool(body.get("subject"))),
            ("content", bool(body.get("content"))),
        ]
        if not present
    ]
    if missing:
        errors = {"errors": [{"field": f, "message": "is required"} for f in missing]}
        return 400, {}, json.dumps(errors).encode()
    return 202, {"x-message-id": f"sgmsg{next(counter):06d}"}, b""


@contextmanager
def _serve(answer: Any) -> Iterator[Stub]:
    stub = Stub()
    counter = itertools.count(1)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            request = Request(
                "POST",
                self.path,
                {k.lower(): v for k, v in self.headers.items()},
                self.rfile.read(length),
            )
            stub.requests.append(request)
            if stub.fail_with is not None:
                status, headers, body = stub.fail_with, {}, b'{"message": "unavailable"}'
            else:
                status, headers, body = answer(request, counter)
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    stub.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield stub
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def twilio() -> Iterator[Stub]:
    """Twilio's Messages API on a local port."""
    with _serve(_twilio) as stub:
        yield stub


@contextmanager
def sendgrid() -> Iterator[Stub]:
    """SendGrid's Mail Send on a local port."""
    with _serve(_sendgrid) as stub:
        yield stub


@dataclass
class Mailbox:
    """What a local SMTP server received: each mail's envelope and its parsed message."""

    port: int = 0
    logins: list[str] = field(default_factory=list)
    envelopes: list[Envelope] = field(default_factory=list)

    def messages(self) -> list[Message]:
        return [message_from_bytes(e.content or b"") for e in self.envelopes]  # type: ignore[arg-type]


@contextmanager
def smtp_server() -> Iterator[Mailbox]:
    """An SMTP server on a local port that requires ``SMTP_LOGIN`` (AUTH PLAIN/LOGIN, here
    without TLS) and keeps every mail."""
    box = Mailbox()

    class Keeper:
        async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
            box.envelopes.append(envelope)
            return "250 OK"

    def authenticate(
        server: Any, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        if isinstance(data, LoginPassword):
            login = (data.login.decode(), data.password.decode())
            if login == SMTP_LOGIN:
                box.logins.append(login[0])
                return AuthResult(success=True)
        return AuthResult(success=False, handled=False)

    controller = Controller(
        Keeper(),
        hostname="127.0.0.1",
        port=free_port(),
        authenticator=authenticate,
        auth_require_tls=False,
        auth_required=True,
    )
    controller.start()
    box.port = controller.port
    try:
        yield box
    finally:
        controller.stop()
