"""Twilio's REST API: SMS, WhatsApp and calls (`Twilio`, a `foundation.outgoing.Provider`),
and deleting what Twilio keeps (recordings, message copies).

Every failure of a send is sorted into "certainly not sent" (`NotSent`) and "may have been
sent" (`MaybeSent`). `HOTLINE_TWILIO_API_URL` sends every REST call to a Twilio-compatible
server instead (tests, staging). Logs name a message by purpose only: never the addressee or
the body.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import requests
import urllib3
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from config.settings import Settings
from foundation.models import Channel
from foundation.outgoing import MaybeSent, NotSent, Outgoing, OutgoingCall

log = logging.getLogger(__name__)
REST_TIMEOUT = 10  # seconds
WHATSAPP = "whatsapp:"


def client(settings: Settings) -> Client:
    """A REST client for the account (or the Twilio-compatible server of the settings)."""
    rest = Client(
        settings.twilio_account_sid,
        str(settings.twilio_auth_token),
        http_client=TwilioHttpClient(timeout=REST_TIMEOUT),
    )
    if settings.twilio_api_url:
        rest.api.base_url = settings.twilio_api_url.rstrip("/")
    return rest


class Twilio:
    """SMS, WhatsApp and calls through the account of `settings`."""

    simulated = False

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def send(self, message: Outgoing) -> str:
        prefix = WHATSAPP if message.channel == Channel.WHATSAPP else ""
        callback = {"status_callback": message.status_callback} if message.status_callback else {}
        return _rest(
            self._settings,
            message.purpose,
            lambda rest: rest.messages.create(
                to=prefix + message.to,
                from_=prefix + message.from_number,
                body=message.body,
                **callback,
            ),
        )

    def call(self, call: OutgoingCall) -> str:
        return _rest(
            self._settings,
            call.purpose,
            lambda rest: rest.calls.create(
                to=call.to,
                from_=call.from_number,
                url=call.url,
                method="POST",
                status_callback=call.status_callback,
                status_callback_method="POST",
                status_callback_event=["initiated", "ringing", "answered", "completed"],
                timeout=call.timeout,
            ),
        )


def _rest(settings: Settings, purpose: str, create: Callable[[Client], Any]) -> str:
    """One REST `create`; its failure sorted into NotSent or MaybeSent. Returns the new SID."""
    try:
        created = create(client(settings))
    except TwilioRestException as exc:
        # Twilio answered: a 4xx means it refused; a 5xx may hide an accepted request.
        if exc.status >= 500:
            raise MaybeSent(f"Twilio answered {exc.status}") from exc
        retry = exc.status == 429
        raise NotSent(f"Twilio refused it ({exc.status}, code {exc.code})", retry=retry) from exc
    except requests.exceptions.RequestException as exc:
        if _never_connected(exc):
            raise NotSent(f"cannot reach Twilio ({type(exc).__name__})", retry=True) from exc
        raise MaybeSent(f"no answer from Twilio ({type(exc).__name__})") from exc
    except (TwilioException, OSError) as exc:
        raise MaybeSent(f"sending failed midway ({type(exc).__name__})") from exc
    log.info("%s sent", purpose)
    return str(created.sid)


def _never_connected(exc: requests.exceptions.RequestException) -> bool:
    """True when the request cannot have reached Twilio: no connection was ever made.
    (A read timeout or a connection dropped mid-answer may hide a sent message.)"""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    if not isinstance(exc, requests.exceptions.ConnectionError):
        return False
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, urllib3.exceptions.NewConnectionError)  # incl. name resolution


def delete(settings: Settings, what: str, resource: Callable[[Client], Any]) -> bool:
    """Delete one resource at Twilio (`resource` names it, e.g. `lambda c: c.messages(sid)`);
    one that is already gone (404) counts as deleted. False when Twilio could not be asked or
    refused: try again later. Logs `what` and the reason only."""
    try:
        resource(client(settings)).delete()
    except TwilioRestException as exc:
        if exc.status == 404:
            return True
        log.warning("%s not deleted: Twilio answered %s", what, exc.status)
        return False
    except (TwilioException, OSError) as exc:
        log.warning("%s not deleted: %s", what, type(exc).__name__)
        return False
    return True
