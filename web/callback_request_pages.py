"""Callback requests: the public page "Rückruf anfordern" of each line, `/rueckruf/<line>`,
where a client asks to be called back (a task for the team:
hotline.tasks.callback_requests).

No sign-in, no cookies, no script, nothing from elsewhere. Against bots: a honeypot field, a
signed timestamp in the form (filled in faster than MIN_FILL or older than MAX_AGE: refused),
a body cap, and limits per client address and per number (counted in the database, see
hotline.tasks). Bots are refused quietly: they get the same thank-you page as people, so
they learn nothing. People get messages next to the fields, and nothing is stored until
everything is right.

In the line's languages (`[lines.<slug>] languages`, the words in `config.callback_form`): the
page is in the language `?lang=<code>` names, else the line's first; a link per language
switches (no script), the form posts back with its language, and the request records it.
`lang` and `dir` (right to left for Arabic) are set on the page.

The client address is the socket peer as uvicorn reports it: uvicorn replaces it by the
`X-Forwarded-For` address only for a proxy in its `FORWARDED_ALLOW_IPS` (default 127.0.0.1).
"""

from __future__ import annotations

import ipaddress
import logging
import secrets
import time
from dataclasses import dataclass
from datetime import date, timedelta
from urllib.parse import parse_qs

import phonenumbers
from sqlalchemy.exc import IntegrityError
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from config.callback_form import BUILT_IN as BUILT_IN_FORM
from config.languages import GERMAN, is_rtl, native_name
from config.phone import InvalidPhoneNumber, normalise
from config.settings import Settings
from foundation import crypto, once, outbox, text
from foundation.clock import utcnow
from foundation.db import Database
from hotline.tasks.callback_requests import (
    MAX_MESSAGE,
    MAX_NAME,
    PREFERRED_DAYS,
    WINDOWS,
    Flooded,
    NewCallbackRequest,
    create_callback_request,
)
from web.auth import csrf_token

log = logging.getLogger(__name__)
MAX_BODY = 8 * 1024
MAX_FIELDS = 20
MIN_FILL = 3  # seconds: faster than a person can fill in the form
MAX_AGE = 2 * 3600  # seconds: an older form is expired
TOKEN_LIFETIME = timedelta(seconds=MAX_AGE, hours=1)  # a used token is remembered this long
HONEYPOT = "website"
TOKEN_PURPOSE = "callback-form"  # noqa: S105 - an HMAC purpose, not a secret
NONCE_BYTES = 12
# Numbers a counsellor may call back (no premium-rate or shared-cost numbers: calling them
# would cost the service money, a known abuse of call-back forms).
CALLABLE = {
    phonenumbers.PhoneNumberType.FIXED_LINE,
    phonenumbers.PhoneNumberType.MOBILE,
    phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
    phonenumbers.PhoneNumberType.VOIP,
}
LANGUAGE_PARAM = "lang"


def messages(texts: dict[str, str]) -> dict[str, str]:
    """What is wrong with a field, in the words of one language (`config.callback_form`)."""
    return {
        "phone": texts["error_phone"],
        "phone_type": texts["error_phone_type"],
        "name": texts["error_name"].format(max=MAX_NAME),
        "time_window": texts["error_time_window"],
        "preferred_date": texts["error_preferred_date"].format(days=PREFERRED_DAYS),
        "message": texts["error_message"].format(max=MAX_MESSAGE),
        "characters": texts["error_characters"],
    }


# --- pure parts -------------------------------------------------------------------------------


def form_token(settings: Settings, line: str, issued: int) -> str:
    """`issued.nonce.signature`: when the form was handed out and a random nonce (every form
    its own token, so that one can be used once), signed with the secret key."""
    nonce = secrets.token_urlsafe(NONCE_BYTES)
    signature = csrf_token(settings, TOKEN_PURPOSE, f"{line}:{issued}:{nonce}")
    return f"{issued}.{nonce}.{signature}"


def token_age(settings: Settings, line: str, token: str, now: float) -> float | None:
    """Seconds since the form was handed out, or None if the token is not ours."""
    issued, _, rest = token.partition(".")
    nonce, _, signature = rest.partition(".")
    if not (issued.isascii() and issued.isdigit()) or len(issued) > 12:
        return None
    if not nonce.isascii() or (signature and len(nonce) > 32):
        return None
    if not signature:
        # `issued.signature`, the token of a form handed out before every form had its own
        # nonce: still accepted (once, like any token) while such a form can be young enough,
        # so that nobody who opened the page before an upgrade loses what she typed.
        expected, signature = csrf_token(settings, TOKEN_PURPOSE, f"{line}:{issued}"), nonce
    else:
        expected = csrf_token(settings, TOKEN_PURPOSE, f"{line}:{issued}:{nonce}")
    if not crypto.same(signature, expected):
        return None
    return now - int(issued)


