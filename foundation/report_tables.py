"""A report (`foundation.reports.Report`) as JSON and as CSV tables: the same cells, the same
suppression (a suppressed count is the string "<k"). Pure functions over the report."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, fields, is_dataclass
from typing import Any

from foundation import reports as r

WEEKDAY_NAMES = ("Mo", "Di", "Mi", "Do", "Fr", "Sa", "So")
JSON_SKIP = frozenset({"slug", "heat", "code"})


def _timing(timing: r.Timing, k: int) -> dict[str, Any]:
    return {"events": timing.events.shown(k), "median": timing.median, "p90": timing.p90}


def split(obj: Any, k: int) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """A figures dataclass as three dicts: the period, the previous period, the change."""
    now: dict[str, Any] = {}
    before: dict[str, Any] = {}
    change: dict[str, Any] = {}
    for item in fields(obj):
        name, value = item.name, getattr(obj, item.name)
        if name in JSON_SKIP:
            continue
        if name.endswith("_before"):
            before[name.removesuffix("_before")] = value
        elif isinstance(value, r.Compared):
            now[name] = value.now.shown(k)
            before[name] = value.before.shown(k)
            change[name] = value.change.shown(k)
        elif isinstance(value, r.ComparedTiming):
            now[name], before[name] = _timing(value.now, k), _timing(value.before, k)
        elif isinstance(value, r.Hours):
            now[name], before[name], change[name] = value.now, value.before, value.change
        elif is_dataclass(value):
            now[name], before[name], change[name] = split(value, k)
        elif isinstance(value, tuple) and all(isinstance(v, r.LanguageFigures) for v in value):
            by_code = {figures.code: split(figures, k) for figures in value}  # a line's languages
            for i, side in enumerate((now, before, change)):
                side[name] = {code: parts[i] for code, parts in by_code.items()}
        else:
            now[name] = value
    return now, before, change


def heat(heat_map: r.HeatMap, k: int) -> list[list[int | str]]:
    return [[cell.shown(k) for cell in row] for row in heat_map.cells]


def as_json(report: r.Report) -> dict[str, Any]:
    """The API's body: `{"team", "from", "to", "lines": {slug: {"calls": {...}, ...}}, ...}`;
    each line's and the team's figures for the period, and under "previous" and "change"
    the same for the previous period and the difference."""
    k = report.min_count
    lines: dict[str, Any] = {}
    for line in report.lines:
        now, before, change = split(line, k)
        lines[line.slug] = {**now, "heat": heat(line.heat, k), "previous": before, "change": change}
    team = {"appointments": report.appointments, "reminders": report.reminders, "rota": report.rota}
    team_now, team_before, team_change = {}, {}, {}
    for name, figures in team.items():
        team_now[name], team_before[name], team_change[name] = split(figures, k)
    return {
        "team": report.team,
        "from": report.period.first.isoformat(),
        "to": report.period.last.isoformat(),
        "kind": report.period.kind,
        "previous": {
            "from": report.previous.first.isoformat(),
            "to": report.previous.last.isoformat(),
        },
        "min_count": k,
        "lines": lines,
        **team_now,
        "previous_figures": team_before,
        "change": team_change,
        "detail_since": report.detail_since.isoformat() if report.detail_since else None,
        "notes": list(report.notes),
    }


# --- CSV -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Table:
    """One table of the report: its name (the CSV's file name without .csv), header, rows."""

    name: str
    header: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]


def _flat(prefix: str, value: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from _flat(f"{prefix}.{key}" if prefix else key, inner)
    else:
        yield prefix, value


def _rows(
    owner: str, now: dict[str, Any], before: dict[str, Any], change: dict[str, Any]
) -> list[tuple[Any, ...]]:
    previous, changes = dict(_flat("", before)), dict(_flat("", change))
    return [
        (owner, figure, value, previous.get(figure, ""), changes.get(figure, ""))
        for figure, value in _flat("", now)
    ]


FIGURE_HEADER = ("scope", "figure", "period", "previous", "change")


def tables(report: r.Report) -> list[Table]:
    """Every table of the report: "figures" (each line's and the team's figures: period,
    previous, change) and one heat map per line ("heat-<line>": weekday × hour)."""
    k = report.min_count
    rows: list[tuple[Any, ...]] = []
    for line in report.lines:
        rows += _rows(line.slug, *split(line, k))
    for name in ("appointments", "reminders", "rota"):
        rows += _rows(
            report.team, *(_prefixed(name, part) for part in split(getattr(report, name), k))
        )
    found = [Table("figures", FIGURE_HEADER, tuple(rows))]
    hours = tuple(f"{hour:02d}" for hour in range(r.HOURS))
    for line in report.lines:
        cells = heat(line.heat, k)
        found.append(
            Table(
                f"heat-{line.slug}",
                ("weekday", *hours),
                tuple((WEEKDAY_NAMES[d], *cells[d]) for d in range(r.WEEKDAYS)),
            )
        )
    return found


def _prefixed(name: str, values: dict[str, Any]) -> dict[str, Any]:
    return {name: values}


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def guarded(value: Any) -> Any:
    """A text cell a spreadsheet would take for a formula (=, +, -, @, a tab or carriage
    return first: CSV injection) gets a leading apostrophe; numbers stay numbers."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def csv_text(table: Table) -> str:
    """A table as CSV (comma-separated, a header row, CRLF line ends as RFC 4180 says); text
    cells guarded against formulas (`guarded`)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([guarded(cell) for cell in table.header])
    writer.writerows([guarded(cell) for cell in row] for row in table.rows)
    return out.getvalue()
