"""Trust nothing unsigned: every Twilio request is checked before anything else happens.

The signature is checked against HOTLINE_PUBLIC_URL + path + query (never forwarded headers),
with the auth token and, while it is rotated, the secondary token; a bad or missing one is a
403, a body larger than MAX_BODY (or of more than MAX_PARAMS parameters) a 413. A request to a
path Twilio's fallback URLs name (`FALLBACK_PATHS`) may instead be signed for
HOTLINE_FALLBACK_PUBLIC_URL: Twilio signs the URL it called, and hosts that share one
environment file serve the fallback under that base.
"""

from __future__ import annotations

import base64
import logging
from urllib.parse import unquote, urlparse

from starlette.requests import Request
from starlette.responses import Response
from twilio.request_validator import add_port, remove_port

from config.settings import Settings
from foundation import crypto
from hotline.providers.twilio_numbers import FALLBACK_PATHS

log = logging.getLogger(__name__)

MAX_BODY = 32 * 1024
# Twilio sends a few dozen parameters (an SMS with ten media items about 50). Parsing runs on
# the event loop and costs ~3 us a parameter: a 32 KiB body of 11,000 empty ones is ~40 ms for
# anyone to make it spend, so a body with more is refused before it is parsed.
MAX_PARAMS = 256


async def signed_params(request: Request, settings: Settings) -> dict[str, str] | Response:
    """The POST parameters of a request Twilio signed, or the response that refuses it."""
    # Straight from the ASGI scope: this runs for every call, and Request.url re-parses.
    path: str = request.scope["path"]
    query: str = request.scope["query_string"].decode("latin-1")
    headers = request.headers
    if declared_too_large(headers.get("content-length", "")):
        return Response("request too large", status_code=413, media_type="text/plain")
    raw = await request.body()
    if too_large(raw):
        return Response("request too large", status_code=413, media_type="text/plain")
    params = form(raw)
    if not signed(settings, path, query, params, headers.get("x-twilio-signature", "")):
        log.warning("refused a request to %s with a missing or invalid signature", path)
        return Response("invalid signature", status_code=403, media_type="text/plain")
    return params


def declared_too_large(content_length: str) -> bool:
    """Whether the Content-Length header announces a body over MAX_BODY (refused unread)."""
    return content_length.isascii() and content_length.isdigit() and int(content_length) > MAX_BODY


def too_large(raw: bytes) -> bool:
    """Whether a body is refused before it is parsed: over MAX_BODY, or MAX_PARAMS parameters."""
    return len(raw) > MAX_BODY or raw.count(b"&") >= MAX_PARAMS


def form(raw: bytes) -> dict[str, str]:
    """The parameters of a form body: `dict(parse_qsl(raw.decode(), keep_blank_values=True))`
    (a name without "=" has the value "", the last of a repeated name wins; nothing for a body
    that is not UTF-8), with less work per parameter: this runs for every call, and most of
    Twilio's names and values need no unquoting (a test compares both on random bodies)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return {}
    params: dict[str, str] = {}
    for pair in text.split("&"):
        name, _, value = pair.partition("=")
        if "%" in pair or "+" in pair:
            if "+" in name:
                name = name.replace("+", " ")
            if "%" in name:
                name = unquote(name)
            if "+" in value:
                value = value.replace("+", " ")
            if "%" in value:
                if value.startswith("%2B") and value.find("%", 3) < 0:
                    value = "+" + value[3:]  # a number in E.164 (From, To, Caller, ...)
                else:
                    value = unquote(value)
        elif not pair:
            continue
        params[name] = value
    return params


def signed(
    settings: Settings, path: str, query: str, params: dict[str, str], signature: str
) -> bool:
    """Whether Twilio signed the request to `path` and `query` with these parameters: for
    HOTLINE_PUBLIC_URL, or on a fallback path for HOTLINE_FALLBACK_PUBLIC_URL."""
    if not signature:
        return False
    rest = path + (f"?{query}" if query else "")
    tokens = settings.webhook_tokens()
    return valid_signature(tokens, settings.public_url + rest, params, signature) or (
        path in FALLBACK_PATHS
        and settings.fallback_public_url is not None
        and valid_signature(tokens, settings.fallback_public_url + rest, params, signature)
    )


def twilio_signature(token: str, url: str, params: dict[str, str]) -> str:
    """Twilio's signature: HMAC-SHA1 of the URL followed by every POST parameter name and
    value in name order, base64. The same as RequestValidator.compute_signature (a test
    checks both against Twilio's published example), without its per-call overhead."""
    return _signature(token, url, _signed_params(params))


def _signed_params(params: dict[str, str]) -> str:
    return "".join([name + params[name] for name in sorted(params)])


def _signature(token: str, url: str, signed_params: str) -> str:
    digest = crypto.mac(token, (url + signed_params).encode(), "sha1")
    return base64.b64encode(digest).decode()


def valid_signature(
    tokens: tuple[str, ...], url: str, params: dict[str, str], signature: str
) -> bool:
    """Twilio's check (RequestValidator.validate's): the URL exactly as configured, then with
    and without its port, since Twilio is inconsistent about it.

    Hand-written rather than RequestValidator.validate: that concatenates the parameters
    quadratically, and this runs on the event loop for every request anyone sends: a 32 KiB
    body of thousands of empty parameters cost it ~45 ms per token and URL. Here the
    parameters are joined once, then each candidate is one HMAC; the URL's variants with and
    without the port are only worked out when the URL as configured did not match."""
    signed_params = _signed_params(params)
    if any(crypto.same(signature, _signature(token, url, signed_params)) for token in tokens):
        return True
    parsed = urlparse(url)
    variants = dict.fromkeys((add_port(parsed), remove_port(parsed)))
    variants.pop(url, None)
    return any(
        crypto.same(signature, _signature(token, candidate, signed_params))
        for token in tokens
        for candidate in variants
    )
