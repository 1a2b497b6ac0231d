"""The booking and move forms of the appointments page: the times they name (pure) and what
they say when a value or the use case refuses (in the viewer's language).

Times are typed as Berlin wall-clock times. The two DST nights are handled out loud
(`scheduling.wallclock`): a time the spring night skips is refused with an explanation, a time
the autumn night repeats is booked only once the person chose which of the two is meant.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, time
from zoneinfo import ZoneInfo

from foundation.errors import Conflict, DomainError
from scheduling import appointments as cases
from scheduling.wallclock import Ambiguous, Exact, Nonexistent, resolve
from web.appointment_words import choice_labels, explain_ambiguous, explain_nonexistent, overlap
from web.i18n import N_, _
from web.pages import as_day

DURATIONS = (30, 45, 60, 90, 120)
MIN_MINUTES, MAX_MINUTES = 5, 8 * 60
# The messages by field (the use cases speak English for the API), marked for the catalogues.
MESSAGES = {
    "counsellor_id": N_("Bitte wählen Sie eine aktive Beraterin oder einen aktiven Berater."),
    "client.pseudonym": N_(
        "Bitte geben Sie ein Pseudonym an (höchstens 100 Zeichen, ohne Telefonnummer)."
    ),
    "client.phone": N_("Das ist keine gültige Telefonnummer (zum Beispiel 0151 23456789)."),
    "client.sms_consent": N_(
        "SMS-Erinnerungen gehen nur an eine Mobilnummer: Bitte geben Sie "
        "eine an oder lassen Sie das Häkchen weg."
    ),
    "client_language": N_("Bitte wählen Sie eine Sprache, in der es SMS-Texte gibt."),
    "location": N_("Bitte geben Sie den Ort des Termins an."),
    "video_link": N_("Bitte geben Sie den Link zum Video-Termin an; er beginnt mit https://."),
    "start": N_("Bitte geben Sie Datum und Uhrzeit des Beginns an."),
    "end": N_("Die Dauer muss zwischen 5 Minuten und 8 Stunden liegen."),
    "duration": N_("Die Dauer muss zwischen 5 Minuten und 8 Stunden liegen."),
    "mode": N_("Bitte wählen Sie, wie der Termin stattfindet."),
    "status": N_(
        "Dieser Termin ist abgesagt oder abgeschlossen und kann so nicht mehr geändert werden."
    ),
    "not_begun": N_(
        "Ein Termin kann erst ab seinem Beginn als wahrgenommen oder nicht erschienen "
        "markiert werden."
    ),
    "missing": N_("Diesen Termin gibt es nicht (mehr), oder Sie dürfen ihn nicht ändern."),
    "bad_status": N_("Bitte wählen Sie „Wahrgenommen“ oder „Nicht erschienen“."),
}


@dataclass(frozen=True, slots=True)
class Start:
    """The start instant a form names, or why it names none."""

    at: datetime | None
    error: str | None = None


def start_from(values: Mapping[str, str], zone: ZoneInfo) -> Start:
    """Resolve the form's date, time and (on the autumn night) chosen fold into an instant."""
    day = as_day(values.get("date"))
    try:
        clock = time.fromisoformat(values.get("time", ""))
    except ValueError:
        return Start(None, _(MESSAGES["start"]))
    if day is None:
        return Start(None, _(MESSAGES["start"]))
    resolution = resolve(day, clock, zone)
    if isinstance(resolution, Nonexistent):
        return Start(None, explain_nonexistent(resolution))
    if isinstance(resolution, Ambiguous):
        fold = values.get("fold", "")
        if fold not in ("0", "1"):
            return Start(None, explain_ambiguous(resolution))
        return Start(resolution.choose(int(fold)))
    assert isinstance(resolution, Exact)
    return Start(resolution.at)


def fold_choices(values: Mapping[str, str], zone: ZoneInfo) -> tuple[str, str] | None:
    """Radio labels ("02:30 MESZ (erste)", "02:30 MEZ (zweite)") if the typed time is one the
    autumn night repeats, else None (no question to ask)."""
    day = as_day(values.get("date"))
    try:
        clock = time.fromisoformat(values.get("time", ""))
    except ValueError:
        return None
    if day is None:
        return None
    resolution = resolve(day, clock, zone)
    return choice_labels(resolution, zone) if isinstance(resolution, Ambiguous) else None


def minutes_from(raw: str) -> int | None:
    text = raw.strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 4:
        return None
    minutes = int(text)
    return minutes if MIN_MINUTES <= minutes <= MAX_MINUTES else None


def form_values(start: datetime, end: datetime, zone: ZoneInfo) -> dict[str, str]:
    """The time fields that show an existing appointment (for the move form)."""
    local = start.astimezone(zone)
    return {
        "date": local.date().isoformat(),
        "time": f"{local:%H:%M}",
        "fold": str(local.fold),
        "duration": str(round((end - start).total_seconds() / 60)),
    }


def refusal(exc: DomainError, zone: ZoneInfo) -> tuple[str, str]:
    """(form field, message) for a refusal of the use case."""
    if isinstance(exc, cases.Overlap):
        return "start", overlap(exc, zone)  # naming the appointment in the way
    field = exc.field or "start"
    if field == "status" and not isinstance(exc, Conflict):
        return "status", _(MESSAGES["not_begun"])
    return field, _(MESSAGES.get(field, exc.message))