def client_key(address: str) -> str:
    """What the flood limit counts: an IPv4 address, or the /64 of an IPv6 address (one
    household or server gets a whole /64)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address[:64]
    if ip.version == 6:
        mapped = ip.ipv4_mapped
        if mapped is not None:
            return str(mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def _callable_number(raw: str) -> tuple[str | None, str | None]:
    """(E.164, None) or (None, error key)."""
    if not raw or len(raw) > 40:
        return None, "phone"
    try:
        number = normalise(raw)
    except InvalidPhoneNumber:
        return None, "phone"
    if phonenumbers.number_type(phonenumbers.parse(number)) not in CALLABLE:
        return None, "phone_type"
    return number, None


def _preferred_date(raw: str, today: date) -> tuple[date | None, bool]:
    """(the day or None, ok)."""
    if not raw:
        return None, True
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        return None, False
    return day, today <= day <= today + timedelta(days=PREFERRED_DAYS)


@dataclass(frozen=True, slots=True)
class Filled:
    """What the visitor typed (for the form shown again) and what it means."""

    values: dict[str, str]
    request: NewCallbackRequest | None
    errors: dict[str, str]


def read_form(
    line: str,
    fields: dict[str, str],
    client: str,
    today: date,
    *,
    language: str = GERMAN,
    texts: dict[str, str] | None = None,
) -> Filled:
    """Validate the form; a message per field that is wrong, in `texts` (default German)."""
    said = messages(texts or BUILT_IN_FORM[GERMAN])
    values = {
        "name": fields.get("name", "").strip(),
        "phone": fields.get("phone", "").strip(),
        "time_window": fields.get("time_window", "").strip(),
        "preferred_date": fields.get("preferred_date", "").strip(),
        "message": fields.get("message", "").replace("\r\n", "\n").strip(),
        "confirm_sms": "ja" if fields.get("confirm_sms") else "",
    }
    refused = {  # the text area keeps its line breaks
        name: said["characters"]
        for name, value in values.items()
        if text.refused(value, multi_line=name == "message")
    }
    errors: dict[str, str] = {}
    if len(values["name"]) > MAX_NAME:
        errors["name"] = said["name"]
    phone, problem = _callable_number(values["phone"])
    if problem:
        errors["phone"] = said[problem]
    if values["time_window"] not in WINDOWS:
        errors["time_window"] = said["time_window"]
    day, day_ok = _preferred_date(values["preferred_date"], today)
    if not day_ok:
        errors["preferred_date"] = said["preferred_date"]
    if len(values["message"]) > MAX_MESSAGE:
        errors["message"] = said["message"]
    if refused:  # not shown again either
        values = {name: "" if name in refused else value for name, value in values.items()}
        return Filled(values, None, {**errors, **refused})
    if errors or phone is None:
        return Filled(values, None, errors)
    new = NewCallbackRequest(
        line=line,
        phone=phone,
        time_window=values["time_window"],
        client=client,
        name=values["name"],
        preferred_date=day,
        message=values["message"],
        confirm_sms=bool(values["confirm_sms"]),
        language=language,
    )
    return Filled(values, new, {})


# --- pages ------------------------------------------------------------------------------------


def language_of(settings: Settings, line: str | None, asked: str | None) -> str:
    """The page's language: the one asked for if the line offers it, else the line's first
    (an unknown line: any language a line offers, else German)."""
    config = settings.config
    offered = config.lines[line].languages if line in config.lines else config.languages
    if asked in offered:
        return str(asked)
    return offered[0] if line in config.lines else GERMAN


def _language(request: Request) -> str:
    settings: Settings = request.app.state.settings
    line = str(request.path_params.get("line", ""))
    return language_of(settings, line, request.query_params.get(LANGUAGE_PARAM))


def _href(path: str, language: str, first: str) -> str:
    """The path in `language`; the line's first language needs no parameter."""
    return path if language == first else f"{path}?{LANGUAGE_PARAM}={language}"


def _page(request: Request, state: str, status: int = 200, **context: object) -> Response:
    """callback.html in one of its states: form, thanks, limited, too_large, missing; in the
    page's language, with a link to each other language of the line."""
    settings: Settings = request.app.state.settings
    line = str(request.path_params.get("line", ""))
    language = _language(request)
    known = line in settings.config.lines
    offered = settings.config.lines[line].languages if known else ()
    first = offered[0] if offered else GERMAN
    path = request.url.path
    switch = [
        {
            "code": code,
            "name": native_name(code),
            "href": _href(path, code, first),
            "current": code == language,
            "rtl": is_rtl(code),
        }
        for code in offered
    ]
    response: Response = request.app.state.templates.TemplateResponse(
        request,
        "callback.html",
        {
            "state": state,
            "line": line if known else "",
            "lang": language,
            "rtl": is_rtl(language),
            "t": settings.config.form_texts(language),
            "switch": switch if len(switch) > 1 else [],
            "action": _href(f"/rueckruf/{line}", language, first),
            "back": _href(f"/rueckruf/{line}", language, first),
            **context,
        },
        status_code=status,
    )
    response.headers["Cache-Control"] = "no-store"  # nothing typed lingers in a shared cache
    return response


