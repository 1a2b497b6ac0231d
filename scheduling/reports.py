"""The scheduling half of a team's report (issue 17): the appointments of the team's
counsellors, their reminders, and the rota (gaps, stand-ins, notices), for a period and the
previous one. The shape and the protection of small counts are `foundation.reports`; clients
are told apart by their pseudonym (the only handle an appointment has)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import case, exists, func, select
from sqlalchemy.orm import Session

from config.model import HotlineConfig
from foundation import reports as r
from foundation.models import (
    Appointment,
    AppointmentStatus,
    AuditEntry,
    DispatchState,
    Reminder,
    ShiftNotice,
    Team,
    TeamMembership,
)
from foundation.teams import team_by_slug
from scheduling import rota, shifts
from scheduling.replies import ACTOR as CLIENT_SMS
from scheduling.replies import REPLY_ACTION

NOW, BEFORE = 1, 0
APPOINTMENT_PARTS = ("held", "no_show", "cancelled_by_client", "cancelled_by_staff", "open")
REMINDER_STATES = (
    DispatchState.SENT,
    DispatchState.MISSED,
    DispatchState.FAILED,
    DispatchState.UNCERTAIN,
)


def _periods(period: r.Period) -> tuple[r.Period, r.Period]:
    return period, period.previous()


def _key(column: Any, period: r.Period) -> Any:
    return case((column < period.start, BEFORE), else_=NOW)


def _team_counsellors(team: Team) -> Any:
    return select(TeamMembership.counsellor_id).where(TeamMembership.team_id == team.id)


def _appointment_part() -> Any:
    by_sms = exists().where(
        AuditEntry.entity == "appointment",
        AuditEntry.entity_id == Appointment.id,
        AuditEntry.actor == CLIENT_SMS,
        AuditEntry.action == REPLY_ACTION,
    )
    return case(
        (Appointment.status == AppointmentStatus.DONE, "held"),
        (Appointment.status == AppointmentStatus.NO_SHOW, "no_show"),
        (
            Appointment.status == AppointmentStatus.CANCELLED,
            case((by_sms, "cancelled_by_client"), else_="cancelled_by_staff"),
        ),
        else_="open",
    )


def person(pseudonym: str) -> str:
    """A client as the reports tell clients apart: her pseudonym regardless of case and blanks
    ("Kranich", " kranich" and "KRA NICH" are one person; rather too few people than too
    many)."""
    return "".join(pseudonym.split()).casefold()


def _by_person(rows: Iterable[Any]) -> dict[tuple[int, str], r.Raw]:
    """Rows (period key, part, pseudonym, count) as a count and its distinct clients (by
    `person`) per (period key, part). The pseudonyms are grouped in the database: one row
    per client and part, not per appointment."""
    counts: dict[tuple[int, str], int] = defaultdict(int)
    people: dict[tuple[int, str], set[str]] = defaultdict(set)
    for p, part, pseudonym, n in rows:
        counts[(p, part)] += n
        people[(p, part)].add(person(pseudonym))
    return {key: r.Raw(n, len(people[key])) for key, n in counts.items()}


def appointment_figures(
    session: Session, config: HotlineConfig, team_slug: str, period: r.Period, min_count: int
) -> tuple[r.AppointmentFigures, r.ReminderFigures]:
    """Appointments starting in both periods and reminders due in them."""
    team = team_by_slug(session, team_slug, config)
    now, before = _periods(period)
    key = _key(Appointment.start_at, period).label("p")
    part = _appointment_part().label("part")
    mine = [
        Appointment.counsellor_id.in_(_team_counsellors(team)),
        Appointment.start_at >= before.start,
        Appointment.start_at < now.end,
    ]
    rows = session.execute(
        select(key, part, Appointment.client_pseudonym, func.count())
        .where(*mine)
        .group_by(key, part, Appointment.client_pseudonym)
    ).all()
    found = _by_person(rows)
    totals = {p: raw for (p, _), raw in _by_person((p, "", c, n) for p, _, c, n in rows).items()}

    def row(p: int) -> tuple[r.Raw, list[r.Raw]]:
        return totals.get(p, r.ZERO), [found.get((p, name), r.ZERO) for name in APPOINTMENT_PARTS]

    booked, parts = r.compared_row(row(NOW), row(BEFORE), min_count)
    appointments = r.AppointmentFigures(booked, *parts)

    reminder_key = _key(Reminder.due_at, period).label("p")
    reminders = _by_person(
        (p, DispatchState(state).value, pseudonym, n)
        for p, state, pseudonym, n in session.execute(
            select(reminder_key, Reminder.state, Appointment.client_pseudonym, func.count())
            .join(Appointment, Appointment.id == Reminder.appointment_id)
            .where(
                Appointment.counsellor_id.in_(_team_counsellors(team)),
                Reminder.due_at >= before.start,
                Reminder.due_at < now.end,
                Reminder.state.in_(REMINDER_STATES),
            )
            .group_by(reminder_key, Reminder.state, Appointment.client_pseudonym)
        )
    )

    def both(state: DispatchState) -> r.Compared:
        return r.compared(
            reminders.get((NOW, state.value), r.ZERO),
            reminders.get((BEFORE, state.value), r.ZERO),
            min_count,
        )

    return appointments, r.ReminderFigures(*(both(state) for state in REMINDER_STATES))


def _hours(spans: list[tuple[datetime, datetime]]) -> float:
    return sum((end - start).total_seconds() for start, end in spans) / 3600


def rota_figures(
    session: Session, config: HotlineConfig, team_slug: str, period: r.Period
) -> r.RotaFigures:
    """Hours without a primary on call, hours worked by stand-ins, and notices sent."""
    team = team_by_slug(session, team_slug, config)
    now, before = _periods(period)
    # The rota of both periods, read once.
    spans, stand_ins, away = shifts.rota_of(session, config, team_slug, before.start, now.end)
    worked = list(zip(spans, rota.worked(spans, stand_ins, away), strict=True))
    windows = [(now.start, now.end), (before.start, before.end)]
    gaps = [_hours(g) for g in rota.gaps_each(spans, stand_ins, windows, absences=away)]
    stand_in_hours = []
    for p in (now, before):
        covered = [
            (max(part.start, p.start), min(part.end, p.end))
            for span, parts in worked
            for part in parts
            if part.by is not None and part.by != span.counsellor_id
        ]
        stand_in_hours.append(_hours([(a, b) for a, b in covered if b > a]))
    key = _key(ShiftNotice.sent_at, period).label("p")
    notices: dict[int, int] = dict(
        session.execute(
            select(key, func.count())
            .where(
                ShiftNotice.team_id == team.id,
                ShiftNotice.state == DispatchState.SENT,
                ShiftNotice.sent_at >= before.start,
                ShiftNotice.sent_at < now.end,
            )
            .group_by(key)
        ).all()
    )
    return r.RotaFigures(
        gap_hours=r.hours(*gaps),
        stand_in_hours=r.hours(*stand_in_hours),
        notices_sent=r.hours(notices.get(NOW, 0), notices.get(BEFORE, 0)),
    )
