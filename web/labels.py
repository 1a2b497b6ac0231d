"""How the pages name the domain's values (a shift's tier, an absence's kind), in the
request's language: German marked for the catalogues (`N_`), translated when asked (`web.i18n`).
SMS and e-mails keep their own German words (`scheduling`)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from config.languages import name_in
from config.model import HotlineConfig
from foundation import dates
from foundation.models import AbsenceKind, Role, Shift, TaskStatus, Tier
from web.i18n import N_, _, language

A_MONDAY = date(2024, 1, 1)

ROLES = {
    Role.ADMIN: N_("Administration"),
    Role.COORDINATOR: N_("Koordination"),
    Role.COUNSELLOR: N_("Beratung"),
}
TIERS = {Tier.PRIMARY: N_("Erreichbar"), Tier.BACKUP: N_("Hintergrund")}
ABSENCE_KINDS = {
    AbsenceKind.HOLIDAY: N_("Urlaub"),
    AbsenceKind.SICK: N_("krank"),
    AbsenceKind.OTHER: N_("abwesend"),
}

TASK_STATUSES = {
    TaskStatus.NEW: N_("offen"),
    TaskStatus.IN_PROGRESS: N_("in Arbeit"),
    TaskStatus.DONE: N_("erledigt"),
}
# The time windows of the public callback form (`hotline.tasks.callback_requests.WINDOWS`), as
# the task list shows them: translated by their German words (`_(task.time_window)`).
TIME_WINDOWS = (
    N_("jederzeit"),
    N_("morgens (8–11 Uhr)"),
    N_("mittags (11–14 Uhr)"),
    N_("nachmittags (14–17 Uhr)"),
    N_("abends (17–20 Uhr)"),
)


def tier(value: Tier) -> str:
    """'Erreichbar' (primary), 'Hintergrund' (backup)."""
    return _(TIERS[value])


def absence_kind(value: AbsenceKind) -> str:
    """'Urlaub', 'krank', 'abwesend' (lower case: it stands inside a sentence)."""
    return _(ABSENCE_KINDS[value])


def task_statuses() -> dict[TaskStatus, str]:
    return {value: _(TASK_STATUSES[value]) for value in TaskStatus}


def role(value: Role) -> str:
    """'Administration', 'Koordination', 'Beratung'."""
    return _(ROLES[value])


def roles() -> dict[Role, str]:
    return {value: role(value) for value in Role}


def tiers() -> dict[Tier, str]:
    return {value: tier(value) for value in Tier}


def absence_kinds() -> dict[AbsenceKind, str]:
    return {value: absence_kind(value) for value in AbsenceKind}


def language_name(code: str) -> str:
    """'Türkisch'; 'Turkish': a language as the page's language names it (Babel)."""
    return name_in(code, language())


def client_languages(config: HotlineConfig) -> dict[str, str]:
    """The languages a client's SMS can be in (German first, then `[reminders.languages]`),
    each named in the page's language: the choice of the client and booking forms."""
    return {code: language_name(code) for code in config.reminders.client_languages}


def counsellor_languages(config: HotlineConfig, has: Iterable[str] = ()) -> dict[str, str]:
    """The languages a counsellor form offers, each named in the page's language: German, those
    the lines speak (in their menu order), those of the client's SMS, then any she already has."""
    codes = ["de"]
    for line in config.lines.values():
        codes.extend(line.languages)
    codes.extend(config.reminders.client_languages)
    codes.extend(has)
    return {code: language_name(code) for code in dict.fromkeys(codes)}


def weekdays() -> list[str]:
    """The short weekday names, Monday first ('Mo' … 'So'; 'Mon' … 'Sun')."""
    return [dates.weekday(A_MONDAY + timedelta(days=i), language()) for i in range(7)]


def shift_option(shift: Shift, zone: ZoneInfo) -> str:
    """'Amira: Do 26.11., 09:00 – Fr 27.11., 09:00 (Erreichbar)': a shift to choose in a form."""
    when = dates.span(shift.start_at, shift.end_at, zone, language())
    return f"{shift.counsellor.name}: {when} ({tier(shift.tier)})"
