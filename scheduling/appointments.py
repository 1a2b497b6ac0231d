"""Follow-up appointments: book, reschedule, cancel, mark done or no-show, list.

Each use case is one transaction of the caller's (`with db.write() as session`) and writes the
appointment's reminder rows in it (`scheduling.reminders.sync_reminders`), so a booking and its
reminders commit or vanish together.

No double-booking, by construction: two *booked* appointments of one counsellor never overlap
(half-open [start, end), so back-to-back is fine). The use case looks first, to name the
appointment in the way; on PostgreSQL an exclusion constraint then decides races between
processes (the loser's insert fails and becomes the same `Conflict`); on SQLite the write
transaction holds the database's write lock from BEGIN (IMMEDIATE), so look and insert are one
step.

The client is a pseudonym plus, optionally, a phone number (stored encrypted, never shown in
full) and consent to SMS reminders.

One concept, kept in one module on purpose although it is over 400 lines: the appointment and
its use cases. The pure sections serve only them (the rules a booking's input must meet, the
texts naming an appointment's time and the client's masked number), and every use case shares
the overlap check, the audit snapshot and the reminder sync below them.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import phonenumbers
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from config.languages import GERMAN
from config.model import HotlineConfig
from config.phone import InvalidPhoneNumber, masked_phone, normalise
from config.settings import Settings
from foundation import audit, crypto
from foundation.clock import utcnow
from foundation.errors import Conflict, Invalid, NotFound
from foundation.models import (
    APPOINTMENT_OVERLAP,
    Appointment,
    AppointmentMode,
    AppointmentStatus,
    Counsellor,
    Team,
)
from foundation.models import Client as ClientRecord
from foundation.text import pseudonym_key as pseudonym_key  # re-exported: one definition
from scheduling.intervals import utc_interval
from scheduling.reminders import sync_reminders
from scheduling.wallclock import abbreviation

MAX_LENGTH = timedelta(hours=8)
PSEUDONYM_LENGTH = 100
TEXT_LENGTH = 500
# Six or more digits in a row, whatever separates them (anything that is neither a letter nor
# a digit), read in the compatibility form (NFKC: superscript, fullwidth and circled digits
# are digits): a phone number has no place in a pseudonym (it would be stored in clear and
# shown on every page).
PHONE_LIKE = re.compile(r"(?:\d[\W_]*){6,}")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
MARKS = (AppointmentStatus.DONE, AppointmentStatus.NO_SHOW)


@dataclass(frozen=True, slots=True)
class Client:
    pseudonym: str
    phone: str | None = None
    sms_consent: bool = False


@dataclass(frozen=True, slots=True)
class NewAppointment:
    counsellor_id: int
    client: Client
    start: datetime
    end: datetime
    mode: AppointmentMode
    location: str | None = None
    video_link: str | None = None
    # A client record of the counsellor's team: the appointment is linked to it and takes its
    # pseudonym, number and consent (`client` is then ignored).
    client_id: int | None = None
    # The client's language (ISO 639-1): her reminders and the answers to her SMS
    # (`[reminders.languages]`); German or one the configuration has texts for. None: the
    # client record's (`client_id`), else German.
    client_language: str | None = None


class Overlap(Conflict):
    """The counsellor already has a booked appointment at that time."""

    def __init__(self, existing: Appointment, zone: ZoneInfo) -> None:
        self.existing_id = existing.id
        self.existing_start = existing.start_at
        self.existing_end = existing.end_at
        super().__init__(
            "Zu dieser Zeit ist bereits ein Termin gebucht "
            f"({span_text(existing.start_at, existing.end_at, zone)}, Termin {existing.id}).",
            field="start",
        )


# --- presentation helpers (pure) ----------------------------------------------------------------


def moment_text(moment: datetime, zone: ZoneInfo) -> str:
    """'25.10.2026 02:30 MEZ': the zone abbreviation tells the two autumn 02:30s apart."""
    local = moment.astimezone(zone)
    return f"{local:%d.%m.%Y %H:%M} {abbreviation(moment, zone)}"


def span_text(start: datetime, end: datetime, zone: ZoneInfo) -> str:
    first, last = start.astimezone(zone), end.astimezone(zone)
    if first.date() == last.date():
        return f"{moment_text(start, zone)} – {last:%H:%M} {abbreviation(end, zone)}"
    return f"{moment_text(start, zone)} – {moment_text(end, zone)}"


def client_phone(box: crypto.Box, appointment: Appointment) -> str | None:
    """The client's number in clear (E.164), for sending a reminder; never for display."""
    if appointment.client_phone_enc is None:
        return None
    return box.open(appointment.client_phone_enc)


