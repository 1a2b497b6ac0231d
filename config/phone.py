"""Phone numbers: parse anything a German user types, keep E.164."""

from __future__ import annotations

import phonenumbers

DEFAULT_REGION = "DE"


class InvalidPhoneNumber(ValueError):
    """Raised for input that is not a dialable phone number."""


def normalise(raw: str, region: str = DEFAULT_REGION) -> str:
    """Return `raw` in E.164 (`+497112794555`); accepts `0711-279-4555`, `+49 711 2794555`, ...

    The message never repeats the input: it may be a client's number and end up in a log.
    """
    try:
        parsed = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhoneNumber("not a phone number") from exc
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidPhoneNumber("not a valid phone number")
    return str(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))


def display(e164: str) -> str:
    """A number as Germans write it (`0711 2794555`, `+43 1 234567` abroad)."""
    parsed = phonenumbers.parse(e164, DEFAULT_REGION)
    if parsed.country_code == 49:
        fmt = phonenumbers.PhoneNumberFormat.NATIONAL
    else:
        fmt = phonenumbers.PhoneNumberFormat.INTERNATIONAL
    return str(phonenumbers.format_number(parsed, fmt))


def masked(e164: str) -> str:
    """The last three digits only, for pages that must not show a client's number."""
    return "•••" + e164[-3:] if len(e164) > 3 else "•••"
