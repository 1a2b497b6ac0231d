"""POST /twilio/sms: incoming SMS and WhatsApp messages.

Signature first (the same check as the call webhooks, `web.twilio`): unsigned is a 403 before
anything else. Then a client's answer to a reminder (`hotline.replies`: ABSAGEN, STOP) is
handled and confirmed with a TwiML <Message>; anything else gets an empty <Response/> for now
(the relay to counsellors comes with issue 7). Whatever fails, Twilio gets an empty
<Response/> rather than an error: its error message would reach the client. Numbers and
bodies are never logged.
"""

from __future__ import annotations

import logging

from anyio import to_thread
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from twilio.twiml.messaging_response import MessagingResponse

from config.settings import Settings
from hotline import replies
from hotline.db import Database
from hotline.models import utcnow
from web.twilio import TWIML, _deliver_all, _signed_params

log = logging.getLogger(__name__)


def message_twiml(text: str | None) -> str:
    """`<Response><Message>text</Message></Response>`, or an empty `<Response/>`."""
    document = MessagingResponse()
    if text:
        document.message(text)
    return str(document)


def _answer(db: Database, settings: Settings, params: dict[str, str]) -> replies.Answer:
    with db.write() as session:
        return replies.answer(
            session,
            settings,
            sender=params.get("From", ""),
            body=params.get("Body", ""),
            message_sid=params.get("MessageSid", ""),
            now=utcnow(),
        )


async def incoming(request: Request) -> Response:
    settings: Settings = request.app.state.settings
    params = await _signed_params(request, settings)
    if isinstance(params, Response):
        return params
    db: Database = request.app.state.db
    try:
        # Not abandoned on a timeout: a cancellation that commits must also be confirmed and
        # its counsellor told. The database's own timeouts bound the wait.
        answer = await to_thread.run_sync(_answer, db, settings, params)
    except Exception as exc:  # never the message: it may quote the body
        log.error("/twilio/sms failed (%s); answering with nothing", type(exc).__name__)
        return Response(message_twiml(None), media_type=TWIML)
    background = None
    if answer.deliver:
        background = BackgroundTask(_deliver_all, db, settings, answer.deliver)
    return Response(message_twiml(answer.text), media_type=TWIML, background=background)


routes = [Route("/twilio/sms", incoming, methods=["POST"])]
