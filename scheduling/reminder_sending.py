"""Appointment reminders: what each due `Reminder` row says, to whom, from which number.

Claiming, sending exactly once, grace and the uncertain/missed/failed states are the generic
engine's (`scheduling.dispatch`); this module only renders a claimed row. Rendering re-reads
the appointment at the moment of sending, so whatever changed since the row was planned wins:
a cancelled appointment, a withdrawn consent (STOP) or a deleted phone number cancels the
reminder instead of sending it.

Words come from the configuration (`[reminders]`). A client's text names neither the service,
nor a team, nor a counsellor (a phone may be shared); a counsellor's text names mode and time,
never the client's pseudonym or number. A client's text is in the language the appointment
records (`client_language`: `[reminders.languages.<code>]`, weekday and date as that language
writes them), German for German or a language the configuration has no texts for; a
counsellor's is German.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_skeleton
from sqlalchemy import select
from sqlalchemy.orm import Session

from config.languages import GERMAN, locale_of
from config.model import HotlineConfig, ReminderLanguage
from config.settings import Settings
from foundation import crypto, dates
from foundation.db import Database
from foundation.models import (
    Appointment,
    AppointmentMode,
    AppointmentStatus,
    Counsellor,
    Recipient,
    Reminder,
    ShiftNotice,
)
from foundation.outgoing import Channel, Outgoing, Provider
from scheduling import appointments
from scheduling.dispatch import Round, dispatch

MODES = {
    AppointmentMode.PHONE: "Telefon",
    AppointmentMode.IN_PERSON: "vor Ort",
    AppointmentMode.VIDEO: "Video",
}
CLIENT_PURPOSE = "reminder-client"
COUNSELLOR_PURPOSE = "reminder-counsellor"


def placeholders(start: datetime, zone: ZoneInfo, mode: str, *, sent: datetime) -> dict[str, str]:
    """The template words for an appointment starting at `start`, in the organisation's zone.

    `when` is relative to `sent` (the reminder's due moment, not the wall clock, so a text is
    a pure function of its row): "heute", "morgen", else "am Do, 26.11."."""
    local = start.astimezone(zone)
    weekday, day = dates.weekday(local), dates.day_month(local)
    days_ahead = (local.date() - sent.astimezone(zone).date()).days
    when = {0: "heute", 1: "morgen"}.get(days_ahead, f"am {weekday}, {day}")
    return {
        "weekday": weekday,
        "date": day,
        "time": dates.clock(local, zone),
        "when": when,
        "mode": MODES[AppointmentMode(mode)],
    }


def sender_number(config: HotlineConfig) -> str:
    """The neutral number every reminder comes from."""
    return config.reminders.sender_number or config.organisation.general_number


def appointment_words(
    config: HotlineConfig, appointment: Appointment, sent: datetime
) -> dict[str, str]:
    return placeholders(appointment.start_at, config.organisation.zone, appointment.mode, sent=sent)


def client_language(config: HotlineConfig, appointment: Appointment) -> str:
    """The language of the client's texts: the appointment's, if the configuration has texts
    in it, else German."""
    code = appointment.client_language or GERMAN
    return code if code in config.reminders.languages else GERMAN


def client_texts(config: HotlineConfig, appointment: Appointment) -> ReminderLanguage:
    """The client's reminder and the answers to her SMS, in her language."""
    return config.reminders.in_language(client_language(config, appointment))


def language_locale(config: HotlineConfig, code: str) -> str:
    """Babel's locale of a client language: its Twilio language where the configuration names
    one ("en-GB" -> "en_GB"), else the bare code ("tr")."""
    speech = config.voice.languages.get(code)
    return locale_of(code, speech.language if speech is not None else None)


