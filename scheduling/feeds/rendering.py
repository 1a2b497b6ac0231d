"""A feed's events as RFC 5545 text (pure): no METHOD, a published calendar rather than a
scheduling message; written with `scheduling.feeds.ical`, not `icalendar` objects (the hot
path; bench/feeds.py compares the two).

Privacy: an appointment is "Beratungstermin (Telefon)"; no client name, number, place or
video link ever reaches a feed (the pseudonym only with `feeds.show_pseudonym`).

Shifts are shown as they will be worked (`scheduling.feeds.duties`): a shift that stand-ins
or absences cut comes as its parts, each one person's (or a gap, or cancelled).

UIDs and SEQUENCE: `shift-<id>@<host>` (a whole shift, or its first part),
`shift-<id>-<part start in UTC>@<host>` (a later part) and `appointment-<id>@<host>`. An
appointment's SEQUENCE is its own `sequence` (bumped by every change). A shift's `revision`
and `cover_revision` only feed the fingerprint: the SEQUENCE of its parts is the whole
seconds from SEQUENCE_EPOCH to the newer of its `updated_at` and its `cover_changed_at` (when
a stand-in or absence last changed who works it), which only ever grows and is what
subscribers have held since before either counter existed. Changing a shift in the rota page
replaces it by a new row (a new UID: subscribers drop the old event and add the new one,
which is right for a published feed); changes in place (a swap) bump `updated_at`, stand-ins
and absences `cover_changed_at`, and with them the SEQUENCE.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime

from foundation.models import AppointmentMode, AppointmentStatus, Tier
from scheduling.feeds.events import AppointmentEvent, Calendar, Duty, ShiftEvent, Window
from scheduling.feeds.ical import duration_minutes, escape_text, join, utc_stamp, vtimezone, zoned

PRODID = "-//konex//konex hotline//DE"
SEQUENCE_EPOCH = datetime(2024, 1, 1, tzinfo=UTC)
TIER_LABELS = {Tier.PRIMARY: "primär", Tier.BACKUP: "Hintergrund"}
MODE_LABELS = {
    AppointmentMode.PHONE: "Telefon",
    AppointmentMode.IN_PERSON: "vor Ort",
    AppointmentMode.VIDEO: "Video",
}


def sequence_of(updated: datetime) -> int:
    """A shift's (and its parts') SEQUENCE: whole seconds since SEQUENCE_EPOCH, so it grows
    with every change."""
    return max(0, int((updated - SEQUENCE_EPOCH).total_seconds()))


def shift_uid(event: ShiftEvent) -> str:
    """`shift-<id>` for a whole shift and for its first part, `shift-<id>-<start in UTC>` for
    a later part: the same duty keeps its UID as long as what cuts it stays the same."""
    return (
        f"shift-{event.id}" if event.part is None else f"shift-{event.id}-{utc_stamp(event.part)}"
    )


def shift_summary(event: ShiftEvent) -> str:
    """ "Rufbereitschaft Islamismus (primär)", "(primär, Vertretung)" or "(primär, Vertretung
    für Anna Berger)"; the team feed adds who works it (": Anna Berger") or ": Lücke". A
    cancelled part reads like the duty it was, so a calendar sees the same event go."""
    label = TIER_LABELS[event.tier]
    if event.duty is Duty.STAND_IN:
        label += f", Vertretung für {event.replaced}" if event.replaced else ", Vertretung"
    summary = f"Rufbereitschaft {event.team} ({label})"
    if event.duty is Duty.GAP:
        return f"{summary}: Lücke"
    return f"{summary}: {event.person}" if event.person else summary


def appointment_summary(event: AppointmentEvent) -> str:
    summary = f"Beratungstermin ({MODE_LABELS[event.mode]})"
    return f"{summary}: {event.pseudonym}" if event.pseudonym else summary


def _shift_lines(event: ShiftEvent, calendar: Calendar) -> list[str]:
    summary = escape_text(shift_summary(event))
    stamp = utc_stamp(event.updated)
    cancelled = event.duty is Duty.CANCELLED
    lines = [
        "BEGIN:VEVENT",
        f"UID:{shift_uid(event)}@{calendar.uid_host}",
        f"DTSTAMP:{stamp}",
        f"CREATED:{utc_stamp(event.created)}",
        f"LAST-MODIFIED:{stamp}",
        f"SEQUENCE:{sequence_of(event.updated)}",
        zoned("DTSTART", event.start, calendar.zone),
        zoned("DTEND", event.end, calendar.zone),
        f"SUMMARY:{summary}",
        "STATUS:CANCELLED" if cancelled else "STATUS:CONFIRMED",
        "TRANSP:TRANSPARENT",  # on call is not busy: Outlook would block whole days
        "CLASS:PRIVATE",
    ]
    if calendar.alarm_minutes and not cancelled:
        lines += [
            "BEGIN:VALARM",
            "ACTION:DISPLAY",
            f"DESCRIPTION:{summary}",
            f"TRIGGER:-{duration_minutes(calendar.alarm_minutes)}",
            "END:VALARM",
        ]
    lines.append("END:VEVENT")
    return lines


def _appointment_lines(event: AppointmentEvent, calendar: Calendar) -> list[str]:
    stamp = utc_stamp(event.updated)
    cancelled = event.status is AppointmentStatus.CANCELLED
    return [
        "BEGIN:VEVENT",
        f"UID:appointment-{event.id}@{calendar.uid_host}",
        f"DTSTAMP:{stamp}",
        f"CREATED:{utc_stamp(event.created)}",
        f"LAST-MODIFIED:{stamp}",
        f"SEQUENCE:{event.sequence}",
        zoned("DTSTART", event.start, calendar.zone),
        zoned("DTEND", event.end, calendar.zone),
        f"SUMMARY:{escape_text(appointment_summary(event))}",
        "STATUS:CANCELLED" if cancelled else "STATUS:CONFIRMED",
        "TRANSP:TRANSPARENT" if cancelled else "TRANSP:OPAQUE",
        "CLASS:PRIVATE",
        "END:VEVENT",
    ]


def render(
    calendar: Calendar,
    span: Window,
    shifts: Sequence[ShiftEvent],
    appointments: Sequence[AppointmentEvent] = (),
) -> bytes:
    """The feed as RFC 5545 octets: UTF-8, CRLF, folded; one VTIMEZONE for the one TZID,
    exact over the window and the events in it; events by start."""
    moments = [span.start, span.end]
    moments += [e.start for e in shifts[:1]] + [e.end for e in shifts[-1:]]
    moments += [e.start for e in appointments[:1]] + [e.end for e in appointments[-1:]]
    zone = calendar.zone
    # Whole years: the VTIMEZONE (cached) stays the same all year.
    first = date(min(moments).astimezone(zone).year - 1, 12, 31)
    last = max(max(e.end for e in shifts) if shifts else span.end, max(moments))
    name = escape_text(calendar.name)
    refresh = duration_minutes(calendar.refresh_minutes)
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        f"PRODID:{PRODID}",
        "CALSCALE:GREGORIAN",
        f"NAME:{name}",
        f"X-WR-CALNAME:{name}",
        f"REFRESH-INTERVAL;VALUE=DURATION:{refresh}",
        f"X-PUBLISHED-TTL:{refresh}",
        *vtimezone(zone.key, first, date(last.astimezone(zone).year + 1, 1, 2)),
    ]
    events: list[tuple[datetime, int, list[str]]] = []
    events += [(e.start, 0, _shift_lines(e, calendar)) for e in shifts]
    events += [(e.start, 1, _appointment_lines(e, calendar)) for e in appointments]
    events.sort(key=lambda item: (item[0], item[1]))
    for _, _, event_lines in events:
        lines += event_lines
    lines.append("END:VCALENDAR")
    return join(lines)
