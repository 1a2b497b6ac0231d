"""Demo data: a few counsellors per team, four weeks of rota and (with the settings, which seal
their text) a few client records with exit plans and linked appointments, so every page shows
something. Clients have pseudonyms only: no names, no numbers."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from config.model import HotlineConfig
from config.settings import Settings
from foundation import access
from foundation.models import AppointmentMode, ClientStatus, Counsellor, PlanStepStatus, Tier
from scheduling import appointments
from scheduling.clients import plan, records
from scheduling.counsellors import NewCounsellor, create_counsellor
from scheduling.notices.changes import QUIET
from scheduling.rota import local_span
from scheduling.shifts import NewShift, create_shift

ACTOR = "demo"
HANDOFF = time(9, 0)
DAYS = 28
# Fictional people; the numbers are never dialled in simulation mode.
PEOPLE = {
    "islamism": ["Amira Yilmaz", "Jonas Becker", "Leyla Demir", "Tobias Krämer"],
    "right-wing": ["Sabine Roth", "Markus Weber", "Nina Hoffmann", "Felix Schäfer"],
    "office": ["Claudia Neumann", "Stefan Vogel"],
}
# The languages each demo counsellor counsels in besides German (the shipped lines' languages), so
# that a Turkish, Arabic, Russian or English caller in simulation mode reaches a speaker first.
LANGUAGES = {
    "Amira Yilmaz": ("de", "tr"),
    "Leyla Demir": ("de", "ar", "en"),
    "Markus Weber": ("de", "ru"),
    "Nina Hoffmann": ("de", "en"),
}
# Fictional cases: (team, pseudonym, relative, status, steps with their status, a session note,
# an appointment in days from this week's Monday (None: none), its counsellor's place in PEOPLE).
Step = tuple[str, PlanStepStatus]
CLIENTS: tuple[tuple[str, str, bool, ClientStatus, tuple[Step, ...], str, int | None, int], ...] = (
    (
        "islamism",
        "Falke",
        False,
        ClientStatus.IN_COUNSELLING,
        (
            ("Kontakte zur Gruppe verringern", PlanStepStatus.IN_PROGRESS),
            ("Ausbildungsplatz suchen", PlanStepStatus.OPEN),
            ("Vertrauensperson in der Familie benennen", PlanStepStatus.REACHED),
        ),
        "Zweites Gespräch: wirkt entschlossen, will den Kontakt zur Gruppe langsam abbauen.",
        8,
        0,
    ),
    ("islamism", "Möwe", True, ClientStatus.FIRST_CONTACT, (), "", None, 1),
    (
        "right-wing",
        "Kranich",
        False,
        ClientStatus.IN_COUNSELLING,
        (
            ("Aus dem Chat der Kameradschaft austreten", PlanStepStatus.REACHED),
            ("Tätowierung entfernen lassen", PlanStepStatus.OPEN),
        ),
        "Hat den Austritt aus dem Chat bestätigt. Nächstes Thema: Arbeit.",
        9,
        0,
    ),
    (
        "right-wing",
        "Eule",
        False,
        ClientStatus.PAUSED,
        (("Umzug planen", PlanStepStatus.DROPPED),),
        "",
        None,
        2,
    ),
)


def load_demo(
    session: Session, config: HotlineConfig, today: date, settings: Settings | None = None
) -> bool:
    """Load the demo into an empty database; False (and nothing changed) if it has counsellors.
    With `settings` (whose key seals the plans), the demo's clients too."""
    if session.scalar(select(func.count()).select_from(Counsellor)):
        return False
    session.info[QUIET] = True  # demo shifts are nobody's news: no change notices
    first_day = today - timedelta(days=today.weekday())  # this week's Monday
    number = 0
    people: dict[str, list[int]] = {}
    for team, names in PEOPLE.items():
        if team not in config.teams:
            continue
        ids = []
        for name in names:
            number += 1
            counsellor = create_counsellor(
                session,
                config,
                NewCounsellor(
                    name=name,
                    phone=f"+49151000000{number:02d}",
                    email=f"{name.split()[0].lower()}@example.org",
                    teams=(team,),
                    languages=LANGUAGES.get(name, ("de",)),
                ),
                actor=ACTOR,
            )
            ids.append(counsellor.id)
        people[team] = ids
        _rotation(session, config, team, ids, first_day)
    if settings is not None:
        _clients(session, settings, people, first_day)
    return True


def _clients(
    session: Session, settings: Settings, people: dict[str, list[int]], first_day: date
) -> None:
    """The demo's cases, each with its responsible counsellor, plan, note and appointment."""
    zone = settings.config.organisation.zone
    by = access.system(ACTOR)
    for team, pseudonym, relative, status, steps, note, day, who in CLIENTS:
        if team not in people:
            continue
        counsellor = people[team][who]
        new = records.NewClient(team, pseudonym, relative=relative, counsellor_ids=(counsellor,))
        client = records.create(session, settings, new, by=by)
        if status is not ClientStatus.FIRST_CONTACT:
            records.change_status(session, client.id, ClientStatus.IN_COUNSELLING, by=by)
            records.change_status(session, client.id, status, by=by)
        for title, state in steps:
            plan.add_step(session, settings, client.id, title, status=state, by=by)
        if note:
            plan.add_note(session, settings, client.id, note, by=by, author=PEOPLE[team][who])
        if day is not None:
            start = datetime.combine(first_day + timedelta(days=day), time(10, 0), tzinfo=zone)
            booked = appointments.NewAppointment(
                counsellor,
                appointments.Client(pseudonym),
                start,
                start + timedelta(hours=1),
                AppointmentMode.PHONE,
                client_id=client.id,
            )
            appointments.book(session, settings, booked, actor=ACTOR)
            plan.set_review(session, client.id, first_day + timedelta(days=day + 14), by=by)


def _rotation(
    session: Session, config: HotlineConfig, team: str, ids: list[int], first_day: date
) -> None:
    """Daily handoff at 09:00 local: primary goes round the team, backup is the next in line."""
    zone = config.organisation.zone
    for offset in range(DAYS):
        start, end = local_span(first_day + timedelta(days=offset), HANDOFF, 1, zone)
        primary = ids[offset % len(ids)]
        backup = ids[(offset + 1) % len(ids)]
        for tier, person in ((Tier.PRIMARY, primary), (Tier.BACKUP, backup)):
            create_shift(session, config, NewShift(team, person, tier, start, end), actor=ACTOR)


def demo_today(now: datetime, config: HotlineConfig) -> date:
    return now.astimezone(config.organisation.zone).date()
