"""The runner of Twilio's call webhooks: signature first, then the handler within the time
budget, and whatever fails, an answer from memory.

* **Trust nothing unsigned** (`web.twilio.signature`): a bad signature is a 403 before anything
  else happens.
* **Fail open.** Whatever goes wrong after that (database gone, empty rota, a bug, a step that
  takes too long) the request is answered with its `Recover` TwiML, built from the
  configuration held in memory (for a caller: the line's fallback number). A call webhook
  never answers with a 5xx or a non-TwiML body.
* **The event loop stays free.** A handler runs in a worker thread (at most as many at once as
  the database can serve, `webhook_limiter`); only a `Fast` path (`web.twilio.hotpath`)
  answers on the event loop, from memory.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import anyio
from anyio import to_thread
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response
from twilio.twiml.voice_response import VoiceResponse

from config.model import HotlineConfig
from config.phone import InvalidPhoneNumber, normalise
from config.settings import Settings
from foundation.db import Database
from foundation.outgoing import Provider
from hotline import hours, twiml
from hotline.routing import Rota
from web.twilio import hotpath
from web.twilio.signature import signed_params

log = logging.getLogger(__name__)

# Twilio gives a webhook 15 s; past this budget the caller goes to the fallback number.
BUDGET_SECONDS = 8.0
TWIML = "application/xml"


@dataclass(frozen=True, slots=True)
class Context:
    """One signed Twilio request, as a handler sees it: its parameters, and the app's parts."""

    settings: Settings
    db: Database
    params: dict[str, str]
    query: dict[str, str]
    state: Any = None  # the app's state (`part`): snapshots and the call recorder, when running

    @property
    def recorder(self) -> hotpath.Recorder | None:
        recorder: hotpath.Recorder | None = part(self.state, "recorder")
        return recorder

    @property
    def snapshots(self) -> hotpath.Snapshots | None:
        snapshots: hotpath.Snapshots | None = part(self.state, "snapshots")
        return snapshots

    @property
    def busy(self) -> hotpath.BusyWatch | None:
        busy: hotpath.BusyWatch | None = part(self.state, "busy")
        return busy

    @property
    def closed_reasons(self) -> hours.ClosedReasons | None:
        closed_reasons: hours.ClosedReasons | None = part(self.state, "closed_reasons")
        return closed_reasons

    @property
    def config(self) -> HotlineConfig:
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


def part(state: Any, name: str) -> Any:
    """What the app's state holds under `name`, or None: `getattr(state, name, None)`, but by
    item. Starlette's `State` answers an attribute only after Python's own lookup failed with
    an AttributeError, about a microsecond each time; the hot path asks for several a call."""
    if state is None:
        return None
    try:
        return state[name]
    except KeyError:
        return None


def respond(document: VoiceResponse, background: BackgroundTask | None = None) -> Response:
    return Response(str(document), media_type=TWIML, background=background)


Handler = Callable[[Context], Response]
# A fast path answers, names the line whose snapshot is missing, or declines (None).
Fast = Callable[[Context], Response | str | None]
REFRESH_WAIT_SECONDS = 2.0
Recover = Callable[[Settings, dict[str, str], dict[str, str]], VoiceResponse]


def webhook(
    handler: Handler, recover: Recover, *, fast: Fast | None = None, budget: float | None = None
) -> Callable[[Request], Awaitable[Response]]:
    """Signature first; then `fast` (from memory, on the event loop) if it can answer; else
    the handler, in a worker thread, within the time budget (`budget` seconds, default
    BUDGET_SECONDS), after writing queued call records; any failure answers with `recover`'s
    TwiML, built from memory alone."""

    def run(context: Context) -> Response:
        if context.recorder is not None and fast is None:
            context.recorder.flush()  # later steps must find the records of the hot path
        return handler(context)

    async def endpoint(request: Request) -> Response:
        settings: Settings = request.app.state.settings
        params = await signed_params(request, settings)
        if isinstance(params, Response):
            return params
        query = dict(request.query_params)
        context = Context(settings, request.app.state.db, params, query, request.app.state)
        refreshing: anyio.Event | None = None
        if fast is not None:
            answer = answer_fast(fast, context)
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
                    again = answer_fast(fast, context)
                    if isinstance(again, Response):
                        return again
        try:
            return await _slow(request, context, run, recover, budget)
        finally:
            if refreshing is not None and context.snapshots is not None:
                context.snapshots.refreshing.pop(str(answer), None)
                refreshing.set()

    return endpoint


def answer_fast(fast: Fast, context: Context) -> Response | str | None:
    """What `fast` answers; None (the slow path) if it fails."""
    try:
        return fast(context)
    except Exception as exc:
        log.error("fast path failed (%s); taking the slow one", type(exc).__name__)
        return None


async def _slow(
    request: Request, context: Context, run: Handler, recover: Recover, budget: float | None
) -> Response:
    settings, params, query = context.settings, context.params, context.query
    started = time.perf_counter()
    try:
        with anyio.fail_after(BUDGET_SECONDS if budget is None else budget):
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
        return recovered(recover, settings, params, query)


def recovered(
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


def line_of(settings: Settings, params: dict[str, str], query: dict[str, str]) -> str | None:
    config = settings.config
    if query.get("line") in config.lines:
        return query["line"]
    return line_for(config, params.get("To", ""))


def line_for(config: HotlineConfig, dialled: str) -> str | None:
    """The line of a dialled number; Twilio sends our numbers in E.164, so usually a lookup."""
    slug = config.line_by_number.get(dialled)
    if slug is not None:
        return slug
    try:
        found = config.line_for_number(normalise(dialled))
    except InvalidPhoneNumber:
        return None
    return found[0] if found else None


def int_param(raw: str | None) -> int:
    """A number Twilio sends (a duration, a count), or 0."""
    try:
        return int(raw or 0)
    except ValueError:
        return 0