def masked_client_phone(box: crypto.Box, appointment: Appointment) -> str | None:
    phone = client_phone(box, appointment)
    return masked_phone(phone) if phone else None


# --- validation (pure) --------------------------------------------------------------------------


def check_pseudonym(raw: str, prefix: str = "client.") -> str:
    """The pseudonym as stored (white space collapsed, composed: NFC); refused when empty, too
    long, with control or invisible characters, or when it looks like a phone number.
    `prefix`: of the error's field (an appointment's inline client, "client."; a client
    record, "")."""
    field = f"{prefix}pseudonym"
    pseudonym = unicodedata.normalize("NFC", " ".join(raw.split()))
    if not pseudonym:
        raise Invalid("the client's pseudonym is required", field=field)
    if len(pseudonym) > PSEUDONYM_LENGTH:
        raise Invalid(f"the pseudonym has at most {PSEUDONYM_LENGTH} characters", field=field)
    if CONTROL.search(raw):
        raise Invalid("the pseudonym contains control characters", field=field)
    if any(unicodedata.category(c) == "Cf" for c in pseudonym):
        # A zero-width space, a soft hyphen, a BOM: a pseudonym that looks like another one,
        # and that no one could type to confirm an erasure.
        raise Invalid("the pseudonym contains invisible characters", field=field)
    if PHONE_LIKE.search(unicodedata.normalize("NFKC", pseudonym)):
        raise Invalid(
            f"the pseudonym looks like a phone number; give the number as {prefix}phone",
            field=field,
        )
    return pseudonym


def check_phone(raw: str | None, sms_consent: bool, prefix: str = "client.") -> str | None:
    """The client's number in E.164, or None; consent to SMS needs a mobile number."""
    if raw is None or not raw.strip():
        if sms_consent:
            raise Invalid(
                "SMS reminders need the client's phone number", field=f"{prefix}sms_consent"
            )
        return None
    try:
        phone = normalise(raw)
    except InvalidPhoneNumber as exc:
        raise Invalid(f"client phone: {exc}", field=f"{prefix}phone") from exc
    kind = phonenumbers.number_type(phonenumbers.parse(phone, None))
    mobile = (
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
    )
    if sms_consent and kind not in mobile:
        raise Invalid("SMS reminders need a mobile number", field=f"{prefix}sms_consent")
    return phone


def check_place(
    mode: AppointmentMode, location: str | None, video_link: str | None
) -> tuple[str | None, str | None]:
    """(location, video_link) as stored: each only for its mode, which requires it."""
    if mode is AppointmentMode.IN_PERSON:
        place = " ".join((location or "").split())
        if not place:
            raise Invalid("an appointment in person needs a location", field="location")
        if len(place) > TEXT_LENGTH:
            raise Invalid(f"the location has at most {TEXT_LENGTH} characters", field="location")
        return place, None
    if mode is AppointmentMode.VIDEO:
        link = (video_link or "").strip()
        parts = urlsplit(link)
        if parts.scheme != "https" or not parts.hostname or re.search(r"\s", link):
            raise Invalid("a video appointment needs an https:// link", field="video_link")
        if len(link) > TEXT_LENGTH:
            raise Invalid(f"the link has at most {TEXT_LENGTH} characters", field="video_link")
        return None, link
    return None, None


def check_language(config: HotlineConfig, code: str, *, field: str = "client_language") -> str:
    """A client language the reminders can be written in: German or one of
    `[reminders.languages]`; else Invalid naming `field`."""
    known = config.reminders.client_languages
    if code not in known:
        raise Invalid(f"no reminder texts in {code!r} (known: {', '.join(known)})", field=field)
    return code


def default_language(config: HotlineConfig, record_language: str | None) -> str:
    """A booking's client language when none is chosen: the client record's, unless the
    configuration no longer has texts in it (its reminders are German then); else German."""
    if record_language is not None and record_language in config.reminders.client_languages:
        return record_language
    return GERMAN


