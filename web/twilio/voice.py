"""Twilio's webhooks of a call to a line: /twilio/voice and the steps that follow it,
/twilio/status and /twilio/fallback.

Each handler reads Twilio's parameters, asks the use case in `hotline.voice_calls` what the step
means, and answers with the TwiML of `hotline.twiml`, carrying the URLs of the next steps.
Signature, time budget and fail-open recovery are `web.twilio.webhook`'s; the first answer of a
call usually comes from memory (`web.twilio.hotpath`).

The call's plan (who to ring in which order) is recomputed at every step from the rota at the
instant the call came in (`t` in the step URLs), in the caller's language (`lang`), so the
steps need no session state.

A line of several languages answers with its language menu in front (`hotline.twiml.
language_menu`): a key posts to /twilio/voice/language, which goes on in that language; no key
goes on with what follows the menu in the same answer, in the line's first language. So the
first answer is still one document per line (the hot path keeps it), and a caller who presses
nothing costs no extra request.
"""

from __future__ import annotations

import contextlib
import logging
from datetime import UTC, datetime

import anyio
from anyio import to_thread
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from twilio.twiml.voice_response import VoiceResponse

from config.languages import Speech
from config.model import Line
from config.settings import Settings
from foundation import outbox
from foundation.clock import utcnow
from foundation.models import Tier
from hotline import calls, hours, twiml, voice_calls
from web.twilio import hotpath
from web.twilio.signature import signed_params, valid_signature
from web.twilio.webhook import (
    Context,
    int_param,
    line_of,
    part,
    recovered,
    respond,
    webhook,
)

log = logging.getLogger(__name__)
TIER_NAMES = frozenset(tier.value for tier in Tier)


def static_fallback(
    settings: Settings, params: dict[str, str], query: dict[str, str]
) -> VoiceResponse:
    """Connect the caller to the line's fallback number (the general number for an unknown
    line). Needs nothing but the configuration in memory."""
    slug = line_of(settings, params, query)
    return twiml.fallback(settings.config, slug, params.get("To", ""), query.get("lang"))


def _bridge_anyway(_s: Settings, _p: dict[str, str], _q: dict[str, str]) -> VoiceResponse:
    # On the counsellor's leg: if screening breaks, connecting beats dropping the caller.
    return twiml.bridge()


def _thanks_anyway(
    settings: Settings, params: dict[str, str], query: dict[str, str]
) -> VoiceResponse:
    return twiml.after_voicemail(
        settings.config, line_of(settings, params, query), query.get("lang")
    )


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
    speech: Speech,
    plan: voice_calls.Steps | None = None,
    choose_at: str | None = None,
) -> Response:
    """The TwiML of step `step` of the call's plan: ring its counsellors, or past the last
    step the line's fallback number (saying so first when everyone on call is in another
    conversation). `choose_at`: the language menu in front (the call's first answer)."""
    if plan is None:
        plan = voice_calls.steps(
            context.db,
            context.rota,
            line,
            at,
            relative=relative,
            call_sid=context.params.get("CallSid", ""),
            now=utcnow() if step == 0 else None,  # who is busy is decided at the first step
            language=speech.code,
        )
    steps = plan.steps
    common = {"line": slug, "t": int(at.timestamp()), "rel": int(relative), "lang": speech.code}
    if step < len(steps):
        return respond(
            twiml.dial(
                line,
                speech,
                steps[step],
                action=context.url("/twilio/voice/dialed", **common, step=step),
                # The parent call comes as ParentCallSid: the same TwiML serves every call.
                screen_url=(
                    context.url("/twilio/voice/screen", line=slug, lang=speech.code)
                    if line.screening
                    else None
                ),
                greet=greet,
                choose_at=choose_at,
            )
        )
    all_busy = step == 0 and plan.all_busy
    if all_busy:
        log.info("line %s: everyone on call is in a conversation; ringing the fallback", slug)
    elif step == 0:
        log.warning("line %s: nobody on call; ringing the fallback number", slug)
    return respond(
        twiml.fallback_dial(
            line,
            speech,
            context.config.fallback_for(slug),
            action=context.url("/twilio/voice/fallback-dialed", **common),
            greet=greet,
            all_busy=all_busy,
            choose_at=choose_at,
        )
    )


