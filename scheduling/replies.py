"""A client's SMS answer to a reminder: ABSAGEN cancels, STOP withdraws consent.

The keywords of every language of `[reminders]` are accepted from every client (ABSAGEN,
IPTAL, CANCEL, ОТМЕНА, إلغاء, …; case, accents and the Turkish dotless i ignored), and the
answer is in the keyword's language: in the appointment's language when the word belongs to
several (STOP), else the first language it belongs to. What the counsellor is told is German.

Only clients who agreed to SMS are ever answered (no SMS without consent, ever): a keyword
from a number that has no booked appointment with consent gets no answer, and neither does a
second STOP. Everything else is not ours to answer (the text relay, `hotline.relay`, passes
it to a counsellor).

The client's number is stored encrypted with a random nonce, so it cannot be looked up: the
booked appointments with consent are decrypted and compared (about 2 µs each; a service has
hundreds, not millions). Nothing here logs a number or a message body.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from config.languages import GERMAN, fold
from config.model import Reminders
from config.phone import InvalidPhoneNumber, normalise
from config.settings import Settings
from foundation import audit, crypto, outbox
from foundation.models import (
    Appointment,
    AppointmentStatus,
    AuditEntry,
    Channel,
    Counsellor,
)
from scheduling import appointments
from scheduling.reminder_sending import (
    appointment_words,
    client_language,
    client_words,
    sender_number,
)
from scheduling.reminders import sync_reminders

log = logging.getLogger(__name__)

ACTOR = "client-sms"  # who the audit log names for changes a client made by SMS
REPLY_ACTION = "sms-answer"
# A replayed ABSAGEN (same MessageSid) must not cancel the appointment after the next one.
REPLAY_WINDOW = timedelta(days=2)
_PUNCTUATION = " \t\r\n.!?,;:\"'«»„“”¡¿…؟،؛"


@dataclass(frozen=True, slots=True)
class Answer:
    """What to answer (a TwiML <Message> body, or nothing) and outbox messages to deliver
    once the transaction has committed."""

    text: str | None = None
    deliver: list[int] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Keyword:
    """A message that is only a keyword: what it does, the word as configured, and the
    languages it belongs to (German first, then in the configuration's order)."""

    kind: str  # "cancel" or "stop"
    word: str
    languages: tuple[str, ...]

    def language_for(self, appointment_language: str) -> str:
        """The answer's language: the appointment's if the word is one of its words, else the
        word's first language."""
        if appointment_language in self.languages:
            return appointment_language
        return self.languages[0]


def match(body: str, reminders: Reminders) -> Keyword | None:
    """The keyword a message is, whatever the case, spacing and punctuation around it
    ("Absagen.", " STOP ", "iptal!"); None for anything else."""
    folded = fold(body.strip(_PUNCTUATION))
    if not folded:
        return None
    tables = [(GERMAN, reminders.cancel_keywords, reminders.stop_keywords)] + [
        (code, texts.cancel_keywords, texts.stop_keywords)
        for code, texts in reminders.languages.items()
    ]
    for kind, index in (("cancel", 1), ("stop", 2)):
        languages: list[str] = []
        word = ""
        for table in tables:
            for candidate in table[index]:
                if fold(candidate) == folded:
                    languages.append(str(table[0]))
                    word = word or str(candidate)
                    break
        if languages:
            return Keyword(kind, word.upper(), tuple(languages))
    return None


def keyword(body: str, reminders: Reminders | None = None) -> str | None:
    """ "cancel" or "stop" for a message that is only such a word; None for anything else."""
    found = match(body, reminders or Reminders())
    return found.kind if found else None


def sender_e164(raw: str) -> str | None:
    """The sender's number in E.164 (`whatsapp:` stripped); None for withheld or invalid."""
    try:
        return normalise(raw.removeprefix("whatsapp:"))
    except InvalidPhoneNumber:
        return None


def answer(
    session: Session,
    settings: Settings,
    *,
    sender: str,
    body: str,
    message_sid: str,
    now: datetime,
) -> Answer:
    """Handle one incoming message in the caller's transaction."""
    word = match(body, settings.config.reminders)
    phone = sender_e164(sender) if word else None
    if word is None or phone is None:
        return Answer()
    if word.kind == "cancel":
        return cancel_next(session, settings, phone, message_sid, now, word)
    return stop(session, settings, phone, now, word)


def _consented(
    session: Session, settings: Settings, phone: str, after: datetime | None
) -> list[Appointment]:
    """Booked appointments with SMS consent of the client with this number, by start.

    Decrypted first, then only the client's own rows are locked (two messages of one client at
    once are handled one after the other; a message from an unknown number locks nothing) and
    checked again as they are once locked."""
    conditions = [
        Appointment.status == AppointmentStatus.BOOKED,
        Appointment.sms_consent.is_(True),
        Appointment.client_phone_enc.is_not(None),
    ]
    if after is not None:
        conditions.append(Appointment.start_at > after)
    box = crypto.box(settings)
    candidates = session.execute(
        select(Appointment.id, Appointment.client_phone_enc).where(*conditions)
    ).all()
    mine = [row_id for row_id, sealed in candidates if sealed and box.open(sealed) == phone]
    if not mine:
        return []
    locked = session.scalars(
        select(Appointment)
        .where(Appointment.id.in_(mine), *conditions)
        .order_by(Appointment.start_at, Appointment.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return [
        appointment
        for appointment in locked
        if appointment.client_phone_enc and box.open(appointment.client_phone_enc) == phone
    ]


def _replayed(session: Session, message_sid: str, now: datetime) -> bool:
    if not message_sid:
        return False
    done = session.scalars(
        select(AuditEntry.after).where(
            AuditEntry.actor == ACTOR,
            AuditEntry.entity == "appointment",
            AuditEntry.action == REPLY_ACTION,
            AuditEntry.at >= now - REPLAY_WINDOW,
        )
    )
    return any((after or {}).get("message_sid") == message_sid for after in done)


def cancel_next(
    session: Session,
    settings: Settings,
    phone: str,
    message_sid: str,
    now: datetime,
    word: Keyword | None = None,
) -> Answer:
    """ABSAGEN: cancel the client's next booked appointment, tell its counsellor by SMS (in
    German) and confirm neutrally in the client's language. The same message delivered twice
    (same MessageSid) does nothing the second time; a second ABSAGEN message cancels the
    appointment after."""
    word = word or Keyword("cancel", "ABSAGEN", (GERMAN,))
    if _replayed(session, message_sid, now):
        return Answer(text=None)
    upcoming = _consented(session, settings, phone, after=now)
    if not upcoming:
        return Answer()
    appointment = upcoming[0]
    config = settings.config
    language = word.language_for(client_language(config, appointment))
    _cancel(session, settings, appointment, message_sid, now, word, language)
    words = appointment_words(config, appointment, now)
    deliver = []
    counsellor = session.get(Counsellor, appointment.counsellor_id)
    if counsellor is not None and counsellor.active and counsellor.phone:
        deliver.append(
            outbox.queue(
                session,
                settings,
                to=counsellor.phone,
                body=config.reminders.cancelled_notice.format(**words),
                from_number=sender_number(config),
                purpose="appointment-cancelled",
            )
        )
    else:
        log.warning("appointment %d cancelled by SMS; no active counsellor to tell", appointment.id)
    log.info("appointment %d cancelled by SMS", appointment.id)
    reply = config.reminders.in_language(language).cancel_reply
    return Answer(
        text=reply.format(**client_words(config, appointment, now, language)), deliver=deliver
    )


def _cancel(
    session: Session,
    settings: Settings,
    appointment: Appointment,
    message_sid: str,
    now: datetime,
    word: Keyword,
    language: str,
) -> None:
    """The appointments use case cancels (status, calendar sequence, reminders, audit); a
    second audit entry names the message, so that a replay of it is recognised."""
    appointments.cancel(session, settings, appointment.id, actor=ACTOR, now=now)
    audit.record(
        session,
        ACTOR,
        REPLY_ACTION,
        "appointment",
        appointment.id,
        after={"keyword": word.word, "language": language, "message_sid": message_sid},
    )


def stop(
    session: Session, settings: Settings, phone: str, now: datetime, word: Keyword | None = None
) -> Answer:
    """STOP: no more SMS to this number: consent withdrawn on every booked appointment of
    the client, their pending client reminders cancelled; one neutral confirmation, in the
    language of the client's next appointment if the word is one of its words."""
    word = word or Keyword("stop", "STOP", (GERMAN,))
    consented = _consented(session, settings, phone, after=None)
    if not consented:
        return Answer()  # unknown, or consent already withdrawn: no SMS
    upcoming = [appointment for appointment in consented if appointment.start_at > now]
    language = word.language_for(client_language(settings.config, (upcoming or consented)[0]))
    for appointment in consented:
        appointment.sms_consent = False
        sync_reminders(session, settings.config, appointment, now)  # client rows: cancelled
        audit.record(
            session,
            ACTOR,
            "withdraw-consent",
            "appointment",
            appointment.id,
            before={"sms_consent": True},
            after={"sms_consent": False, "by": Channel.SMS},
        )
    log.info("SMS consent withdrawn by SMS on %d appointment(s)", len(consented))
    return Answer(text=settings.config.reminders.in_language(language).stop_reply)
