"""Simulation mode's way out: every message and call goes to the outbox, which the web page
shows; nothing leaves the machine. Ids start with SIM."""

from __future__ import annotations

from config.settings import Settings
from foundation import outbox
from foundation.db import Database
from foundation.models import Channel
from foundation.outgoing import Outgoing, OutgoingCall


class Simulated:
    simulated = True

    def __init__(self, db: Database, settings: Settings) -> None:
        self._db = db
        self._settings = settings

    def send(self, message: Outgoing) -> str:
        body = message.body
        if message.channel == Channel.EMAIL:
            body = f"{message.subject}\n\n{message.body}"  # the subject in the first line
        return self._keep(message.channel, message.to, body, message.purpose, message.from_number)

    def call(self, call: OutgoingCall) -> str:
        return self._keep(Channel.CALL, call.to, call.description, call.purpose, call.from_number)

    def _keep(self, channel: Channel, to: str, body: str, purpose: str, from_number: str) -> str:
        with self._db.write() as session:
            message_id = outbox.queue(
                session,
                self._settings,
                to=to,
                body=body,
                from_number=from_number,
                purpose=purpose,
                channel=channel,
            )
        return f"SIM{message_id:030d}"