def _query_line(context: Context) -> tuple[str, Line]:
    slug = context.query.get("line", "")
    return slug, context.config.lines[slug]


def _query_speech(context: Context, line: Line) -> Speech:
    """The caller's language from the step URL (the line's first one if none or unknown)."""
    return line.in_language(context.query.get("lang"))


def _query_instant(context: Context) -> datetime:
    return datetime.fromtimestamp(int(context.query["t"]), UTC)


def _caller(context: Context) -> voice_calls.Caller:
    return voice_calls.Caller(context.params.get("CallSid", ""), context.params.get("From", ""))


def _voicemail_url(context: Context, slug: str, speech: Speech) -> str:
    return context.url("/twilio/voice/voicemail", line=slug, lang=speech.code)


def _choose_at(context: Context, slug: str, line: Line, at: datetime) -> str | None:
    """The action of the line's language menu; None for a line of one language (no menu)."""
    if not line.multilingual:
        return None
    return context.url("/twilio/voice/language", line=slug, t=int(at.timestamp()))


def _after_language(
    context: Context,
    slug: str,
    line: Line,
    speech: Speech,
    *,
    at: datetime,
    closed: str | None,
    choose_at: str | None = None,
    plan: voice_calls.Steps | None = None,
) -> Response:
    """What follows the language menu (or, with `choose_at`, the whole first answer with the
    menu in front): the hours of a closed line, the relatives menu, or the first step, all in
    `speech`'s language."""
    if closed is not None:
        voicemail = _voicemail_url(context, slug, speech)
        return respond(twiml.closed(line, speech, closed, voicemail, choose_at=choose_at))
    if line.relatives_menu:
        common = {"line": slug, "t": int(at.timestamp()), "lang": speech.code}
        return respond(
            twiml.menu(
                line,
                speech,
                action=context.url("/twilio/voice/menu", **common),
                no_choice=context.url("/twilio/voice/route", **common, rel=0),
                choose_at=choose_at,
            )
        )
    return _step(
        context,
        slug,
        line,
        at=at,
        step=0,
        relative=False,
        greet=True,
        speech=speech,
        plan=plan,
        choose_at=choose_at,
    )


# --- handlers ---------------------------------------------------------------------------------


def incoming(context: Context) -> Response:
    slug = line_of(context.settings, context.params, {})
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
    plan = opened.plan
    steps = voice_calls.Steps(plan.steps, plan.skipped) if plan is not None else None
    response = _after_language(
        context,
        slug,
        line,
        line.spoken[0],
        at=now,
        closed=opened.closed,
        choose_at=_choose_at(context, slug, line, now),
        plan=steps,
    )
    if plan is not None:
        _keep(context, slug, response, plan, now=now, version=version)
    return response


def _keep(
    context: Context,
    slug: str,
    response: Response,
    plan: voice_calls.Plan,
    *,
    now: datetime,
    version: int,
) -> None:
    """Keep the line's first answer for the hot path, until the rota changes, unless it left
    out somebody busy (the next call may find her free again: it takes the slow path)."""
    if context.snapshots is not None and not plan.skipped:
        context.snapshots.put(
            slug,
            response,
            plan.team_id,
            now=now,
            next_change=plan.next_change,
            version=version,
            ringing=plan.ringing,
        )


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
    if context.snapshots is None:
        return
    line = context.config.lines[slug]
    now = utcnow()
    version = hotpath.rota_version()
    plan = voice_calls.first_plan(context.db, context.settings, context.rota, slug, now)
    steps = voice_calls.Steps(plan.steps, plan.skipped)
    response = _after_language(
        context,
        slug,
        line,
        line.spoken[0],
        at=now,
        closed=None,
        choose_at=_choose_at(context, slug, line, now),
        plan=steps,
    )
    _keep(context, slug, response, plan, now=now, version=version)


