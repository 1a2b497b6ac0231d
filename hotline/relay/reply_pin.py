"""The personal reply PIN: where a team's configuration says `sms_replies = "pin"`, a
counsellor's SMS reply counts as hers only with her PIN in front ("4711 K3 Hallo"), so that
whoever spoofs her number cannot write to her clients as her.

The PIN (4 to 8 digits, not a run like 1234 or 0000) is set on the account page and stored as
an argon2id hash. Wrong PINs are throttled per counsellor: after MAX_FAILURES in a row, SMS
replies are refused for LOCK_MINUTES, the right PIN included (the web page keeps working). A
refused reply sends nothing and tells the counsellor why; the PIN never reaches the client,
the database or a log.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.orm import Session

from foundation import audit
from foundation.errors import Invalid, NotFound
from foundation.i18n import N_
from foundation.models import Counsellor

MIN_DIGITS, MAX_DIGITS = 4, 8
MAX_FAILURES = 5
LOCK_MINUTES = 15
_LEADING = re.compile(rf"^\s*(?P<pin>\d{{{MIN_DIGITS},{MAX_DIGITS}}})(?:[\s:,.;\-–]+|$)")
_hasher = PasswordHasher()

# What the counsellor is told by SMS; nothing was sent to the client.
MISSING = "Für dieses Team bitte Ihre Antwort-PIN voranstellen, z. B. „1234 K3 …“: nichts gesendet."
NOT_SET = (
    "Sie haben noch keine Antwort-PIN: nichts gesendet. Legen Sie sie im Webportal unter "
    "„Mein Konto“ fest."
)
WRONG = "Falsche Antwort-PIN: nichts gesendet. Noch {left} Versuch(e), dann 15 Minuten Sperre."
LOCKED = (
    "Zu viele falsche Antwort-PINs: SMS-Antworten sind bis {until} Uhr gesperrt, nichts "
    "gesendet. Im Webportal können Sie weiter antworten."
)
WEB_ONLY = "Antworten für dieses Team bitte im Webportal schreiben: per SMS wurde nichts gesendet."


@dataclass(frozen=True, slots=True)
class Checked:
    """The reply without its PIN (`text`), or why it is refused (`refusal`)."""

    text: str = ""
    refusal: str | None = None


def problem(pin: str) -> str | None:
    """A German explanation of why `pin` cannot be a reply PIN, or None."""
    if not (pin.isascii() and pin.isdigit() and MIN_DIGITS <= len(pin) <= MAX_DIGITS):
        return f"Die PIN besteht aus {MIN_DIGITS} bis {MAX_DIGITS} Ziffern."
    steps = {int(b) - int(a) for a, b in itertools.pairwise(pin)}
    if len(set(pin)) == 1 or steps in ({1}, {-1}):
        return N_("Diese PIN ist zu leicht zu erraten (z. B. 0000 oder 1234). Bitte eine andere.")
    return None


def set_pin(session: Session, counsellor_id: int, pin: str, *, actor: str) -> None:
    """Set (or replace) a counsellor's PIN; it unlocks her SMS replies."""
    refused = problem(pin)
    if refused is not None:
        raise Invalid(refused, field="pin")
    counsellor = session.get(Counsellor, counsellor_id)
    if counsellor is None:
        raise NotFound("no such counsellor")
    counsellor.reply_pin_hash = _hasher.hash(pin)
    counsellor.reply_pin_failures = 0
    counsellor.reply_pin_locked_until = None
    audit.record(session, actor, "set_reply_pin", "counsellor", counsellor_id)


def clear_pin(session: Session, counsellor_id: int, *, actor: str) -> None:
    counsellor = session.get(Counsellor, counsellor_id)
    if counsellor is None:
        raise NotFound("no such counsellor")
    if counsellor.reply_pin_hash is not None:
        counsellor.reply_pin_hash = None
        audit.record(session, actor, "clear_reply_pin", "counsellor", counsellor_id)


def check(counsellor: Counsellor, body: str, now: datetime, zone: ZoneInfo) -> Checked:
    """The reply `body` with its leading PIN taken off, or why it is refused. Counts wrong
    PINs on `counsellor` (the caller's transaction commits them)."""
    locked = counsellor.reply_pin_locked_until
    if locked is not None and now < locked:
        return Checked(refusal=LOCKED.format(until=f"{locked.astimezone(zone):%H:%M}"))
    if counsellor.reply_pin_hash is None:
        return Checked(refusal=NOT_SET)
    match = _LEADING.match(body)
    if match is None:
        return Checked(refusal=MISSING)
    if not _verifies(counsellor.reply_pin_hash, match.group("pin")):
        counsellor.reply_pin_failures += 1
        left = MAX_FAILURES - counsellor.reply_pin_failures
        if left <= 0:
            until = now + timedelta(minutes=LOCK_MINUTES)
            counsellor.reply_pin_failures = 0
            counsellor.reply_pin_locked_until = until
            return Checked(refusal=LOCKED.format(until=f"{until.astimezone(zone):%H:%M}"))
        return Checked(refusal=WRONG.format(left=left))
    counsellor.reply_pin_failures = 0
    counsellor.reply_pin_locked_until = None
    return Checked(text=body[match.end() :])


def _verifies(stored: str, presented: str) -> bool:
    try:
        return _hasher.verify(stored, presented)
    except (VerificationError, InvalidHashError):
        return False
