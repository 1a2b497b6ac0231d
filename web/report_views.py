"""The "Berichte" page's tables (issue 17): a `foundation.reports.Report` as tables, each shown
on the page and downloadable as CSV with the same cells (a suppressed count is "< k" on the page
and "<k" in the CSV, as in the JSON). Pure: no database, no request.

The CSV is German whatever the page's language: its headers and row labels are what programs
reading it find (docs/reports.md). The page shows the same German labels (marked `N_`) in its
language (`label`), and writes titles, periods and values the way of that language
(`web.i18n.language`).

Every table is a list of rows "figure: period, previous period, change"; the heat map is a grid
(hours × weekdays). Counts are `Cell`s; timings are seconds, shares fractions, rota figures
hours: each row says which (`Row.kind`) so that the page and the CSV write them their way."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

from babel.numbers import format_decimal, format_percent

from config.languages import german_name, name_in
from foundation import dates
from foundation import reports as r
from foundation.report_tables import Table
from web import labels
from web.i18n import N_, _, language

Kind = Literal["count", "seconds", "share", "hours"]
Value = r.Cell | float | None
LOCALE = dates.LOCALE
PERIOD_NAMES: dict[r.PeriodKind, str] = {
    "week": N_("Woche"),
    "month": N_("Monat"),
    "quarter": N_("Quartal"),
    "year": N_("Jahr"),
    "range": N_("Von–bis"),
}
WEEKDAY_NAMES = ("Mo", "Di", "Mi", "Do", "Fr", "Sa", "So")  # the CSV's (the page: `weekdays`)


@dataclass(frozen=True, slots=True)
class Row:
    label: str
    kind: Kind
    now: Value
    before: Value
    change: Value = None
    hidden: bool = False
    """A derived figure (a share, a median) that is not shown because what it is computed from
    is suppressed: written "< k" rather than "–" (which means: nothing to compute from)."""
    hidden_before: bool = False
    words: tuple[str, ...] = ()
    """The German parts the label is made of ("Gesprächsdauer", "Median"), each translated on
    the page; empty: the label is one text."""
    language: str | None = None
    """The language (ISO 639-1, or "unknown") the row is of, named first in its label: in
    German in `label` (the CSV's), in the page's language on the page (`words` the rest)."""


@dataclass(frozen=True, slots=True)
class FigureTable:
    name: str
    """The CSV's name in the URL: /reports/<team>/<name>.csv ("anrufe-islamism")."""
    title: str
    rows: tuple[Row, ...]


@dataclass(frozen=True, slots=True)
class HeatTable:
    name: str
    title: str
    cells: tuple[tuple[r.Cell, ...], ...]
    """As in `HeatMap`: 7 weekdays of 24 hours."""


@dataclass(frozen=True, slots=True)
class LineView:
    line: r.LineFigures
    tables: tuple[FigureTable, ...]
    heat: HeatTable


@dataclass(frozen=True, slots=True)
class ReportView:
    report: r.Report
    overview: FigureTable
    lines: tuple[LineView, ...]
    team_tables: tuple[FigureTable, ...]

    def tables(self) -> list[FigureTable | HeatTable]:
        found: list[FigureTable | HeatTable] = [self.overview]
        for line in self.lines:
            found += [*line.tables, line.heat]
        return found + list(self.team_tables)

    def table(self, name: str) -> FigureTable | HeatTable | None:
        return next((t for t in self.tables() if t.name == name), None)


# --- periods ---------------------------------------------------------------------------------


def day_text(day: date, code: str = "de") -> str:
    """'01.10.2026' (the CSV's, and the page's in German); '1 Oct 2026'."""
    return dates.day_month_year(day, code)


def page_day(day: date) -> str:
    """A day as the page's language writes it."""
    return day_text(day, language())


def title(period: r.Period) -> str:
    """'Oktober 2026', 'KW 41/2026 (05.10.–11.10.2026)', '4. Quartal 2026', 'Jahr 2026',
    '01.10.2026 – 15.10.2026', in the page's language ('Week 41/2026 (5 Oct–11 Oct 2026)')."""
    code = language()
    if period.kind == "week":
        iso = period.first.isocalendar()
        span = f"{dates.day_month(period.first, code)}–{day_text(period.last, code)}"
        return _("KW %(week)s/%(year)s (%(span)s)", week=iso.week, year=iso.year, span=span)
    if period.kind == "month":
        return dates.month_year(period.first, code)
    if period.kind == "quarter":
        quarter = (period.first.month - 1) // 3 + 1
        return _("%(quarter)s. Quartal %(year)s", quarter=quarter, year=period.first.year)
    if period.kind == "year":
        return _("Jahr %(year)s", year=period.first.year)
    return f"{day_text(period.first, code)} – {day_text(period.last, code)}"


def label_of(word: str) -> str:
    """One of the German words of the labels in the page's language (a template's `_()` would
    read the "%" of "90 % höchstens" as a placeholder)."""
    return _(word)


def label(row: Row) -> str:
    """A row's label in the page's language."""
    words = [_(word) for word in row.words] if row.words else [_(row.label)]
    if row.language is not None:
        words.insert(0, language_name(row.language, language()))
    return ": ".join(words)


UNKNOWN_LANGUAGE = N_("Sprache unbekannt")


def language_name(code: str, page_language: str = "de") -> str:
    """'Türkisch', 'Turkish': a language of the calls as the page's language names it (Babel);
    the calls of no known language "Sprache unbekannt"."""
    if code == r.UNKNOWN_LANGUAGE:
        return _(UNKNOWN_LANGUAGE)
    if page_language == "de":
        return german_name(code)
    return name_in(code, dates.locale_of(page_language))


def weekdays() -> list[str]:
    """The heat map's weekdays on the page ('Mo' …; 'Mon' …)."""
    return labels.weekdays()


def following(period: r.Period) -> r.Period:
    """The period of equal kind just after."""
    if period.kind == "range":
        first = period.last + timedelta(days=1)
        return r.Period("range", first, first + timedelta(days=period.days - 1), period.zone)
    return r.of_kind(period.kind, period.last + timedelta(days=1), period.zone)


def query(period: r.Period) -> str:
    """The page's query string that chooses `period`."""
    if period.kind == "range":
        return f"period=range&from={period.first.isoformat()}&to={period.last.isoformat()}"
    return f"period={period.kind}&date={period.first.isoformat()}"


# --- the tables ------------------------------------------------------------------------------


CASES, MEDIAN, P90 = N_("Fälle"), N_("Median"), N_("90 % höchstens")


def _count(label: str, value: r.Compared) -> Row:
    return Row(label, "count", value.now, value.before, value.change)


def _timing(label: str, value: r.ComparedTiming) -> list[Row]:
    now, before = value.now, value.before
    return [
        Row(f"{label}: {CASES}", "count", now.events, before.events, words=(label, CASES)),
        Row(
            f"{label}: {MEDIAN}",
            "seconds",
            now.median,
            before.median,
            None,
            now.events.suppressed,
            before.events.suppressed,
            words=(label, MEDIAN),
        ),
        Row(
            f"{label}: {P90}",
            "seconds",
            now.p90,
            before.p90,
            None,
            now.events.suppressed,
            before.events.suppressed,
            words=(label, P90),
        ),
    ]


def _share(label: str, now: float | None, before: float | None, *parts: r.Compared) -> Row:
    return Row(
        label,
        "share",
        now,
        before,
        None,
        any(p.now.suppressed for p in parts),
        any(p.before.suppressed for p in parts),
    )


def _line_tables(line: r.LineFigures) -> tuple[FigureTable, ...]:
    c, who, slug = line.calls, line.callers, line.slug
    calls = [
        _count(N_("Anrufe gesamt"), c.total),
        _count(N_("Angenommen von einer Beraterin oder einem Berater"), c.accepted),
        _count(N_("davon Erreichbar (erste Stufe)"), c.accepted_primary),
        _count(N_("davon Hintergrund (zweite Stufe)"), c.accepted_backup),
        _count(N_("davon Stufe unbekannt"), c.accepted_unknown_tier),
        _count(N_("An die Ausweichnummer weitergeleitet"), c.fallback),
        _count(N_("Nachricht auf der Mailbox"), c.voicemail),
        _count(N_("Aufgelegt, bevor jemand annahm"), c.abandoned),
        _count(N_("Außerhalb der Erreichbarkeit"), c.outside_hours),
        _share(
            N_("Anteil beantwortet (angenommen oder Ausweichnummer)"),
            c.answered_share,
            c.answered_share_before,
            c.total,
            c.accepted,
            c.fallback,
        ),
    ]
    times = [
        *_timing(N_("Wartezeit bis zur Annahme"), line.ring),
        *_timing(N_("Gesprächsdauer"), line.talk),
    ]
    people = [_count(N_("Anrufe über das Angehörigen-Menü"), who.relatives)]
    if who.available:
        people = [
            _count(N_("Verschiedene Anrufende"), who.callers),
            _count(N_("davon zum ersten Mal"), who.first_time),
            _count(N_("davon wiederholt"), who.repeat),
            *people,
        ]
    tasks = [
        _count(N_("Mailbox-Nachrichten"), line.voicemails.count),
        _count(N_("davon erledigt"), line.voicemails.done),
        *_timing(N_("Mailbox bis erledigt"), line.voicemails.time_to_done),
        _count(N_("Rückrufwünsche"), line.callback_requests.count),
        _count(N_("davon erledigt"), line.callback_requests.done),
        *_timing(N_("Rückrufwunsch bis erledigt"), line.callback_requests.time_to_done),
        _count(N_("Rückrufe über die Leitung"), line.call_backs.made),
        _count(N_("davon erreicht"), line.call_backs.reached),
    ]
    spoken = [row for figures in line.languages for row in _language_rows(figures)]
    relay = [
        _count(N_("Gespräche eröffnet"), line.relay.conversations),
        _count(N_("Nachrichten von Klientinnen und Klienten"), line.relay.messages_in),
        _count(N_("Nachrichten an Klientinnen und Klienten"), line.relay.messages_out),
        *_timing(N_("Erste Antwort"), line.relay.first_reply),
    ]
    return (
        FigureTable(f"anrufe-{slug}", _("Anrufe: %(line)s", line=line.name), tuple(calls)),
        FigureTable(
            f"zeiten-{slug}",
            _("Wartezeit und Gesprächsdauer: %(line)s", line=line.name),
            tuple(times),
        ),
        FigureTable(f"anrufende-{slug}", _("Anrufende: %(line)s", line=line.name), tuple(people)),
        FigureTable(
            f"aufgaben-{slug}",
            _("Mailbox, Rückrufwünsche, Rückrufe: %(line)s", line=line.name),
            tuple(tasks),
        ),
        FigureTable(
            f"nachrichten-{slug}",
            _("Nachrichten (SMS, WhatsApp): %(line)s", line=line.name),
            tuple(relay),
        ),
        FigureTable(f"sprachen-{slug}", _("Sprachen: %(line)s", line=line.name), tuple(spoken)),
    )


CALLS_IN, ACCEPTED_IN, ACCEPTED_SHARE = (
    N_("Anrufe"),
    N_("davon angenommen"),
    N_("Anteil angenommen"),
)


def _language_rows(figures: r.LanguageFigures) -> list[Row]:
    """Calls in one language: how many, how many accepted, the share accepted."""
    code = figures.code
    name = UNKNOWN_LANGUAGE if code == r.UNKNOWN_LANGUAGE else german_name(code)
    share = _share(
        f"{name}: {ACCEPTED_SHARE}",
        figures.accepted_share,
        figures.accepted_share_before,
        figures.calls,
        figures.accepted,
    )
    return [
        dataclasses.replace(_count(f"{name}: {word}", cell), words=(word,), language=code)
        for word, cell in ((CALLS_IN, figures.calls), (ACCEPTED_IN, figures.accepted))
    ] + [dataclasses.replace(share, words=(ACCEPTED_SHARE,), language=code)]


def _hours(label: str, value: r.Hours) -> Row:
    return Row(label, "hours", value.now, value.before, value.change)


def view(report: r.Report) -> ReportView:
    a, m, rota = report.appointments, report.reminders, report.rota
    overview = FigureTable(
        "leitungen",
        _("Anrufe je Leitung"),
        tuple(_count(line.name, line.calls.total) for line in report.lines),
    )
    lines = tuple(
        LineView(
            line,
            _line_tables(line),
            HeatTable(
                f"wochenstunden-{line.slug}",
                _("Anrufe nach Wochentag und Uhrzeit: %(line)s", line=line.name),
                line.heat.cells,
            ),
        )
        for line in report.lines
    )
    appointments = FigureTable(
        "termine",
        _("Termine und Erinnerungen"),
        (
            _count(N_("Termine gebucht"), a.booked),
            _count(N_("stattgefunden"), a.held),
            _count(N_("nicht erschienen"), a.no_show),
            _count(N_("abgesagt von der Klientin oder dem Klienten (SMS)"), a.cancelled_by_client),
            _count(N_("abgesagt vom Team"), a.cancelled_by_staff),
            _count(N_("offen"), a.open),
            _count(N_("Erinnerungen gesendet"), m.sent),
            _count(N_("Erinnerungen versäumt"), m.missed),
            _count(N_("Erinnerungen fehlgeschlagen"), m.failed),
            _count(N_("Erinnerungen unsicher"), m.uncertain),
        ),
    )
    rota_table = FigureTable(
        "dienstplan",
        _("Dienstplan"),
        (
            _hours(N_("Stunden ohne Besetzung (Lücken)"), rota.gap_hours),
            _hours(N_("Stunden von Vertretungen übernommen"), rota.stand_in_hours),
            Row(
                N_("Dienst-Benachrichtigungen gesendet"),
                "count",
                r.Cell(int(rota.notices_sent.now)),
                r.Cell(int(rota.notices_sent.before)),
                r.Cell(int(rota.notices_sent.change)),
            ),
        ),
    )
    return ReportView(report, overview, lines, (appointments, rota_table))


# --- writing the values ----------------------------------------------------------------------


def _seconds(value: float, locale: str) -> str:
    if value < 90:
        return f"{format_decimal(round(value), locale=locale)}\u00a0s"
    if value < 90 * 60:
        return f"{format_decimal(round(value / 60, 1), locale=locale)}\u00a0min"
    if value < 48 * 3600:
        return f"{format_decimal(round(value / 3600, 1), locale=locale)}\u00a0h"
    days = format_decimal(round(value / 86400, 1), locale=locale)
    return _("%(days)s\u00a0Tage", days=days)


def text(kind: Kind, value: Value, k: int, *, hidden: bool = False, signed: bool = False) -> str:
    """A value for the page: "12", "< 5", "+3", "1,5 min", "87 %", "–" (nothing), in the page's
    language ("1.5 min", "87%")."""
    locale = dates.locale_of(language())
    if isinstance(value, r.Cell):
        if value.value is None:
            return f"< {k}"
        number = value.value
        if signed:
            return f"+{number}" if number > 0 else "±0" if number == 0 else f"−{-number}"
        return str(number)
    if value is None:
        return f"< {k}" if hidden else "–"
    if kind == "seconds":
        return _seconds(value, locale)
    if kind == "share":
        return format_percent(value, locale=locale)
    shown = format_decimal(value, format="#,##0.#", locale=locale)
    return f"+{shown}" if signed and value > 0 else shown


def raw(kind: Kind, value: Value, k: int, *, hidden: bool = False) -> int | float | str:
    """A value for the CSV: a number, "<k", or "" (nothing)."""
    if isinstance(value, r.Cell):
        return value.shown(k)
    if value is None:
        return f"<{k}" if hidden else ""
    if kind == "share":
        return round(value, 4)
    return round(value, 1)


def csv_table(table: FigureTable | HeatTable, report: r.Report) -> Table:
    """The table as CSV rows: the same cells as on the page."""
    k = report.min_count
    if isinstance(table, HeatTable):
        return Table(
            table.name,
            ("Uhrzeit", *WEEKDAY_NAMES),
            tuple(
                (f"{hour:02d}:00", *(table.cells[day][hour].shown(k) for day in range(r.WEEKDAYS)))
                for hour in range(r.HOURS)
            ),
        )
    header = (
        "Kennzahl",
        f"Zeitraum {day_text(report.period.first)}–{day_text(report.period.last)}",
        f"Vorzeitraum {day_text(report.previous.first)}–{day_text(report.previous.last)}",
        "Veränderung",
    )
    return Table(
        table.name,
        header,
        tuple(
            (
                row.label,
                raw(row.kind, row.now, k, hidden=row.hidden),
                raw(row.kind, row.before, k, hidden=row.hidden_before),
                raw(row.kind, row.change, k),
            )
            for row in table.rows
        ),
    )