def incoming_fast(context: Context) -> Response | str | None:
    """The hot path: the line's current snapshot, if there is one, and the record queued."""
    snapshots, recorder, closed = context.snapshots, context.recorder, context.closed_reasons
    if snapshots is None or recorder is None or closed is None:
        return None
    slug = line_of(context.settings, context.params, {})
    if slug is None:
        return None
    line = context.config.lines[slug]
    now = utcnow()
    if line.relatives_menu or closed(context.config, line, now) is not None:
        return None
    watch = context.busy
    if watch is None:
        return None
    cached = snapshots.get(slug, now)
    if cached is None:
        return slug
    kept, team_id, stale, ringing = cached
    if watch.busy & ringing:
        return None  # somebody it rings is in another conversation: the slow path skips her
    tasks = part(context.state, "tasks")
    if stale and tasks is not None and slug not in snapshots.refreshing:
        snapshots.refreshing[slug] = anyio.Event()
        tasks.start_soon(_refresh_in_background, context, slug)
    record = calls.call_values(
        call_sid=context.params.get("CallSid", ""),
        line=slug,
        team_id=team_id,
        caller_hash=voice_calls.caller_hash(context.settings, line, context.params.get("From", "")),
        at=now,
        language=line.languages[0],
    )
    if not recorder.add(record):
        return None
    return hotpath.Kept(kept)


def language_choice(context: Context) -> Response:
    """The caller pressed a key at the language menu: the rest of the call in that language
    (the line's hours if it was closed when the call came in, its relatives menu, or the
    first step)."""
    slug, line = _query_line(context)
    at = _query_instant(context)
    speech = voice_calls.language_chosen(
        context.db, line, context.params.get("CallSid", ""), context.params.get("Digits", "")
    )
    closed = hours.closed_reason(context.config, line, at)
    return _after_language(context, slug, line, speech, at=at, closed=closed)


def menu_choice(context: Context) -> Response:
    slug, line = _query_line(context)
    relative = voice_calls.menu_chosen(
        context.db, context.params.get("CallSid", ""), context.params.get("Digits", "")
    )
    return _step(
        context,
        slug,
        line,
        at=_query_instant(context),
        step=0,
        relative=relative,
        greet=False,
        speech=_query_speech(context, line),
    )


def route(context: Context) -> Response:
    slug, line = _query_line(context)
    relative = context.query.get("rel") == "1"
    return _step(
        context,
        slug,
        line,
        at=_query_instant(context),
        step=0,
        relative=relative,
        greet=False,
        speech=_query_speech(context, line),
    )


def dialed(context: Context) -> Response:
    """A tier's Dial ended: done if someone took the call, else the next step."""
    slug, line = _query_line(context)
    taken = voice_calls.dial_ended(
        context.db,
        line,
        context.params.get("CallSid", ""),
        context.params.get("DialCallStatus", ""),
        int_param(context.params.get("DialCallDuration")),
        dial_sid=context.params.get("DialCallSid", ""),
    )
    if taken:
        if context.busy is not None:
            context.busy.refresh()  # the conversation is over: she may be rung again at once
        return respond(twiml.hang_up())
    return _step(
        context,
        slug,
        line,
        at=_query_instant(context),
        step=int_param(context.query.get("step")) + 1,
        relative=context.query.get("rel") == "1",
        greet=False,
        speech=_query_speech(context, line),
    )


def fallback_dialed(context: Context) -> Response:
    slug, line = _query_line(context)
    answered = voice_calls.fallback_ended(
        context.db,
        context.params.get("CallSid", ""),
        context.params.get("DialCallStatus", ""),
        utcnow(),
        dial_sid=context.params.get("DialCallSid", ""),
    )
    if answered:
        return respond(twiml.hang_up())
    speech = _query_speech(context, line)
    return respond(twiml.nobody_reached(line, speech, _voicemail_url(context, slug, speech)))


def screen(context: Context) -> Response:
    """The counsellor answered: the whisper, and 'press 1'."""
    slug, line = _query_line(context)
    action = context.url(
        "/twilio/voice/screen/answer",
        line=slug,
        parent=context.params.get("ParentCallSid") or context.query.get("parent", ""),
        cid=int_param(context.query.get("cid")),
        **({"tier": context.query["tier"]} if context.query.get("tier") in TIER_NAMES else {}),
    )
    return respond(twiml.whisper(line, action, _query_speech(context, line)))


