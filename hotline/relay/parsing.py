"""What the relay reads from and writes into a message's text: a leading conversation code, the
sender's channel and address, and a body Twilio accepts. Pure."""

from __future__ import annotations

import re

from config.phone import InvalidPhoneNumber, normalise
from foundation.models import Channel

WHATSAPP = "whatsapp:"
MAX_BODY = 1600  # Twilio refuses longer message bodies
SHORTENED = " … (gekürzt, vollständig im Webportal)"
ATTACHMENT = "[Anhang nicht weitergeleitet]"

_CODE = re.compile(
    r"^\s*(?:\[\s*(?P<bracketed>k\d{1,5})\s*\]|#?(?P<plain>k\d{1,5})\b)[\s:,.;\-–]*",
    re.IGNORECASE,
)


def parse_code(body: str) -> tuple[str | None, str]:
    """("K7", the rest) for a message that starts with a code (K7, [K7], #K7, k7:, any case);
    (None, the message) otherwise."""
    match = _CODE.match(body)
    if match is None:
        return None, body.strip()
    code = (match.group("bracketed") or match.group("plain")).upper()
    return f"K{int(code[1:])}", body[match.end() :].strip()


def client_address(raw: str) -> tuple[Channel, str]:
    """The channel and the address of a sender (`whatsapp:+49…` is WhatsApp); numbers in E.164,
    anything else (an alphanumeric sender) as it came."""
    channel = Channel.WHATSAPP if raw.startswith(WHATSAPP) else Channel.SMS
    address = raw.removeprefix(WHATSAPP).strip()
    try:
        return channel, normalise(address)
    except InvalidPhoneNumber:
        return channel, address


def fit(text: str, limit: int = MAX_BODY) -> str:
    """`text`, shortened with a note if Twilio would refuse it."""
    return text if len(text) <= limit else text[: limit - len(SHORTENED)] + SHORTENED