def _interval(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    return utc_interval(
        start, end, longest=MAX_LENGTH, too_long="an appointment lasts at most 8 hours"
    )


# --- database -----------------------------------------------------------------------------------


def _snapshot(appointment: Appointment) -> dict[str, object]:
    # The audit log never holds client data: no pseudonym, number, place or link.
    return {
        "counsellor_id": appointment.counsellor_id,
        "start": appointment.start_at.isoformat(),
        "end": appointment.end_at.isoformat(),
        "mode": appointment.mode.value,
        "status": appointment.status.value,
        "sequence": appointment.sequence,
        "client_phone": appointment.client_phone_enc is not None,
        "sms_consent": appointment.sms_consent,
        "client_id": appointment.client_id,
        "client_language": appointment.client_language,
    }


def _active_counsellor(session: Session, counsellor_id: int) -> Counsellor:
    # FOR SHARE: nobody deactivates the counsellor before this transaction ends, while other
    # bookings for the same person go ahead in parallel (the exclusion constraint judges them).
    counsellor = session.get(Counsellor, counsellor_id, with_for_update={"read": True})
    if counsellor is None:
        raise NotFound(f"no counsellor with id {counsellor_id}", field="counsellor_id")
    if not counsellor.active:
        raise Invalid("the counsellor is deactivated", field="counsellor_id")
    return counsellor


def _clash(
    session: Session, counsellor_id: int, start: datetime, end: datetime, ignore: int | None
) -> Appointment | None:
    query = (
        select(Appointment)
        .where(
            Appointment.counsellor_id == counsellor_id,
            Appointment.status == AppointmentStatus.BOOKED,
            Appointment.start_at < end,
            Appointment.start_at > start - MAX_LENGTH,  # bounded scan of (counsellor, start)
            Appointment.end_at > start,
        )
        .order_by(Appointment.start_at, Appointment.id)
        .limit(1)
    )
    if ignore is not None:
        query = query.where(Appointment.id != ignore)
    return session.scalar(query)


def _is_overlap(exc: IntegrityError) -> bool:
    diag = getattr(exc.orig, "diag", None)
    return getattr(diag, "constraint_name", None) == APPOINTMENT_OVERLAP or (
        APPOINTMENT_OVERLAP in str(exc.orig)
    )


def _save(session: Session, config: HotlineConfig, appointment: Appointment) -> None:
    """Write the appointment (new or moved); a concurrent booking that won the race on
    PostgreSQL's exclusion constraint becomes an Overlap naming it."""
    # Read before the savepoint: rolling it back expires what was changed inside it.
    wanted = (appointment.counsellor_id, appointment.start_at, appointment.end_at, appointment.id)
    try:
        with session.begin_nested():
            session.add(appointment)
            session.flush()
    except IntegrityError as exc:
        if not _is_overlap(exc):
            raise
        other = _clash(session, *wanted)
        if other is None:
            raise Conflict("Zu dieser Zeit ist bereits ein Termin gebucht.", field="start") from exc
        raise Overlap(other, config.organisation.zone) from exc


def _refuse_overlap(
    session: Session,
    config: HotlineConfig,
    counsellor_id: int,
    start: datetime,
    end: datetime,
    ignore: int | None = None,
) -> None:
    other = _clash(session, counsellor_id, start, end, ignore)
    if other is not None:
        raise Overlap(other, config.organisation.zone)


def _client_record(session: Session, client_id: int) -> ClientRecord:
    # FOR SHARE: the client is not erased before the booking commits.
    record = session.get(ClientRecord, client_id, with_for_update={"read": True})
    if record is None:
        raise NotFound(f"no client with id {client_id}", field="client_id")
    return record


def get(session: Session, appointment_id: int, *, lock: bool = False) -> Appointment:
    appointment = session.get(Appointment, appointment_id, with_for_update=lock or None)
    if appointment is None:
        raise NotFound(f"no appointment with id {appointment_id}")
    return appointment


def book(
    session: Session,
    settings: Settings,
    new: NewAppointment,
    *,
    actor: str,
    now: datetime | None = None,
) -> Appointment:
    """Book an appointment and its reminders. Appointments may also be entered after the fact
    (a meeting that took place); reminders are written only for moments still ahead."""
    config = settings.config
    start, end = _interval(new.start, new.end)
    record = _client_record(session, new.client_id) if new.client_id is not None else None
    if record is not None:
        pseudonym, phone_enc = record.pseudonym, record.phone_enc
        consent = phone_enc is not None and record.sms_consent
    else:
        pseudonym = check_pseudonym(new.client.pseudonym)
        phone = check_phone(new.client.phone, new.client.sms_consent)
        phone_enc = crypto.box(settings).seal(phone) if phone else None
        consent = phone is not None and new.client.sms_consent
    location, video_link = check_place(new.mode, new.location, new.video_link)
    language = (
        check_language(config, new.client_language)
        if new.client_language is not None
        else default_language(config, record.language if record is not None else None)
    )
    counsellor = _active_counsellor(session, new.counsellor_id)
    if record is not None and record.team_id not in {team.id for team in counsellor.teams}:
        raise Invalid("the counsellor is not in the client's team", field="counsellor_id")
    _refuse_overlap(session, config, counsellor.id, start, end)
    appointment = Appointment(
        counsellor_id=counsellor.id,
        client_id=record.id if record is not None else None,
        client_pseudonym=pseudonym,
        client_phone_enc=phone_enc,
        sms_consent=consent,
        start_at=start,
        end_at=end,
        mode=new.mode,
        location=location,
        video_link=video_link,
        status=AppointmentStatus.BOOKED,
        sequence=0,
        client_language=language,
    )
    _save(session, config, appointment)
    audit.record(
        session, actor, "create", "appointment", appointment.id, after=_snapshot(appointment)
    )
    sync_reminders(session, config, appointment, now or utcnow())
    return appointment


def reschedule(
    session: Session,
    settings: Settings,
    appointment_id: int,
    start: datetime,
    end: datetime,
    *,
    actor: str,
    now: datetime | None = None,
) -> Appointment:
    """Move a booked appointment; its pending reminders move with it."""
    config = settings.config
    new_start, new_end = _interval(start, end)
    appointment = get(session, appointment_id, lock=True)
    if appointment.status is not AppointmentStatus.BOOKED:
        raise Conflict(
            f"the appointment is {appointment.status.value}; only booked ones can be moved",
            field="status",
        )
    if (appointment.start_at, appointment.end_at) == (new_start, new_end):
        return appointment
    _active_counsellor(session, appointment.counsellor_id)
    _refuse_overlap(session, config, appointment.counsellor_id, new_start, new_end, appointment.id)
    before = _snapshot(appointment)
    appointment.start_at, appointment.end_at = new_start, new_end
    appointment.sequence += 1
    _save(session, config, appointment)
    audit.record(
        session,
        actor,
        "reschedule",
        "appointment",
        appointment.id,
        before=before,
        after=_snapshot(appointment),
    )
    sync_reminders(session, config, appointment, now or utcnow())
    return appointment


def cancel(
    session: Session,
    settings: Settings,
    appointment_id: int,
    *,
    actor: str,
    now: datetime | None = None,
) -> Appointment:
    """Cancel a booked appointment and its pending reminders. Cancelling a cancelled one changes
    nothing (a retried request is harmless); one marked done or no-show stays as it is."""
    appointment = get(session, appointment_id, lock=True)
    if appointment.status is AppointmentStatus.CANCELLED:
        return appointment
    if appointment.status is not AppointmentStatus.BOOKED:
        raise Conflict(
            f"the appointment is already marked {appointment.status.value}", field="status"
        )
    _change_status(session, settings, appointment, AppointmentStatus.CANCELLED, actor, now)
    return appointment


def mark(
    session: Session,
    settings: Settings,
    appointment_id: int,
    status: AppointmentStatus,
    *,
    actor: str,
    now: datetime | None = None,
) -> Appointment:
    """Mark an appointment that has begun as done or no-show (a mistake can be corrected by
    marking it again the other way)."""
    if status not in MARKS:
        raise Invalid("status: done or no_show", field="status")
    now = now or utcnow()
    appointment = get(session, appointment_id, lock=True)
    if appointment.status is AppointmentStatus.CANCELLED:
        raise Conflict("the appointment is cancelled", field="status")
    if appointment.start_at > now:
        raise Invalid("an appointment can be marked once it has begun", field="status")
    if appointment.status is not status:
        _change_status(session, settings, appointment, status, actor, now)
    return appointment


def _change_status(
    session: Session,
    settings: Settings,
    appointment: Appointment,
    status: AppointmentStatus,
    actor: str,
    now: datetime | None,
) -> None:
    before = _snapshot(appointment)
    appointment.status = status
    appointment.sequence += 1
    session.flush()
    audit.record(
        session,
        actor,
        status.value if status is AppointmentStatus.CANCELLED else "mark",
        "appointment",
        appointment.id,
        before=before,
        after=_snapshot(appointment),
    )
    sync_reminders(session, settings.config, appointment, now or utcnow())


def list_appointments(
    session: Session,
    *,
    start: datetime,
    end: datetime,
    counsellor_ids: Collection[int] | None = None,
) -> list[Appointment]:
    """Appointments (any status) overlapping [start, end), in start order; only those of
    `counsellor_ids` when given."""
    query = (
        select(Appointment)
        .where(
            Appointment.start_at < end,
            Appointment.start_at > start - MAX_LENGTH,
            Appointment.end_at > start,
        )
        .order_by(Appointment.start_at, Appointment.id)
    )
    if counsellor_ids is not None:
        query = query.where(Appointment.counsellor_id.in_(list(counsellor_ids)))
    return list(session.scalars(query))


def team_counsellor_ids(team: Team) -> list[int]:
    return [counsellor.id for counsellor in team.counsellors]


def counsellor_names(session: Session, ids: Collection[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = session.execute(select(Counsellor.id, Counsellor.name).where(Counsellor.id.in_(ids)))
    return {row[0]: row[1] for row in rows}
