"""How a customer may be reached now, for a purpose (pure, no I/O): which channel, or why
none, or when the next contact window opens.

Checked at the moment of sending, not when the message was planned:

- do-not-contact: nothing at all; ``do_not_call``: nothing to their phone number either
  (no SMS, no WhatsApp), e-mail still;
- the channels with the customer's consent for the purpose, an address (a phone for SMS
  and WhatsApp, an e-mail address for e-mail) and a configured provider; among them the
  preferred one (a preferred ``phone`` means SMS), else SMS, WhatsApp, e-mail in turn;
- the contact hours on the customer's clock (their preferences, else the service's
  default window every day in the default time zone): outside them, wait for the next.
"""

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

CHANNELS = ("sms", "whatsapp", "email")
PHONE_CHANNELS = frozenset({"sms", "whatsapp"})
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True, slots=True)
class Contact:
    """What the decision reads of a customer."""

    preferences: Mapping[str, Any]  # as stored: preferred_channel, contact_hours, timezone...
    consents: Mapping[tuple[str, str], bool]  # (channel, purpose) -> granted, the latest
    phone: str | None
    email: str | None


@dataclass(frozen=True, slots=True)
class Send:
    channel: str
    address: str


@dataclass(frozen=True, slots=True)
class Wait:
    until: datetime


@dataclass(frozen=True, slots=True)
class Skip:
    reason: str


@dataclass(frozen=True, slots=True)
class Window:
    days: frozenset[str]
    start: time
    end: time


def default_windows(hours: str) -> list[Window]:
    """The setting ``HH:MM-HH:MM``, every day."""
    start, _, end = hours.partition("-")
    return [Window(frozenset(WEEKDAYS), time.fromisoformat(start), time.fromisoformat(end))]


def _windows(preferences: Mapping[str, Any], default: Sequence[Window]) -> list[Window]:
    stored = preferences.get("contact_hours") or []
    return [
        Window(frozenset(w["days"]), time.fromisoformat(w["from"]), time.fromisoformat(w["to"]))
        for w in stored
    ] or list(default)


def next_opening(now: datetime, windows: Sequence[Window], zone: ZoneInfo) -> datetime | None:
    """None when ``now`` is inside a window; else when the next one opens (within a week)."""
    local = now.astimezone(zone)
    for offset in range(8):
        day = local.date() + timedelta(days=offset)
        name = WEEKDAYS[day.weekday()]
        openings = []
        for window in windows:
            if name not in window.days:
                continue
            start = datetime.combine(day, window.start, zone)
            end = datetime.combine(day, window.end, zone)
            if start <= local < end:
                return None
            if start > local:
                openings.append(start)
        if openings:
            return min(openings)
    raise ValueError("no contact window in a week")  # a window names at least one day


def _candidates(
    contact: Contact, purpose: str, providers: Collection[str]
) -> tuple[list[str], dict[str, str]]:
    prefs = contact.preferences
    preferred = prefs.get("preferred_channel")
    preferred = "sms" if preferred == "phone" else preferred
    order = sorted(CHANNELS, key=lambda c: c != preferred)
    usable, why_not = [], {}
    for channel in order:
        if not contact.consents.get((channel, purpose)):
            why_not[channel] = f"no {purpose} consent"
        elif channel in PHONE_CHANNELS and prefs.get("do_not_call"):
            why_not[channel] = "do_not_call"
        elif (contact.phone if channel in PHONE_CHANNELS else contact.email) is None:
            why_not[channel] = "no phone" if channel in PHONE_CHANNELS else "no e-mail address"
        elif channel not in providers:
            why_not[channel] = "no provider configured"
        else:
            usable.append(channel)
    return usable, why_not


def decide(
    contact: Contact,
    purpose: str,
    providers: Collection[str],
    now: datetime,
    default_hours: Sequence[Window],
    default_zone: str,
) -> Send | Wait | Skip:
    """Send now on a channel, wait for the contact window, or skip saying why."""
    prefs = contact.preferences
    if prefs.get("do_not_contact"):
        return Skip("do_not_contact")
    usable, why_not = _candidates(contact, purpose, providers)
    if not usable:
        reasons = "; ".join(f"{c}: {r}" for c, r in why_not.items())
        return Skip(f"no channel to reach the customer ({reasons})")
    zone = ZoneInfo(prefs.get("timezone") or default_zone)
    opening = next_opening(now, _windows(prefs, default_hours), zone)
    if opening is not None:
        return Wait(opening)
    channel = usable[0]
    address = contact.phone if channel in PHONE_CHANNELS else contact.email
    assert address is not None
    return Send(channel, address)
