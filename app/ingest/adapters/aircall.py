"""Aircall webhooks: JSON envelope ``{resource, event, timestamp, token, data}``.

Aircall signs nothing: the body's ``token`` is the webhook's secret, so it is compared with
the configured tokens and redacted before the body is stored. Finding the token means
parsing the body before anything is proven: within MAX_JSON_DEPTH (``Delivery.json``).
"""

import hashlib
import json
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from app.ingest.adapters.base import (
    Adapter,
    BoundExceeded,
    Delivery,
    PayloadError,
    SignatureError,
)
from app.ingest.adapters.reading import as_list
from app.ingest.adapters.signatures import require_any
from app.timeline.catalog import Channel, Direction
from app.timeline.payloads import CallPayload, NotePayload
from app.timeline.schemas import CustomerRefIn, IdentifiedEventIn

REDACTED = "[redacted]"
# missed_call_reason values meaning the caller hung up before anyone could answer.
ABANDONED_REASONS = frozenset({"abandoned_in_ivr", "abandoned_in_classic", "short_abandoned"})
DIRECTIONS = {"inbound": Direction.INBOUND, "outbound": Direction.OUTBOUND}
_PHONE = re.compile(r"^\+?[0-9][0-9 ().\-]{2,30}$")
_TOKEN_FIELD = re.compile(rb'("token"\s*:\s*)"(?:[^"\\]|\\.)*"')
SHORT, LONG = 200, 10_000
NAME = 300  # a customer reference's display_name


def _text(value: Any, limit: int = SHORT) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None
    text = str(value).strip()
    return text[:limit] or None


def _when(value: Any, what: str) -> datetime | None:
    """A Unix timestamp (Aircall's call fields) or an ISO 8601 string, as an aware datetime."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise PayloadError(f"{what} is not a timestamp: {value!r}")
    try:
        if isinstance(value, int | float):
            return datetime.fromtimestamp(value, UTC)
        if isinstance(value, str):
            if value.strip().isdigit():
                return datetime.fromtimestamp(int(value), UTC)
            when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
            return when if when.tzinfo else when.replace(tzinfo=UTC)
    except (ValueError, OverflowError, OSError):
        pass
    raise PayloadError(f"{what} is not a timestamp: {value!r}")


def _person(value: Any) -> str | None:
    """A user's name, else their email."""
    if isinstance(value, dict):
        return _text(value.get("name")) or _text(value.get("email"))
    return None


