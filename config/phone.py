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


def masked_phone(e164: str) -> str:
    """A client's number as far as a page or the API may show it: country and network, the
    last two digits ('+49 151 ••• ••67'), enough to tell two numbers apart, not to dial."""
    try:
        parsed = phonenumbers.parse(e164, None)
        national = phonenumbers.national_significant_number(parsed)
        # At most three digits of the network or area code (0151…: "151"): the rest is masked.
        prefix = national[: min(3, phonenumbers.length_of_national_destination_code(parsed))]
    except phonenumbers.NumberParseException:
        return "•••"
    country = f"+{parsed.country_code}"
    head = f"{country} {prefix}" if prefix else country
    return f"{head} ••• ••{national[-2:]}"
