"""Demo data: a few counsellors per team and four weeks of rota, so every page shows something."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from config.model import HotlineConfig
from foundation.models import Counsellor, Tier
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


def load_demo(session: Session, config: HotlineConfig, today: date) -> bool:
    """Load the demo into an empty database; False (and nothing changed) if it has counsellors."""
    if session.scalar(select(func.count()).select_from(Counsellor)):
        return False
    session.info[QUIET] = True  # demo shifts are nobody's news: no change notices
    first_day = today - timedelta(days=today.weekday())  # this week's Monday
    number = 0
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
                ),
                actor=ACTOR,
            )
            ids.append(counsellor.id)
        _rotation(session, config, team, ids, first_day)
    return True


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
