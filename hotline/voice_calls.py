"""The use cases of a call to a line, one transaction each, testable without HTTP.

What the caller's number may leave behind, and what the on-call counsellor is told about a
voicemail.
"""

from __future__ import annotations

import contextlib
import re

from config.model import Line
from config.phone import InvalidPhoneNumber, normalise
from config.settings import Settings
from foundation import crypto

# Withheld numbers, as Twilio sends them in `From`: callers like any other, but nothing to keep.
ANONYMOUS = frozenset({"", "anonymous", "restricted", "unknown", "unavailable", "+266696687"})
_E164 = re.compile(r"\+[1-9]\d{5,14}")


def is_anonymous(caller: str) -> bool:
    return caller.strip().lower() in ANONYMOUS


def caller_hash(settings: Settings, line: Line, caller: str) -> str | None:
    """The keyed hash that counts repeat callers; None for a withheld number or when the line
    keeps none."""
    if not line.caller_hash or is_anonymous(caller):
        return None
    if not _E164.fullmatch(caller):  # Twilio sends E.164; anything else is normalised
        with contextlib.suppress(InvalidPhoneNumber):
            caller = normalise(caller)
    return crypto.keyed_hash(settings, "caller", caller)


def sealed_caller(settings: Settings, line: Line, caller: str) -> bytes | None:
    """The caller's number, encrypted, to keep with a voicemail for a call-back through the
    line; None for a withheld number or when the line keeps none."""
    if not line.voicemail_keeps_number or is_anonymous(caller):
        return None
    try:
        number = normalise(caller)
    except InvalidPhoneNumber:
        return None
    return crypto.box(settings).seal(number)


def voicemail_sms(line: Line, seconds: int) -> str:
    """The note to the on-call counsellor. No caller data at all."""
    minutes, rest = divmod(max(seconds, 0), 60)
    return (
        f"Neue Sprachnachricht auf der Leitung {line.display_name} ({minutes}:{rest:02d} min). "
        "Bitte im Hotline-Postfach abhören."
    )