def screen_answer(context: Context) -> Response:
    counsellor_id = int_param(context.query.get("cid"))
    taken = voice_calls.screen_answered(
        context.db,
        context.query.get("parent", ""),
        counsellor_id,
        context.params.get("Digits", ""),
        utcnow(),
        tier=Tier(tier) if (tier := context.query.get("tier", "")) in TIER_NAMES else None,
    )
    if taken is None:
        return respond(twiml.hang_up())
    if context.busy is not None:
        context.busy.took_call(counsellor_id)  # the next call here skips her at once
    metrics = getattr(context.state, "metrics", None)
    if taken.waited is not None and metrics is not None:
        metrics.answered(context.query.get("line", ""), taken.waited)
    return respond(twiml.bridge())


def voicemail_left(context: Context) -> Response:
    slug, line = _query_line(context)
    message_ids = voice_calls.voicemail_left(
        context.db,
        context.settings,
        context.rota,
        slug,
        _caller(context),
        recording_sid=context.params.get("RecordingSid", ""),
        seconds=int_param(context.params.get("RecordingDuration")),
        now=utcnow(),
        language=_query_speech(context, line).code,
    )
    background = None
    if message_ids:
        background = BackgroundTask(
            outbox.deliver_all, context.db, context.settings, context.provider, message_ids
        )
    return respond(twiml.thanks(_query_speech(context, line)), background)


def status_callback(context: Context) -> Response:
    duration = context.params.get("CallDuration")
    state = context.params.get("CallStatus", "")
    voice_calls.status_changed(
        context.db,
        context.params.get("CallSid", ""),
        state,
        int_param(duration) if duration else None,
        utcnow(),
    )
    if state in calls.FINAL_STATES and context.busy is not None:
        context.busy.refresh()  # whoever talked on this call is free again
    return respond(twiml.empty())


# Twilio's fallback URL comes after the voice URL failed (an error, no connection, or 15 s
# without an answer): the caller has waited already, so the fallback waits for the database
# far less than a call's first step may.
FALLBACK_BUDGET_SECONDS = 2.0

_routed_fallback = webhook(
    incoming, static_fallback, fast=incoming_fast, budget=FALLBACK_BUDGET_SECONDS
)


async def fallback_url(request: Request) -> Response:
    """Twilio's fallback URL (the number's VoiceFallbackUrl), on another host than the voice URL
    (HOTLINE_FALLBACK_PUBLIC_URL, docs/operations.md#two-hosts).

    Called at this host's own HOTLINE_PUBLIC_URL, it routes the call as /twilio/voice does, with
    its own database connection, so the caller still reaches whoever is on call (the later
    steps' URLs name this host); whatever fails or takes longer than FALLBACK_BUDGET_SECONDS
    answers the static TwiML from memory. Called at HOTLINE_FALLBACK_PUBLIC_URL by a host whose
    HOTLINE_PUBLIC_URL is the failing voice URL's (one environment file for all hosts), the
    later steps would go there: the static TwiML at once, no database, no worker thread."""
    settings: Settings = request.app.state.settings
    params = await signed_params(request, settings)
    if isinstance(params, Response):
        return params
    query = dict(request.query_params)
    with contextlib.suppress(Exception):  # counting it never costs the caller the answer
        request.app.state.metrics.fallback_requested(line_of(settings, params, query))
    if _called_at_public_url(request, settings, params):
        return await _routed_fallback(request)  # (the body is read once; checked again)
    return recovered(static_fallback, settings, params, query)


def _called_at_public_url(request: Request, settings: Settings, params: dict[str, str]) -> bool:
    if settings.fallback_public_url in (None, settings.public_url):
        return True  # the only base a signature is accepted for
    rest = request.scope["path"]
    query = request.scope["query_string"].decode("latin-1")
    url = settings.public_url + rest + (f"?{query}" if query else "")
    signature = request.headers.get("x-twilio-signature", "")
    return valid_signature(settings.webhook_tokens(), url, params, signature)


routes = [
    Route(
        "/twilio/voice", webhook(incoming, static_fallback, fast=incoming_fast), methods=["POST"]
    ),
    Route("/twilio/voice/language", webhook(language_choice, static_fallback), methods=["POST"]),
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
