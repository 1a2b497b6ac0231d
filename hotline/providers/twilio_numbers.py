"""Each configured number's own settings at Twilio (the IncomingPhoneNumbers resource): what the
service needs (`wanted`, from the settings alone), what Twilio has (`read`), and setting what
differs (`configure`). `hotline twilio check` and `hotline twilio configure` print the result.

A number is named by its line (or "reminders", the reminders' sender) and its last digits only
(`Wanted.label`); no number is logged.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import requests
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.rest import Client

from config.phone import masked
from config.settings import DEFAULT_PUBLIC_URL, Settings
from hotline.providers.twilio import client

log = logging.getLogger(__name__)
T = TypeVar("T")

VOICE_PATH = "/twilio/voice"
FALLBACK_PATH = "/twilio/fallback"
STATUS_PATH = "/twilio/status"
SMS_PATH = "/twilio/sms"
# The paths Twilio's fallback URLs name on the fallback host (VoiceFallbackUrl, SmsFallbackUrl):
# a request to one may be signed for HOTLINE_FALLBACK_PUBLIC_URL (web/twilio/signature.py).
FALLBACK_PATHS = frozenset({FALLBACK_PATH, SMS_PATH})
REMINDERS = "reminders"  # the name of the reminders' sender number in a report
# Numbers listed per PhoneNumber filter: Twilio matches partial numbers, so a few may come back.
LIST_LIMIT = 20
# Pages followed at most per filter: an answer that names a next page for ever is not followed
# for ever (the library stops at LIST_LIMIT numbers, never at empty pages).
MAX_PAGES = 5
# A number's SID goes into the URL of its update: only one of this form is used.
NUMBER_SID = re.compile(r"PN[0-9a-f]{32}")


class TwilioUnavailable(Exception):
    """Twilio could not be asked, or refused (e.g. wrong credentials); the message says why."""


@dataclass(frozen=True)
class Wanted:
    """One number of the account and the settings the service needs on it, by Twilio's
    parameter names (`VoiceUrl`, …); "" for a setting that must be empty."""

    name: str  # the line's slug, or REMINDERS
    number: str  # E.164
    fields: tuple[tuple[str, str], ...]

    @property
    def label(self) -> str:
        return f"{self.name} {masked(self.number)}"


@dataclass(frozen=True)
class Difference:
    field: str  # Twilio's parameter name, e.g. VoiceFallbackUrl
    actual: str
    needed: str

    def __str__(self) -> str:
        return f"{self.field} is {self.actual!r}, needs {self.needed!r}"


@dataclass(frozen=True)
class Found:
    """What Twilio has for one wanted number: its `PN…` SID (None: the number is not in the
    account) and every setting that differs from what is needed."""

    wanted: Wanted
    sid: str | None
    differences: tuple[Difference, ...] = ()

    @property
    def right(self) -> bool:
        return self.sid is not None and not self.differences


def _sms(settings: Settings) -> tuple[tuple[str, str], ...]:
    return (
        ("SmsUrl", settings.public_url + SMS_PATH),
        ("SmsMethod", "POST"),
        ("SmsFallbackUrl", settings.fallback_base + SMS_PATH),
        ("SmsFallbackMethod", "POST"),
        # An application set on the number would be used instead of the URLs above.
        ("SmsApplicationSid", ""),
    )


def wanted(settings: Settings) -> list[Wanted]:
    """Every number the service answers, and what it needs: each line's number (voice, its
    fallback on the other host, call status, messages) and the reminders' sender (messages:
    replies ABSAGEN / STOP arrive there; its calls are not the service's)."""
    public, fallback = settings.public_url, settings.fallback_base
    voice = (
        ("VoiceUrl", public + VOICE_PATH),
        ("VoiceMethod", "POST"),
        ("VoiceFallbackUrl", fallback + FALLBACK_PATH),
        ("VoiceFallbackMethod", "POST"),
        ("StatusCallback", public + STATUS_PATH),
        ("StatusCallbackMethod", "POST"),
        # A TwiML application or a SIP trunk on the number would take its calls instead.
        ("VoiceApplicationSid", ""),
        ("TrunkSid", ""),
    )
    config = settings.config
    numbers = [
        Wanted(slug, line.number, voice + _sms(settings)) for slug, line in config.lines.items()
    ]
    sender = config.reminders.sender_number or config.organisation.general_number
    if sender not in config.line_by_number:
        numbers.append(Wanted(REMINDERS, sender, _sms(settings)))
    return numbers


