"""The service's ways out, each a `foundation.outgoing.Provider`: Twilio for SMS, WhatsApp and
calls (`providers.twilio`), SMTP for e-mail (`providers.mail`), and the outbox of simulation
mode (`providers.simulated`). `for_settings` picks them as the settings say.

Everything sent through Twilio is noted by its id (`foundation.copies`), whoever sent it and
whatever became of it later (a relay that failed over, a reminder), so that the retention
deletes Twilio's copy (`hotline.twilio_copies`)."""

from __future__ import annotations

from config.settings import Settings
from foundation import copies
from foundation.db import Database
from foundation.models import Channel, Direction
from foundation.outgoing import Outgoing, OutgoingCall, Provider
from hotline.providers import mail
from hotline.providers.simulated import Simulated
from hotline.providers.twilio import Twilio


class Live:
    """Twilio for SMS, WhatsApp and calls; e-mail over SMTP (`providers.mail`)."""

    simulated = False

    def __init__(self, db: Database, settings: Settings) -> None:
        self._db = db
        self._settings = settings
        self._twilio = Twilio(settings)

    def send(self, message: Outgoing) -> str:
        if message.channel == Channel.EMAIL:
            return mail.send(self._db, self._settings, message)
        sid = self._twilio.send(message)
        copies.keep(self._db, sid, Direction.OUT, message.purpose)
        return sid

    def call(self, call: OutgoingCall) -> str:
        sid = self._twilio.call(call)
        copies.keep(self._db, sid, Direction.OUT, call.purpose)
        return sid


def for_settings(db: Database, settings: Settings) -> Provider:
    """Without Twilio credentials (simulation mode) everything goes to the outbox."""
    if settings.simulation:
        return Simulated(db, settings)
    return Live(db, settings)
