"""The service's ways out, each a `foundation.outgoing.Provider`: Twilio for SMS, WhatsApp and
calls (`providers.twilio`), SMTP for e-mail (`providers.mail`), and the outbox of simulation
mode (`providers.simulated`). `for_settings` picks them as the settings say."""

from __future__ import annotations

from config.settings import Settings
from foundation.db import Database
from foundation.models import Channel
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
        return self._twilio.send(message)

    def call(self, call: OutgoingCall) -> str:
        return self._twilio.call(call)


def for_settings(db: Database, settings: Settings) -> Provider:
    """Without Twilio credentials (simulation mode) everything goes to the outbox."""
    if settings.simulation:
        return Simulated(db, settings)
    return Live(db, settings)
