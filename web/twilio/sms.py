"""POST /twilio/sms: incoming SMS and WhatsApp messages; POST /twilio/sms/status: how the
messages of the text relay were delivered.

Signature first (the same check as the call webhooks, `web.twilio.signature`): unsigned is a
403 before anything else. Then, in one transaction:

* a message to a line from an active counsellor of its team is a reply in the text relay
  (`hotline.relay.counsellor_reply`);
* a client's answer to a reminder (`scheduling.replies`: ABSAGEN, STOP) is handled and confirmed
  with a TwiML <Message>;
* any other message to a line is relayed to the on-call counsellor; to any other number it
  gets an empty <Response/>.

Every incoming message's id is noted, and so is the id of each answer Twilio sends for a TwiML
<Message> (its `action` URL, POST /twilio/sms/sent, hears it), so that the retention deletes
both at Twilio (`foundation.copies`, `hotline.twilio_copies`).

Telling these apart is the one use case that stays in the web layer: it joins telephony (the
relay) and scheduling (reminder replies), two packages that must not import each other.

A transaction that breaks on a unique index (another transaction opened or reopened the same
conversation, or took the same code, at the same moment) is run once more from the start, so the
message is not lost. Messages to send are sent after the answer (a background task), so Twilio's
15 s never wait for the REST API. Whatever fails, Twilio gets an empty <Response/> rather than an
error: its error message would reach the client. Numbers and bodies are never logged.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from urllib.parse import urlencode

from anyio import to_thread
from sqlalchemy.exc import IntegrityError
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from twilio.twiml.messaging_response import MessagingResponse

from config.settings import Settings
from foundation import copies, outbox
from foundation.clock import utcnow
from foundation.db import Database
from foundation.models import Direction
from foundation.outgoing import Provider
from hotline.relay import client_message, counsellor_reply, delivery, status_callbacks
from hotline.relay.incoming import Incoming, staff_sender
from hotline.relay.parsing import WHATSAPP
from hotline.routing import Rota
from scheduling import replies
from web.twilio.signature import signed_params
from web.twilio.webhook import TWIML, int_param, line_for

log = logging.getLogger(__name__)


SENT_PATH = "/twilio/sms/sent"
# What a TwiML answer was (the purpose its Twilio id is noted with).
ANSWERS = ("answer-counsellor", "answer-reminder", "answer-client")


def message_twiml(text: str | None, action: str | None = None) -> str:
    """`<Response><Message>text</Message></Response>`, or an empty `<Response/>`. `action`:
    the URL Twilio reports the id of the message it sent to."""
    document = MessagingResponse()
    if text:
        document.message(text, **({"action": action, "method": "POST"} if action else {}))
    return str(document)


def sent_url(settings: Settings, answer: str) -> str:
    return f"{settings.public_url}{SENT_PATH}?{urlencode({'p': answer})}"


@dataclass(frozen=True, slots=True)
class Handled:
    """The answer (and what it is: ANSWERS), and what to send once the transaction has
    committed: outbox messages (reminder answers) and rows of the text relay."""

    text: str | None = None
    outbox: list[int] = field(default_factory=list)
    relayed: list[int] = field(default_factory=list)
    answer: str = "answer-client"


def _answer(db: Database, settings: Settings, rota: Rota, params: dict[str, str]) -> Handled:
    try:
        return _handle(db, settings, rota, params)
    except IntegrityError:
        log.warning("/twilio/sms: a concurrent change collided; handling the message again")
        return _handle(db, settings, rota, params)


def _handle(db: Database, settings: Settings, rota: Rota, params: dict[str, str]) -> Handled:
    now = utcnow()
    line = line_for(settings.config, params.get("To", "").removeprefix(WHATSAPP))
    incoming = Incoming(
        line=line or "",
        sender=params.get("From", ""),
        body=params.get("Body", ""),
        message_sid=params.get("MessageSid", ""),
        media=int_param(params.get("NumMedia")),
    )
    with db.write() as session:
        channel = "whatsapp" if incoming.sender.startswith(WHATSAPP) else "sms"
        copies.record(session, incoming.message_sid, Direction.IN, f"incoming-{channel}", now)
        if line is not None:
            counsellor = staff_sender(session, settings, line, incoming.sender)
            if counsellor is not None:
                reply = counsellor_reply.from_counsellor(
                    session, settings, incoming, counsellor, now
                )
                return Handled(
                    reply.text,
                    outbox=reply.outbox,
                    relayed=reply.deliver,
                    answer="answer-counsellor",
                )
        answer = replies.answer(
            session,
            settings,
            sender=incoming.sender,
            body=incoming.body,
            message_sid=incoming.message_sid,
            now=now,
        )
        if line is None or answer.text is not None or answer.deliver:
            return Handled(answer.text, outbox=answer.deliver, answer="answer-reminder")
        relayed = client_message.from_client(session, settings, incoming, now, rota)
        return Handled(relayed.text, outbox=relayed.outbox, relayed=relayed.deliver)


def _send(
    db: Database, settings: Settings, provider: Provider, rota: Rota, handled: Handled
) -> None:
    outbox.deliver_all(db, settings, provider, handled.outbox)
    delivery.deliver(db, settings, provider, rota, handled.relayed)


async def incoming(request: Request) -> Response:
    settings: Settings = request.app.state.settings
    params = await signed_params(request, settings)
    if isinstance(params, Response):
        return params
    db: Database = request.app.state.db
    try:
        # Not abandoned on a timeout: a cancellation that commits must also be confirmed and
        # its counsellor told. The database's own timeouts bound the wait.
        handled = await to_thread.run_sync(_answer, db, settings, request.app.state.rota, params)
    except Exception as exc:  # never the message: it may quote the body
        log.error("/twilio/sms failed (%s); answering with nothing", type(exc).__name__)
        return Response(message_twiml(None), media_type=TWIML)
    background = None
    if handled.outbox or handled.relayed:
        state = request.app.state
        background = BackgroundTask(_send, db, settings, state.provider, state.rota, handled)
    document = message_twiml(handled.text, sent_url(settings, handled.answer))
    return Response(document, media_type=TWIML, background=background)


def _note_sent(db: Database, sid: str, answer: str) -> None:
    with db.write() as session:
        copies.record(session, sid, Direction.OUT, answer)


async def answer_sent(request: Request) -> Response:
    """Twilio sent the answer of a TwiML <Message> (its `action`): its id is noted for the
    retention. Answered with nothing, whatever happens."""
    settings: Settings = request.app.state.settings
    params = await signed_params(request, settings)
    if isinstance(params, Response):
        return params
    answer = request.query_params.get("p", "")
    try:
        await to_thread.run_sync(
            _note_sent,
            request.app.state.db,
            params.get("MessageSid", ""),
            answer if answer in ANSWERS else "answer",
        )
    except Exception as exc:
        log.error("%s failed (%s)", SENT_PATH, type(exc).__name__)
    return Response(message_twiml(None), media_type=TWIML)


def _status(
    db: Database, settings: Settings, rota: Rota, query: dict[str, str], status: str
) -> list[int]:
    with db.write() as session:
        return status_callbacks.status_update(
            session, settings, rota, int_param(query.get("m")), query.get("leg", ""), status
        )


async def delivery_status(request: Request) -> Response:
    """Twilio's status callback for a relayed message (the row and leg are in the signed URL).
    A relay to the primary that failed goes to the backup, once."""
    settings: Settings = request.app.state.settings
    params = await signed_params(request, settings)
    if isinstance(params, Response):
        return params
    db: Database = request.app.state.db
    status = params.get("MessageStatus") or params.get("SmsStatus", "")
    try:
        again = await to_thread.run_sync(
            _status, db, settings, request.app.state.rota, dict(request.query_params), status
        )
    except Exception as exc:
        log.error("/twilio/sms/status failed (%s)", type(exc).__name__)
        return Response(message_twiml(None), media_type=TWIML)
    state = request.app.state
    background = (
        BackgroundTask(delivery.deliver, db, settings, state.provider, state.rota, again)
        if again
        else None
    )
    return Response(message_twiml(None), media_type=TWIML, background=background)


routes = [
    Route("/twilio/sms", incoming, methods=["POST"]),
    Route(SENT_PATH, answer_sent, methods=["POST"]),
    Route(status_callbacks.STATUS_PATH, delivery_status, methods=["POST"]),
]
