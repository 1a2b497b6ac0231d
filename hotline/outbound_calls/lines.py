"""Which line a call-back goes through: the client sees that line's number, so a task is called
back through its own line, an appointment through a line of its counsellor's teams, and by
default through the line the client has seen before."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from config.model import HotlineConfig
from foundation.errors import Invalid
from foundation.models import Appointment, OutboundCall
from hotline.outbound_calls.targets import Target, teams


class WrongLine(Invalid):
    """The line asked for is not one the target may be called back through."""


def lines_for(session: Session, config: HotlineConfig, row: Target) -> list[str]:
    """The lines a target may be called back through, in the configuration's order: a task,
    its own line; an appointment, the lines of its counsellor's teams."""
    if not isinstance(row, Appointment):
        return [row.line] if row.line in config.lines else []
    slugs = {team.slug for team in teams(session, row)}
    return [slug for slug, line in config.lines.items() if line.team in slugs]


def default_line(lines: list[str], *preferred: str | None) -> str:
    """The first of `preferred` (e.g. the line of the target's latest call-back) that is one
    of `lines`, else the first of `lines`."""
    return next((line for line in preferred if line in lines), lines[0])


def _previous_line(session: Session, kind: str, target_id: int) -> str | None:
    """The line of the target's latest call-back: the client has seen that number before."""
    return session.scalar(
        select(OutboundCall.line)
        .where(OutboundCall.kind == kind, OutboundCall.target_id == target_id)
        .order_by(OutboundCall.id.desc())
        .limit(1)
    )


def choose_line(
    session: Session,
    config: HotlineConfig,
    row: Target,
    kind: str,
    asked: str | None,
    noun: str,
) -> str:
    """The line `asked` for (WrongLine if the target may not be called back through it), or
    with None the default; Invalid if the target has no configured line at all."""
    lines = lines_for(session, config, row)
    if not lines:
        raise Invalid(f"no configured line to call the {noun} from", field="line")
    if asked is None:
        return default_line(lines, _previous_line(session, kind, row.id))
    if asked not in lines:
        raise WrongLine(
            f"the {noun} can be called back only through the line "
            + " or ".join(repr(line) for line in lines),
            field="line",
        )
    return asked