class AircallAdapter(Adapter):
    """Call outcomes (``call.ended``, ``call.voicemail_left``) and call notes (tags, comments).

    The customer is the external party, ``data.raw_digits``.
    """

    source = "aircall"

    def verify(self, delivery: Delivery, secrets: Sequence[str], now: datetime) -> None:
        try:
            # Half a surrogate pair elsewhere in a genuine body: verified, then kept failed.
            body = delivery.json(half_surrogates=True)
        except BoundExceeded:
            raise
        except PayloadError:
            raise SignatureError("the body is not JSON, so it carries no token") from None
        token = body.get("token") if isinstance(body, dict) else None
        if not isinstance(token, str):
            raise SignatureError("missing Aircall token")
        require_any(secrets, token, "Aircall token")

    def delivery_id(self, delivery: Delivery) -> str:
        try:
            body = delivery.json()
        except PayloadError:
            return delivery.body_hash()
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, dict) or data.get("id") is None:
            return hashlib.sha256(self.stored_body(delivery)).hexdigest()
        # The timestamp is in seconds: two tags added within one second share it, so the
        # body's digest keeps their deliveries apart (a retry resends the same bytes).
        digest = delivery.body_hash()[:16]
        return f"{body.get('event')}:{data['id']}:{body.get('timestamp')}:{digest}"

    def stored_body(self, delivery: Delivery) -> bytes:
        try:
            body = delivery.json()
        except PayloadError:
            # Never verified (it could not be), but hide anything that looks like the token.
            return _TOKEN_FIELD.sub(rb'\1"' + REDACTED.encode() + rb'"', delivery.body)
        if isinstance(body, dict) and "token" in body:
            body["token"] = REDACTED
        return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()

    def normalize(self, delivery: Delivery) -> list[IdentifiedEventIn]:
        body = delivery.json()
        if not isinstance(body, dict) or not isinstance(body.get("event"), str):
            raise PayloadError("not an Aircall webhook: no event")
        event = body["event"]
        if event not in {"call.ended", "call.voicemail_left", "call.tagged", "call.commented"}:
            return []
        call = body.get("data")
        if not isinstance(call, dict):
            raise PayloadError(f"{event}: data is not a call")
        call_id = call.get("id")
        if isinstance(call_id, bool) or not isinstance(call_id, int | str) or call_id == "":
            raise PayloadError(f"{event}: data is not a call with an id")
        sent_at = _when(body.get("timestamp"), "timestamp")
        customer = self._customer(call)
        if customer is None:
            return []  # anonymous caller: nobody to put it on
        try:
            if event == "call.ended":
                return [self._outcome(call, customer, sent_at, voicemail=False)]
            if event == "call.voicemail_left":
                return [self._outcome(call, customer, sent_at, voicemail=True)]
            if event == "call.tagged":
                return self._tag_notes(call, customer, sent_at)
            return self._comment_notes(call, customer, sent_at)
        except ValidationError as exc:
            raise PayloadError.from_validation(exc) from None

    @staticmethod
    def _customer(call: dict[str, Any]) -> CustomerRefIn | None:
        phone = _text(call.get("raw_digits"), 64)
        if not phone or not _PHONE.match(phone):
            return None
        contact = call.get("contact")
        name = None
        if isinstance(contact, dict):
            parts = [_text(contact.get("first_name")), _text(contact.get("last_name"))]
            joined = _text(" ".join(p for p in parts if p), NAME)
            name = joined or _text(contact.get("company_name"))
        return CustomerRefIn(phone=phone, display_name=name)

    def _outcome(
        self,
        call: dict[str, Any],
        customer: CustomerRefIn,
        sent_at: datetime | None,
        *,
        voicemail: bool,
    ) -> IdentifiedEventIn:
        call_id = str(call["id"])
        raw_direction = call.get("direction")
        direction = DIRECTIONS.get(raw_direction) if isinstance(raw_direction, str) else None
        if direction is None:
            raise PayloadError(f"call {call_id}: unknown direction {raw_direction!r}")
        answered = _when(call.get("answered_at"), "answered_at") is not None
        reason = _text(call.get("missed_call_reason"))
        if voicemail:
            kind, suffix = "call.voicemail", "voicemail"
            # asset: the lasting (authenticated) link; voicemail/recording URLs expire in minutes.
            url = call.get("asset") or call.get("voicemail_short_url") or call.get("voicemail")
        else:
            suffix = "ended"
            if answered:
                kind = "call.completed"
            elif reason in ABANDONED_REASONS:
                kind = "call.abandoned"
            else:
                kind = "call.missed"
            url = None
            if call.get("recording"):  # else the asset, if any, is a voicemail (reported apart)
                url = call.get("asset") or call.get("recording_short_url") or call["recording"]
        occurred_at = _when(call.get("ended_at"), "ended_at") or sent_at
        if occurred_at is None:
            raise PayloadError(f"call {call_id}: no ended_at nor timestamp")

        number = call.get("number")
        if not isinstance(number, dict):
            number = {}
        line = _text(number.get("digits"))
        remote = customer.phone
        duration = call.get("duration")
        agent = _person(call.get("user"))
        payload = CallPayload.model_validate(
            {
                "from": remote if direction is Direction.INBOUND else line,
                "to": line if direction is Direction.INBOUND else remote,
                "duration_s": duration if isinstance(duration, int) and duration >= 0 else None,
                "agent": agent,
                "queue": _text(number.get("name")),
                "disposition": reason or ("answered" if answered else None),
                "recording_url": _text(url, 2000),
                "tags": [name for _, name, _, _ in self._tags(call)],
                "comments": [c for _, c, _, _ in self._comments(call)],
                "call_id": call_id,
            }
        )
        return IdentifiedEventIn(
            type=kind,
            occurred_at=occurred_at,
            channel=Channel.PHONE,
            direction=direction,
            source=self.source,
            source_event_id=f"call:{call_id}:{suffix}",
            actor=agent,
            customer=customer,
            payload=payload.model_dump(by_alias=True, exclude_defaults=True),
        )

    @staticmethod
    def _tags(call: dict[str, Any]) -> list[tuple[str, str, Any, Any]]:
        """(key, name, tagged_at, tagged_by) of every tag on the call."""
        items = []
        for tag in as_list(call.get("tags")):
            if isinstance(tag, dict):
                name, key = _text(tag.get("name")), tag.get("id")
                when, who = tag.get("tagged_at"), tag.get("tagged_by")
            else:
                name, key, when, who = _text(tag), None, None, None
            if name:
                items.append((str(key if key is not None else name), name, when, who))
        return items

    @staticmethod
    def _comments(call: dict[str, Any]) -> list[tuple[str, str, Any, Any]]:
        """(key, content, posted_at, posted_by) of every comment on the call."""
        items = []
        for comment in as_list(call.get("comments")):
            if isinstance(comment, dict):
                content = _text(comment.get("content"), LONG)
                key = comment.get("id")
                when, who = comment.get("posted_at"), comment.get("posted_by")
            else:
                content, key, when, who = _text(comment, LONG), None, None, None
            if not content:
                continue
            if key is None:
                key = "h" + hashlib.sha256(content.encode()).hexdigest()[:16]
            items.append((str(key), content, when, who))
        return items

    def _note(
        self,
        call: dict[str, Any],
        customer: CustomerRefIn,
        key: str,
        text: str,
        when: datetime | None,
        who: Any,
    ) -> IdentifiedEventIn:
        if when is None:
            raise PayloadError(f"call {call['id']}: no timestamp for the note")
        return IdentifiedEventIn(
            type="note.added",
            occurred_at=when,
            channel=Channel.SYSTEM,
            source=self.source,
            source_event_id=f"call:{call['id']}:{key}",
            actor=_person(who) or _person(call.get("user")),
            customer=customer,
            payload=NotePayload(text=text[:LONG]).model_dump(exclude_defaults=True),
        )

    def _tag_notes(
        self, call: dict[str, Any], customer: CustomerRefIn, sent_at: datetime | None
    ) -> list[IdentifiedEventIn]:
        # The call carries all its tags, not just the new one: one note per tag, keyed by tag,
        # so a tag already reported by an earlier delivery is a duplicate.
        return [
            self._note(
                call,
                customer,
                f"tag:{key}",
                f"Call {call['id']} tagged: {name}",
                _when(when, "tagged_at") or sent_at,
                who,
            )
            for key, name, when, who in self._tags(call)
        ]

    def _comment_notes(
        self, call: dict[str, Any], customer: CustomerRefIn, sent_at: datetime | None
    ) -> list[IdentifiedEventIn]:
        return [
            self._note(
                call, customer, f"comment:{key}", content, _when(when, "posted_at") or sent_at, who
            )
            for key, content, when, who in self._comments(call)
        ]