def _thanks_url(settings: Settings, line: str, language: str) -> str:
    first = settings.config.lines[line].languages[0]
    return _href(f"/rueckruf/{line}/danke", language, first)


def _form(
    request: Request,
    *,
    token: str,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    notice: str | None = None,
    status: int = 200,
) -> Response:
    settings: Settings = request.app.state.settings
    today = _today(settings)
    texts = settings.config.form_texts(_language(request))
    return _page(
        request,
        "form",
        status,
        token=token,
        values=values or {"time_window": "egal"},
        errors=errors or {},
        notice=notice,
        windows={key: texts[f"window_{key}"] for key in WINDOWS},
        today=today.isoformat(),
        last_day=(today + timedelta(days=PREFERRED_DAYS)).isoformat(),
        max_name=MAX_NAME,
        max_message=MAX_MESSAGE,
        message_hint=texts["message_hint"].format(max=MAX_MESSAGE),
        honeypot=HONEYPOT,
    )


def _today(settings: Settings) -> date:
    return utcnow().astimezone(settings.config.organisation.zone).date()


def _known(request: Request) -> str | None:
    settings: Settings = request.app.state.settings
    line = str(request.path_params.get("line", ""))
    return line if line in settings.config.lines else None


def _missing(request: Request) -> Response:
    return _page(request, "missing", 404)


async def callback_form(request: Request) -> Response:
    line = _known(request)
    if line is None:
        return _missing(request)
    token = form_token(request.app.state.settings, line, int(time.time()))
    return _form(request, token=token)


async def thanks(request: Request) -> Response:
    if _known(request) is None:
        return _missing(request)
    return _page(request, "thanks")


async def _body(request: Request) -> bytes | None:
    """The body, or None if it is larger than MAX_BODY (read no further than that)."""
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > MAX_BODY:
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            return None
    return bytes(body)


def _fields(body: bytes) -> dict[str, str] | None:
    try:
        parsed = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=MAX_FIELDS)
    except (UnicodeDecodeError, ValueError):
        return None
    return {name: values[0] for name, values in parsed.items()}


def _quietly(request: Request, line: str, reason: str) -> Response:
    """What a bot gets: exactly what a person gets after sending the form."""
    log.info("callback form of line %s: a submission refused (%s)", line, reason)
    settings: Settings = request.app.state.settings
    return RedirectResponse(_thanks_url(settings, line, _language(request)), status_code=303)


async def submit(request: Request) -> Response:
    settings: Settings = request.app.state.settings
    db: Database = request.app.state.db
    line = _known(request)
    if line is None:
        return _missing(request)
    body = await _body(request)
    if body is None:
        return _page(request, "too_large", 413)
    fields = _fields(body)
    if fields is None:
        return _quietly(request, line, "unreadable")
    now = time.time()
    age = token_age(settings, line, fields.get("token", ""), now)
    if age is None:
        return _quietly(request, line, "no token")
    if fields.get(HONEYPOT):
        return _quietly(request, line, "honeypot")
    if age < MIN_FILL:
        return _quietly(request, line, "too fast")
    address = request.client.host if request.client else "unknown"
    language = _language(request)
    texts = settings.config.form_texts(language)
    filled = read_form(
        line, fields, client_key(address), _today(settings), language=language, texts=texts
    )
    if age > MAX_AGE:
        # A person who left the page open: the same form again, their input kept, and a
        # token that may be sent at once.
        fresh = form_token(settings, line, int(now) - MIN_FILL)
        return _form(
            request,
            token=fresh,
            values=filled.values,
            errors=filled.errors,
            notice=texts["expired"],
            status=400,
        )
    if filled.request is None:
        token = fields.get("token", "")  # already old enough: a quick correction is welcome
        return _form(request, token=token, values=filled.values, errors=filled.errors, status=422)
    new = filled.request

    token = fields.get("token", "")

    def store() -> list[int] | None:
        """The outbox ids to deliver; None if the form was sent before (its token used)."""
        with db.write() as session:
            if not once.use(session, TOKEN_PURPOSE, token):
                return None
            return create_callback_request(session, settings, new, request.app.state.rota)

    try:
        message_ids = await run_in_threadpool(store)
    except IntegrityError:  # the same form sent twice at once: the other one stored it
        message_ids = None
    except Flooded as exc:
        log.info("callback form of line %s: too many requests per %s", line, exc.scope)
        return _page(request, "limited", 429, number=settings.config.lines[line].number)
    if message_ids is None:
        # A second send of one form (a double click, the back button, a replay): the first
        # is stored; this one gets the same thank-you page and stores nothing.
        return _quietly(request, line, "form sent before")
    response = RedirectResponse(_thanks_url(settings, line, language), status_code=303)
    if message_ids:
        provider = request.app.state.provider
        response.background = BackgroundTask(
            outbox.deliver_all, db, settings, provider, message_ids
        )
    return response


routes = [
    Route("/rueckruf/{line}", callback_form, methods=["GET"]),
    Route("/rueckruf/{line}", submit, methods=["POST"]),
    Route("/rueckruf/{line}/danke", thanks, methods=["GET"]),
]
