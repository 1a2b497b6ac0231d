"""Twilio webhooks for calls: /twilio/voice and the steps that follow it, /twilio/status and
/twilio/fallback.

Two rules hold for every request:

* **Trust nothing unsigned.** The signature is checked against HOTLINE_PUBLIC_URL + path +
  query (never forwarded headers) before anything else happens; a bad one is a 403.
* **Fail open.** Whatever goes wrong after that (database gone, empty rota, a bug, a step that
  takes too long) the caller is connected to the line's fallback number, from the configuration
  held in memory. A call webhook never answers with a 5xx or a non-TwiML body.

The call's plan (who to ring in which order) is recomputed at every step from the rota at the
instant the call came in (`t` in the step URLs), so the steps need no session state.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl, urlencode

import anyio
from anyio import to_thread
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from twilio.request_validator import RequestValidator
from twilio.twiml.voice_response import VoiceResponse

from config.model import HotlineConfig, Line
from config.phone import InvalidPhoneNumber, normalise
from config.settings import Settings
from foundation import outbox
from foundation.clock import utcnow
from foundation.db import Database
from foundation.outgoing import Provider
from hotline import calls, hours, twiml, voice_calls
from hotline.routing import Rota, Target
from web import hotpath

log = logging.getLogger(__name__)

MAX_BODY = 32 * 1024
# Twilio gives a webhook 15 s; past this budget the caller goes to the fallback number.
BUDGET_SECONDS = 8.0
TWIML = "application/xml"


@dataclass(frozen=True, slots=True)
class Context:
    settings: Settings
    db: Database
    params: dict[str, str]
    query: dict[str, str]
    state: Any = None  # the app's state: snapshots and the call recorder, when running

    @property
    def recorder(self) -> hotpath.Recorder | None:
        return getattr(self.state, "recorder", None)

    @property
    def snapshots(self) -> hotpath.Snapshots | None:
        return getattr(self.state, "snapshots", None)

    @property
    def config(self) -> Any:
        return self.settings.config

    @property
    def rota(self) -> Rota:
        rota: Rota = self.state.rota
        return rota

    @property
    def provider(self) -> Provider:
        provider: Provider = self.state.provider
        return provider

    def url(self, path: str, **params: object) -> str:
        return f"{self.settings.public_url}{path}?{urlencode(params)}"


def respond(document: VoiceResponse, background: BackgroundTask | None = None) -> Response:
    return Response(str(document), media_type=TWIML, background=background)


# --- signature --------------------------------------------------------------------------------


async def _signed_params(request: Request, settings: Settings) -> dict[str, str] | Response:
    # Straight from the ASGI scope: this runs for every call, and Request.url re-parses.
    path: str = request.scope["path"]
    query: str = request.scope["query_string"].decode("latin-1")
    headers = request.headers
    declared = headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        return Response("request too large", status_code=413, media_type="text/plain")
    raw = await request.body()
    if len(raw) > MAX_BODY:
        return Response("request too large", status_code=413, media_type="text/plain")
    try:
        params = dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
    except UnicodeDecodeError:
        params = {}
    url = settings.public_url + path + (f"?{query}" if query else "")
    signature = headers.get("x-twilio-signature", "")
    if not signature or not _valid_signature(settings.webhook_tokens(), url, params, signature):
        log.warning("refused a request to %s with a missing or invalid signature", path)
        return Response("invalid signature", status_code=403, media_type="text/plain")
    return params


def twilio_signature(token: str, url: str, params: dict[str, str]) -> str:
    """Twilio's signature: HMAC-SHA1 of the URL followed by every POST parameter name and
    value in name order, base64. The same as RequestValidator.compute_signature (a test
    checks both against Twilio's published example), without its per-call overhead."""
    payload = url + "".join(f"{name}{params[name]}" for name in sorted(params))
    digest = hmac.new(token.encode(), payload.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


@lru_cache(maxsize=8)
def _validators(tokens: tuple[str, ...]) -> tuple[RequestValidator, ...]:
    return tuple(RequestValidator(token) for token in tokens)


def _valid_signature(
    tokens: tuple[str, ...], url: str, params: dict[str, str], signature: str
) -> bool:
    """Twilio's check. The URL exactly as configured is tried first (one HMAC); only if that
    fails, RequestValidator.validate, which also tries the URL with and without the port."""
    for token in tokens:
        if hmac.compare_digest(twilio_signature(token, url, params), signature):
            return True
    return any(validator.validate(url, params, signature) for validator in _validators(tokens))


Handler = Callable[[Context], Response]
# A fast path answers, names the line whose snapshot is missing, or declines (None).
Fast = Callable[[Context], Response | str | None]
REFRESH_WAIT_SECONDS = 2.0
Recover = Callable[[Settings, dict[str, str], dict[str, str]], VoiceResponse]


def webhook(
    handler: Handler, recover: Recover, *, fast: Fast | None = None
) -> Callable[[Request], Awaitable[Response]]:
    """Signature first; then `fast` (from memory, on the event loop) if it can answer; else
    the handler, in a worker thread, within the time budget, after writing queued call
    records; any failure answers with `recover`'s TwiML, built from memory alone."""

    def run(context: Context) -> Response:
        if context.recorder is not None and fast is None:
            context.recorder.flush()  # later steps must find the records of the hot path
        return handler(context)

    async def endpoint(request: Request) -> Response:
        settings: Settings = request.app.state.settings
        params = await _signed_params(request, settings)
        if isinstance(params, Response):
            return params
        query = dict(request.query_params)
        context = Context(settings, request.app.state.db, params, query, request.app.state)
        refreshing: anyio.Event | None = None
        if fast is not None:
            answer = _fast(fast, context)
            if isinstance(answer, Response):
                return answer
            if isinstance(answer, str) and context.snapshots is not None:
                # Single flight: one request refreshes the line's snapshot, the others wait
                # for it instead of all taking the slow path at once.
                pending = context.snapshots.refreshing.get(answer)
                if pending is None:
                    refreshing = context.snapshots.refreshing[answer] = anyio.Event()
                else:
                    with anyio.move_on_after(REFRESH_WAIT_SECONDS):
                        await pending.wait()
                    again = _fast(fast, context)
                    if isinstance(again, Response):
                        return again
        try:
            return await _slow(request, context, run, recover)
        finally:
            if refreshing is not None and context.snapshots is not None:
                context.snapshots.refreshing.pop(str(answer), None)
                refreshing.set()

    return endpoint


def _fast(fast: Fast, context: Context) -> Response | str | None:
    try:
        return fast(context)
    except Exception as exc:
        log.error("fast path failed (%s); taking the slow one", type(exc).__name__)
        return None


async def _slow(request: Request, context: Context, run: Handler, recover: Recover) -> Response:
    settings, params, query = context.settings, context.params, context.query
    started = time.perf_counter()
    try:
        with anyio.fail_after(BUDGET_SECONDS):
            return await to_thread.run_sync(
                run,
                context,
                abandon_on_cancel=True,
                limiter=getattr(request.app.state, "webhook_limiter", None),
            )
    except Exception as exc:
        # Never the message: database errors can quote parameters.
        log.error(
            "%s failed after %.1f s (%s at %s); answering from memory",
            request.url.path,
            time.perf_counter() - started,
            type(exc).__name__,
            _where(exc),
        )
        return _recovered(recover, settings, params, query)


def _recovered(
    recover: Recover, settings: Settings, params: dict[str, str], query: dict[str, str]
) -> Response:
    try:
        return respond(recover(settings, params, query))
    except Exception as exc:
        log.critical("recovery failed too (%s); dialling the general number", type(exc).__name__)
        return respond(twiml.last_resort(settings.config))


def _where(exc: BaseException) -> str:
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return f"{tb.tb_frame.f_code.co_filename}:{tb.tb_lineno}" if tb else "?"


# --- the line of a request, from memory -------------------------------------------------------


def _line_of(settings: Settings, params: dict[str, str], query: dict[str, str]) -> str | None:
    config = settings.config
    if query.get("line") in config.lines:
        return query["line"]
    return _line_for(config, params.get("To", ""))


def _line_for(config: HotlineConfig, dialled: str) -> str | None:
    """The line of a dialled number; Twilio sends our numbers in E.164, so usually a lookup."""
    slug = config.line_by_number.get(dialled)
    if slug is not None:
        return slug
    try:
        found = config.line_for_number(normalise(dialled))
    except InvalidPhoneNumber:
        return None
    return found[0] if found else None


def static_fallback(
    settings: Settings, params: dict[str, str], query: dict[str, str]
) -> VoiceResponse:
    """Connect the caller to the line's fallback number (the general number for an unknown
    line). Needs nothing but the configuration in memory."""
    slug = _line_of(settings, params, query)
    return twiml.fallback(settings.config, slug, params.get("To", ""))


def _bridge_anyway(_s: Settings, _p: dict[str, str], _q: dict[str, str]) -> VoiceResponse:
    # On the counsellor's leg: if screening breaks, connecting beats dropping the caller.
    return twiml.bridge()


def _thanks_anyway(
    settings: Settings, params: dict[str, str], query: dict[str, str]
) -> VoiceResponse:
    return twiml.after_voicemail(settings.config, _line_of(settings, params, query))


def _empty(_s: Settings, _p: dict[str, str], _q: dict[str, str]) -> VoiceResponse:
    return twiml.empty()


# --- the steps of a call ---------------------------------------------------------------------


def _step(
    context: Context,
    slug: str,
    line: Line,
    *,
    at: datetime,
    step: int,
    relative: bool,
    greet: bool,
    steps: list[list[Target]] | None = None,
) -> Response:
    """The TwiML of step `step` of the call's plan: ring its counsellors, or past the last
    step the line's fallback number."""
    if steps is None:
        steps = voice_calls.steps(context.db, context.rota, line, at, relative=relative)
    common = {"line": slug, "t": int(at.timestamp()), "rel": int(relative)}
    if step < len(steps):
        return respond(
            twiml.dial(
                line,
                steps[step],
                action=context.url("/twilio/voice/dialed", **common, step=step),
                # The parent call comes as ParentCallSid: the same TwiML serves every call.
                screen_url=(
                    context.url("/twilio/voice/screen", line=slug) if line.screening else None
                ),
                greet=greet,
            )
        )
    if step == 0:
        log.warning("line %s: nobody on call; ringing the fallback number", slug)
    return respond(
        twiml.fallback_dial(
            line,
            context.config.fallback_for(slug),
            action=context.url("/twilio/voice/fallback-dialed", **common),
            greet=greet,
        )
    )


def _query_line(context: Context) -> tuple[str, Line]:
    slug = context.query.get("line", "")
    return slug, context.config.lines[slug]


def _query_instant(context: Context) -> datetime:
    return datetime.fromtimestamp(int(context.query["t"]), UTC)


def _caller(context: Context) -> voice_calls.Caller:
    return voice_calls.Caller(context.params.get("CallSid", ""), context.params.get("From", ""))


def _voicemail_url(context: Context, slug: str) -> str:
    return context.url("/twilio/voice/voicemail", line=slug)


# --- handlers ---------------------------------------------------------------------------------


def incoming(context: Context) -> Response:
    slug = _line_of(context.settings, context.params, {})
    if slug is None:
        log.warning("call to a number that is no configured line; sent to the general number")
        return respond(static_fallback(context.settings, context.params, {}))
    line = context.config.lines[slug]
    now = utcnow()
    version = hotpath.rota_version()  # before reading the rota: a change meanwhile drops it
    keep = context.snapshots is not None
    opened = voice_calls.open_call(
        context.db, context.settings, context.rota, slug, _caller(context), now, next_change=keep
    )
    if opened.closed is not None:
        return respond(twiml.closed(line, opened.closed, _voicemail_url(context, slug)))
    if line.relatives_menu:
        common = {"line": slug, "t": int(now.timestamp())}
        return respond(
            twiml.menu(
                line,
                action=context.url("/twilio/voice/menu", **common),
                no_choice=context.url("/twilio/voice/route", **common, rel=0),
            )
        )
    plan = opened.plan
    steps = plan.steps if plan is not None else None
    response = _step(context, slug, line, at=now, step=0, relative=False, greet=True, steps=steps)
    if plan is not None and context.snapshots is not None:
        context.snapshots.put(
            slug,
            bytes(response.body).decode(),
            plan.team_id,
            now=now,
            next_change=plan.next_change,
            version=version,
        )
    return response


async def _refresh_in_background(context: Context, slug: str) -> None:
    snapshots = context.snapshots
    try:
        await to_thread.run_sync(
            refresh_snapshot, context, slug, limiter=getattr(context.state, "webhook_limiter", None)
        )
    except Exception as exc:
        log.error("line %s: snapshot not refreshed (%s)", slug, type(exc).__name__)
    finally:
        if snapshots is not None:
            event = snapshots.refreshing.pop(slug, None)
            if event is not None:
                event.set()


def refresh_snapshot(context: Context, slug: str) -> None:
    """Recompute a line's first answer without a call (stale-while-revalidate)."""
    snapshots = context.snapshots
    if snapshots is None:
        return
    line = context.config.lines[slug]
    now = utcnow()
    version = hotpath.rota_version()
    plan = voice_calls.first_plan(context.db, context.settings, context.rota, slug, now)
    response = _step(
        context, slug, line, at=now, step=0, relative=False, greet=True, steps=plan.steps
    )
    snapshots.put(
        slug,
        bytes(response.body).decode(),
        plan.team_id,
        now=now,
        next_change=plan.next_change,
        version=version,
    )


def incoming_fast(context: Context) -> Response | str | None:
    """The hot path: the line's current snapshot, if there is one, and the record queued."""
    snapshots, recorder = context.snapshots, context.recorder
    if snapshots is None or recorder is None:
        return None
    slug = _line_of(context.settings, context.params, {})
    if slug is None:
        return None
    line = context.config.lines[slug]
    now = utcnow()
    if line.relatives_menu or hours.closed_reason(context.config, line, now) is not None:
        return None
    cached = snapshots.get(slug, now)
    if cached is None:
        return slug
    document, team_id, stale = cached
    tasks = getattr(context.state, "tasks", None)
    if stale and tasks is not None and slug not in snapshots.refreshing:
        snapshots.refreshing[slug] = anyio.Event()
        tasks.start_soon(_refresh_in_background, context, slug)
    record = calls.call_values(
        call_sid=context.params.get("CallSid", ""),
        line=slug,
        team_id=team_id,
        caller_hash=voice_calls.caller_hash(context.settings, line, context.params.get("From", "")),
        at=now,
    )
    if not recorder.add(record):
        return None
    return Response(document, media_type=TWIML)


def menu_choice(context: Context) -> Response:
    slug, line = _query_line(context)
    relative = voice_calls.menu_chosen(
        context.db, context.params.get("CallSid", ""), context.params.get("Digits", "")
    )
    return _step(
        context, slug, line, at=_query_instant(context), step=0, relative=relative, greet=False
    )


def route(context: Context) -> Response:
    slug, line = _query_line(context)
    relative = context.query.get("rel") == "1"
    return _step(
        context, slug, line, at=_query_instant(context), step=0, relative=relative, greet=False
    )


def dialed(context: Context) -> Response:
    """A tier's Dial ended: done if someone took the call, else the next step."""
    slug, line = _query_line(context)
    taken = voice_calls.dial_ended(
        context.db,
        line,
        context.params.get("CallSid", ""),
        context.params.get("DialCallStatus", ""),
        _int(context.params.get("DialCallDuration")),
    )
    if taken:
        return respond(twiml.hang_up())
    return _step(
        context,
        slug,
        line,
        at=_query_instant(context),
        step=_int(context.query.get("step")) + 1,
        relative=context.query.get("rel") == "1",
        greet=False,
    )


def fallback_dialed(context: Context) -> Response:
    slug, line = _query_line(context)
    answered = voice_calls.fallback_ended(
        context.db,
        context.params.get("CallSid", ""),
        context.params.get("DialCallStatus", ""),
        utcnow(),
    )
    if answered:
        return respond(twiml.hang_up())
    return respond(twiml.nobody_reached(line, _voicemail_url(context, slug)))


def screen(context: Context) -> Response:
    """The counsellor answered: the whisper, and 'press 1'."""
    slug, line = _query_line(context)
    action = context.url(
        "/twilio/voice/screen/answer",
        line=slug,
        parent=context.params.get("ParentCallSid") or context.query.get("parent", ""),
        cid=_int(context.query.get("cid")),
    )
    return respond(twiml.whisper(line, action))


def screen_answer(context: Context) -> Response:
    taken = voice_calls.screen_answered(
        context.db,
        context.query.get("parent", ""),
        _int(context.query.get("cid")),
        context.params.get("Digits", ""),
        utcnow(),
    )
    return respond(twiml.bridge() if taken else twiml.hang_up())


def voicemail_left(context: Context) -> Response:
    slug, line = _query_line(context)
    message_ids = voice_calls.voicemail_left(
        context.db,
        context.settings,
        context.rota,
        slug,
        _caller(context),
        recording_sid=context.params.get("RecordingSid", ""),
        seconds=_int(context.params.get("RecordingDuration")),
        now=utcnow(),
    )
    background = None
    if message_ids:
        background = BackgroundTask(
            outbox.deliver_all, context.db, context.settings, context.provider, message_ids
        )
    return respond(twiml.thanks(line), background)


def status_callback(context: Context) -> Response:
    duration = context.params.get("CallDuration")
    voice_calls.status_changed(
        context.db,
        context.params.get("CallSid", ""),
        context.params.get("CallStatus", ""),
        _int(duration) if duration else None,
        utcnow(),
    )
    return respond(twiml.empty())


async def fallback_url(request: Request) -> Response:
    """Twilio's fallback URL: static TwiML from memory, no database, no worker thread."""
    settings: Settings = request.app.state.settings
    params = await _signed_params(request, settings)
    if isinstance(params, Response):
        return params
    return _recovered(static_fallback, settings, params, dict(request.query_params))


def _int(raw: str | None) -> int:
    try:
        return int(raw or 0)
    except ValueError:
        return 0


routes = [
    Route(
        "/twilio/voice", webhook(incoming, static_fallback, fast=incoming_fast), methods=["POST"]
    ),
    Route("/twilio/voice/menu", webhook(menu_choice, static_fallback), methods=["POST"]),
    Route("/twilio/voice/route", webhook(route, static_fallback), methods=["POST"]),
    Route("/twilio/voice/dialed", webhook(dialed, static_fallback), methods=["POST"]),
    Route(
        "/twilio/voice/fallback-dialed", webhook(fallback_dialed, static_fallback), methods=["POST"]
    ),
    Route("/twilio/voice/screen", webhook(screen, _bridge_anyway), methods=["POST"]),
    Route("/twilio/voice/screen/answer", webhook(screen_answer, _bridge_anyway), methods=["POST"]),
    Route("/twilio/voice/voicemail", webhook(voicemail_left, _thanks_anyway), methods=["POST"]),
    Route("/twilio/status", webhook(status_callback, _empty), methods=["POST"]),
    Route("/twilio/fallback", fallback_url, methods=["POST"]),
]
