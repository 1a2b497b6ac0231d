"""A team's report, composed of its two halves (issue 17): the telephony figures
(`hotline.reports`) and the scheduling figures (`scheduling.reports`), in the shape of
`foundation.reports`. Used by the API (`web.api.reports`) and the "Berichte" page; CSV and JSON
forms are `foundation.report_tables`."""

from __future__ import annotations

from sqlalchemy.orm import Session

from config.model import HotlineConfig
from foundation import reports as r
from foundation.teams import team_by_slug
from hotline import reports as calls
from scheduling import reports as scheduling


def build(session: Session, config: HotlineConfig, team: str, period: r.Period) -> r.Report:
    """The report of `team` for `period` (compared with the previous period). An unknown team
    raises NotFound (field "team")."""
    row = team_by_slug(session, team, config)
    k = config.reports.min_count
    lines, detail_since = calls.line_figures(session, config, team, period, k)
    appointments, reminders = scheduling.appointment_figures(session, config, team, period, k)
    notes = tuple(
        f"line {line.slug}: caller hash off, no first-time or repeat callers"
        for line in lines
        if not line.callers.available
    )
    if detail_since is not None and detail_since > period.previous().first:
        notes += (
            f"days before {detail_since.isoformat()} come from the daily roll-up: no first-time"
            " or repeat callers there",
        )
    return r.Report(
        team=team,
        team_name=row.name,
        period=period,
        previous=period.previous(),
        min_count=k,
        lines=lines,
        appointments=appointments,
        reminders=reminders,
        rota=scheduling.rota_figures(session, config, team, period),
        detail_since=detail_since
        if detail_since and detail_since > period.previous().first
        else None,
        notes=notes,
    )
