"""Twilio webhooks of a call-back through the line (hotline.outbound_calls).

Twilio rings the counsellor and fetches `answer`: the whisper and "press 1". A 1 posts to
`connect`, which dials the client from the line's number; `dialed` hears how that ended, and
`status` follows the counsellor's leg. Each URL carries only the signed reference `ref`; the
client's number is opened from the task or appointment when it is dialled.

Signed like every Twilio request (web.twilio.webhook). They fail safe, never open: a bad,
expired or replayed reference, a gone target or any failure gets an apology and `<Hangup/>` on
the counsellor's phone, so nobody is ever dialled by mistake and Twilio never sees a 5xx.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from datetime import timedelta
from typing import TypeVar

from sqlalchemy.orm import Session
from starlette.responses import Response
from starlette.routing import Route
from twilio.twiml.voice_response import VoiceResponse

from config.model import Line
from config.settings import Settings
from foundation.clock import utcnow
from hotline import twiml
from hotline.outbound_calls import references, webhooks
from hotline.outbound_calls.webhooks import Refused
from web.twilio.webhook import Context, respond, webhook

log = logging.getLogger(__name__)
T = TypeVar("T")


def _step(context: Context, valid_for: timedelta, step: Callable[[Session, int, str], T]) -> T:
    """Run `step` on the call-back the reference names, for Twilio's call of this request.
    Raises Refused for a bad or expired reference, or when the step refuses."""
    call_id = references.read_ref(
        context.settings, context.query.get("ref", ""), utcnow(), valid_for
    )
    if call_id is None:
        raise Refused("an invalid or expired reference")
    with context.db.write() as session:
        return step(session, call_id, context.params.get("CallSid", ""))


def _line(context: Context, slug: str) -> Line:
    line = context.config.lines.get(slug)
    if line is None:
        raise Refused("the line is no longer configured")
    return line


def _next(context: Context, path: str) -> str:
    return references.url(context.settings, path, context.query.get("ref", ""))


def answer(context: Context) -> Response:
    """The counsellor answered: the whisper; no key hangs up."""
    try:
        line = _line(context, _step(context, references.BRIDGE_WITHIN, webhooks.answered))
    except Refused as exc:
        log.warning("call-back not whispered: %s", exc)
        return respond(twiml.outbound_call_refused(context.config))
    return respond(twiml.outbound_call_whisper(line, _next(context, references.CONNECT_PATH)))


def connect(context: Context) -> Response:
    """A key was pressed: on 1 the client is dialled from the line's number; else hang up."""
    if context.params.get("Digits", "") != "1":
        return respond(twiml.hang_up())

    def bridge(session: Session, call_id: int, call_sid: str) -> tuple[str, str]:
        return webhooks.bridge(session, context.settings, call_id, call_sid, utcnow())

    try:
        slug, number = _step(context, references.BRIDGE_WITHIN, bridge)
        line = _line(context, slug)
    except Refused as exc:
        log.warning("call-back not connected: %s", exc)
        return respond(twiml.outbound_call_refused(context.config))
    return respond(twiml.outbound_call_dial(line, number, _next(context, references.DIALED_PATH)))


def dialed(context: Context) -> Response:
    """The Dial to the client ended: why nobody was reached, if so; then hang up."""
    dial_status = context.params.get("DialCallStatus", "")
    legs = (context.params.get("DialCallSid", ""), context.params.get("RecordingSid", ""))

    def ended(session: Session, call_id: int, call_sid: str) -> str:
        return webhooks.client_ended(session, call_id, call_sid, dial_status, leg_sids=legs)

    try:
        line = _line(context, _step(context, references.FOLLOW_UP, ended))
    except Refused:
        return respond(twiml.hang_up())
    return respond(twiml.outbound_call_ended(line, dial_status))


def status(context: Context) -> Response:
    """A status callback of the counsellor's leg: recorded, answered with nothing."""
    state = context.params.get("CallStatus", "")

    def record(session: Session, call_id: int, call_sid: str) -> None:
        webhooks.leg_status(session, call_id, call_sid, state)

    with contextlib.suppress(Refused):
        _step(context, references.FOLLOW_UP, record)
    return respond(twiml.empty())


def _refused(settings: Settings, _p: dict[str, str], _q: dict[str, str]) -> VoiceResponse:
    return twiml.outbound_call_refused(settings.config)


def _hang_up(_s: Settings, _p: dict[str, str], _q: dict[str, str]) -> VoiceResponse:
    return twiml.hang_up()


def _empty(_s: Settings, _p: dict[str, str], _q: dict[str, str]) -> VoiceResponse:
    return twiml.empty()


routes = [
    Route(references.ANSWER_PATH, webhook(answer, _refused), methods=["POST"]),
    Route(references.CONNECT_PATH, webhook(connect, _refused), methods=["POST"]),
    Route(references.DIALED_PATH, webhook(dialed, _hang_up), methods=["POST"]),
    Route(references.STATUS_PATH, webhook(status, _empty), methods=["POST"]),
]