def fallback_warning(settings: Settings) -> str | None:
    """What is wrong with the fallback URLs' host, if anything."""
    if settings.fallback_base != settings.public_url:
        return None
    return (
        "HOTLINE_FALLBACK_PUBLIC_URL is not set (or is HOTLINE_PUBLIC_URL): Twilio's fallback "
        "URLs name this host, which does not help when this host is down"
    )


def unusable(settings: Settings) -> str | None:
    """Why the numbers cannot be pointed at this service, if they cannot."""
    if settings.simulation:
        return (
            "needs Twilio credentials (TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN); "
            "in simulation mode there is no Twilio account to look at"
        )
    if settings.public_url == DEFAULT_PUBLIC_URL:
        return "HOTLINE_PUBLIC_URL is not set: it must be the base URL Twilio calls"
    return None


def _attribute(field: str) -> str:
    """Twilio's parameter name as the REST library spells it: VoiceFallbackUrl ->
    voice_fallback_url."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", field).lower()


def _compare(one: Wanted, resource: object) -> Found:
    sid = getattr(resource, "sid", None)
    if not isinstance(sid, str) or not NUMBER_SID.fullmatch(sid):
        raise TwilioUnavailable(f"Twilio's answer names {one.label} with no number SID (PN…)")
    differences = []
    for field, needed in one.fields:
        actual = getattr(resource, _attribute(field)) or ""
        if str(actual) != needed:
            differences.append(Difference(field, str(actual), needed))
    return Found(one, sid, tuple(differences))


def _find(rest: Client, one: Wanted) -> Found:
    page = rest.incoming_phone_numbers.page(phone_number=one.number, page_size=LIST_LIMIT)
    for _ in range(MAX_PAGES):
        exact = [number for number in page if number.phone_number == one.number]
        if exact:
            return _compare(one, exact[0])
        page = page.next_page()
        if page is None:
            return Found(one, None)
    raise TwilioUnavailable(f"Twilio's answer for {one.label} went on past {MAX_PAGES} pages")


def read(settings: Settings, numbers: Sequence[Wanted]) -> list[Found]:
    """What Twilio has for each number. Raises TwilioUnavailable."""
    rest = client(settings)
    return _asking(lambda: [_find(rest, one) for one in numbers])


def configure(settings: Settings, found: Sequence[Found]) -> list[Found]:
    """Set what differs on every number in the account (only that), then read them all again:
    the result is what Twilio has now. Raises TwilioUnavailable."""
    rest = client(settings)

    def update() -> None:
        for each in found:
            if each.sid is None or not each.differences:
                continue
            changes = {_attribute(d.field): d.needed for d in each.differences}
            rest.incoming_phone_numbers(each.sid).update(**changes)
            fields = ", ".join(d.field for d in each.differences)
            log.info("Twilio number of %s: set %s", each.wanted.name, fields)

    _asking(update)
    return read(settings, [each.wanted for each in found])


def _asking(ask: Callable[[], T]) -> T:
    try:
        return ask()
    except TwilioRestException as exc:
        raise TwilioUnavailable(_refused(exc.status, f", code {exc.code}")) from exc
    except TwilioException as exc:
        # A list page Twilio refused comes as a bare TwilioException with the response.
        status = getattr(exc.args[1] if len(exc.args) > 1 else None, "status_code", None)
        if isinstance(status, int):
            raise TwilioUnavailable(_refused(status, "")) from exc
        raise TwilioUnavailable(f"cannot ask Twilio ({type(exc).__name__})") from exc
    except (requests.exceptions.RequestException, OSError) as exc:
        raise TwilioUnavailable(f"cannot ask Twilio ({type(exc).__name__})") from exc
    except (ValueError, TypeError, AttributeError, KeyError) as exc:
        # Not JSON, or JSON of another shape (a proxy's page, a wrong HOTLINE_TWILIO_API_URL):
        # the library fails on it deep inside.
        raise TwilioUnavailable(
            f"Twilio's answer was not understood ({type(exc).__name__})"
        ) from exc


def _refused(status: int, code: str) -> str:
    hint = ": are TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN right?" if status == 401 else ""
    return f"Twilio refused ({status}{code}){hint}"
