"""What the appointments page writes of times, in the page's language: an appointment's span
with its zone's abbreviation ("01.12.2026 10:00 MEZ – 11:00 MEZ"; "1 Dec 2026 10:00 CET – 11:00
CET"), the explanations of the two DST nights (`scheduling.wallclock`), and the refusals the use
cases word themselves (an overlap, a busy time). German is what `scheduling.appointments` and
`scheduling.wallclock` write for the API, word for word; the page's copies are its own text,
translated like every other (`web.i18n`)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from foundation import dates
from foundation.models import BusyInterval
from scheduling import appointments as cases
from scheduling.wallclock import Ambiguous, Nonexistent, abbreviation
from web.i18n import N_, _, language

# The zone's names as `scheduling.wallclock.abbreviation` gives them (German: MEZ, MESZ).
ZONE_NAMES = (N_("MEZ"), N_("MESZ"))


def zone_name(moment: datetime, zone: ZoneInfo) -> str:
    """'MEZ', 'MESZ' (English: 'CET', 'CEST') at `moment`."""
    return _(abbreviation(moment, zone))


def moment_text(moment: datetime, zone: ZoneInfo) -> str:
    """'25.10.2026 02:30 MEZ': the zone's name tells the two autumn 02:30s apart."""
    local = moment.astimezone(zone)
    day = dates.day_month_year(local.date(), language())
    return f"{day} {dates.clock(moment, zone, language())} {zone_name(moment, zone)}"


def span_text(start: datetime, end: datetime, zone: ZoneInfo) -> str:
    """'01.12.2026 10:00 MEZ – 11:00 MEZ'; both days when it ends on another."""
    if start.astimezone(zone).date() == end.astimezone(zone).date():
        last = f"{dates.clock(end, zone, language())} {zone_name(end, zone)}"
        return f"{moment_text(start, zone)} – {last}"
    return f"{moment_text(start, zone)} – {moment_text(end, zone)}"


def explain_nonexistent(gap: Nonexistent) -> str:
    """Next to the time field: the spring night skips this time."""
    return _(
        "Diese Uhrzeit gibt es am %(day)s nicht (Umstellung auf Sommerzeit): Um %(jump_from)s "
        "Uhr werden die Uhren auf %(jump_to)s Uhr vorgestellt. Bitte wählen Sie eine Uhrzeit "
        "vor %(jump_from)s oder ab %(jump_to)s Uhr.",
        day=dates.day_month_year(gap.day, language()),
        jump_from=f"{gap.jump_from:%H:%M}",
        jump_to=f"{gap.jump_to:%H:%M}",
    )


def explain_ambiguous(doubled: Ambiguous) -> str:
    """Next to the time field: the autumn night repeats this time."""
    return _(
        "%(clock)s Uhr gibt es am %(day)s zweimal (Umstellung auf Winterzeit: Um "
        "%(back_from)s Uhr werden die Uhren auf %(back_to)s Uhr zurückgestellt). Bitte wählen "
        "Sie, welche gemeint ist.",
        clock=f"{doubled.clock:%H:%M}",
        day=dates.day_month_year(doubled.day, language()),
        back_from=f"{doubled.back_from:%H:%M}",
        back_to=f"{doubled.back_to:%H:%M}",
    )


def choice_labels(doubled: Ambiguous, zone: ZoneInfo) -> tuple[str, str]:
    """The two readings' radio labels: '02:30 MESZ (erste)', '02:30 MEZ (zweite)'."""
    clock = f"{doubled.clock:%H:%M}"
    return (
        _("%(clock)s %(zone)s (erste)", clock=clock, zone=zone_name(doubled.first, zone)),
        _("%(clock)s %(zone)s (zweite)", clock=clock, zone=zone_name(doubled.second, zone)),
    )


def overlap(exc: cases.Overlap, zone: ZoneInfo) -> str:
    """The booked appointment in the way."""
    return _(
        "Zu dieser Zeit ist bereits ein Termin gebucht (%(when)s, Termin %(id)s).",
        when=span_text(exc.existing_start, exc.existing_end, zone),
        id=exc.existing_id,
    )


def busy_warning(found: list[BusyInterval], zone: ZoneInfo) -> str | None:
    """A warning when a booked time overlaps the counsellor's busy times (booking is not
    refused: the external calendar may be out of date); None without any."""
    if not found:
        return None
    lang = language()
    spans = ", ".join(
        f"{dates.day_month(b.start_at.astimezone(zone).date(), lang)} "
        f"{dates.clock(b.start_at, zone, lang)}–{dates.clock(b.end_at, zone, lang)}"
        for b in found[:3]
    )
    return _(
        "Achtung: Im eigenen Kalender ist diese Zeit als belegt eingetragen (%(spans)s).",
        spans=spans,
    )