def client_words(
    config: HotlineConfig, appointment: Appointment, sent: datetime, code: str | None = None
) -> dict[str, str]:
    """The placeholders of a client's text in `code` (default: her language). German: as
    `placeholders`; another language: the weekday's full name and the day and month as that
    language writes them ("Perşembe", "26 Kasım"; "Thursday", "26 November"), the time 14:00."""
    code = code or client_language(config, appointment)
    if code == GERMAN:
        return appointment_words(config, appointment, sent)
    locale = language_locale(config, code)
    local = appointment.start_at.astimezone(config.organisation.zone)
    return {
        "weekday": str(format_date(local.date(), "EEEE", locale=locale)),
        "date": str(format_skeleton("dMMMM", local.date(), locale=locale)),
        "time": local.strftime("%H:%M"),
    }


def reachable_phone(box: crypto.Box, appointment: Appointment) -> str | None:
    """The client's number, only if the client agreed to SMS and the appointment is on."""
    if appointment.status != AppointmentStatus.BOOKED or not appointment.sms_consent:
        return None
    return appointments.client_phone(box, appointment)


class ReminderQueue:
    """`scheduling.dispatch.Queue` for `Reminder` rows."""

    name = "reminders"
    model: type[Reminder] | type[ShiftNotice] = Reminder

    def grace(self, settings: Settings) -> timedelta:
        return timedelta(minutes=settings.config.reminders.grace_minutes)

    def render(self, session: Session, settings: Settings, row: Any) -> Outgoing | None:
        reminder: Reminder = row
        appointment = _appointment(session, reminder.appointment_id)
        if appointment is None or appointment.status != AppointmentStatus.BOOKED:
            return None
        if appointment.start_at != reminder.appointment_start:
            return None  # the appointment was moved: its new time has rows of its own
        config = settings.config
        words = appointment_words(config, appointment, reminder.due_at)
        if reminder.recipient == Recipient.CLIENT:
            phone = reachable_phone(crypto.box(settings), appointment)
            if phone is None:
                return None  # no consent (any more), or no number: never an SMS
            return Outgoing(
                channel=Channel.SMS,
                to=phone,
                body=client_texts(config, appointment).client_template.format(
                    **client_words(config, appointment, reminder.due_at)
                ),
                purpose=CLIENT_PURPOSE,
                from_number=sender_number(config),
            )
        counsellor = session.get(Counsellor, appointment.counsellor_id)
        if counsellor is None or not counsellor.active or not counsellor.phone:
            return None
        return Outgoing(
            channel=Channel.SMS,
            to=counsellor.phone,
            body=config.reminders.counsellor_template.format(**words),
            purpose=COUNSELLOR_PURPOSE,
            from_number=sender_number(config),
        )


def _appointment(session: Session, appointment_id: int) -> Appointment | None:
    """The appointment of a claimed row. The first call in a claiming transaction loads the
    appointments and counsellors of every reminder claimed in it at once (two queries per
    batch instead of two per row); `session.info` holds them, as the identity map keeps
    unreferenced objects only weakly."""
    batch: dict[int, Appointment] = session.info.setdefault(_BATCH, {})
    if appointment_id not in batch:
        wanted = {appointment_id} | {
            obj.appointment_id
            for obj in list(session.identity_map.values())
            if isinstance(obj, Reminder)
        }
        query = select(Appointment).where(Appointment.id.in_(wanted))
        batch.update((appointment.id, appointment) for appointment in session.scalars(query))
        counsellors = {appointment.counsellor_id for appointment in batch.values()}
        session.info[_COUNSELLORS] = session.scalars(
            select(Counsellor).where(Counsellor.id.in_(counsellors))
        ).all()
    return batch.get(appointment_id)


_BATCH, _COUNSELLORS = "reminder_sending.appointments", "reminder_sending.counsellors"


QUEUE = ReminderQueue()


def dispatch_job(db: Database, settings: Settings, provider: Provider) -> Round:
    """The scheduler job: send every due reminder through `provider`, exactly once."""
    return dispatch(db, settings, QUEUE, send=provider.send)
