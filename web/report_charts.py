"""The "Berichte" page's charts (issue 17): server-rendered SVG, no script, no style attribute
(the CSP's style-src allows only the stylesheet): colours and sizes are SVG presentation
attributes, the size on the page is site.css's `svg.chart` (the width of the page, a viewBox).

Each chart is an image with a name and a description (role="img", aria-labelledby its <title>
and <desc>); the page shows the same figures as a table beside it. A suppressed count draws
no bar and no colour of its own: the bar chart writes "< k", the heat map hatches the cell.

Written by hand rather than with a charting library: two small kinds of chart, and the
libraries (matplotlib, pygal) bring inline styles or scripts the CSP would refuse."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

from foundation import reports as r
from web import labels
from web.i18n import _

INK = "#1b1f24"
MUTED = "#57606a"
NOW = "#0b5cad"
BEFORE = "#8fb3dc"
BEFORE_EDGE = "#12355b"
# The heat map's colours, from no call to the most calls (sequential blues); the lightest two
# are outlined so that every cell stands 3:1 apart from the page (WCAG 1.4.11).
LEVELS = ("#ffffff", "#d3e3f6", "#8fb3dc", "#3d7cc2", "#0b3d75")
HATCH_BACK, HATCH_LINE = "#eaeef2", "#57606a"


@dataclass(frozen=True, slots=True)
class Bar:
    label: str
    now: r.Cell
    before: r.Cell


def _open(chart_id: str, width: float, height: float, title: str, desc: str) -> str:
    return (
        f'<svg class="chart" viewBox="0 0 {width:g} {height:g}" role="img" '
        f'aria-labelledby="{chart_id}-t {chart_id}-d" font-size="12" '
        f'font-family="system-ui, sans-serif">'
        f'<title id="{chart_id}-t">{escape(title)}</title>'
        f'<desc id="{chart_id}-d">{escape(desc)}</desc>'
    )


def _text(x: float, y: float, words: str, *, anchor: str = "start", fill: str = INK) -> str:
    return f'<text x="{x:g}" y="{y:g}" fill="{fill}" text-anchor="{anchor}">{escape(words)}</text>'


def bars(
    chart_id: str, title: str, bars: Sequence[Bar], k: int, now_name: str, before_name: str
) -> Markup:
    """Horizontal bars, each figure's label above its two bars: the period's (dark) and the
    previous period's (light, outlined) with their counts at the end."""
    width, bar_width, bar_height, group = 360, 280, 12, 50
    top = 28
    visible = [c.value for b in bars for c in (b.now, b.before) if c.value is not None]
    scale = bar_width / max(1, *visible) if visible else 0.0
    desc = "; ".join(
        _("%(label)s: %(now)s (vorher %(before)s)", label=b.label, now=b.now.text(k),
          before=b.before.text(k))
        for b in bars
    )  # fmt: skip
    parts = [_open(chart_id, width, top + group * len(bars), title, desc)]
    parts.append(f'<rect x="0" y="2" width="12" height="12" fill="{NOW}"/>')
    parts.append(_text(16, 12, now_name))
    middle = width / 2
    parts.append(
        f'<rect x="{middle:g}" y="2" width="12" height="12" fill="{BEFORE}" '
        f'stroke="{BEFORE_EDGE}"/>'
    )
    parts.append(_text(middle + 16, 12, before_name))
    for i, bar in enumerate(bars):
        y = top + i * group
        parts.append(_text(0, y + 12, bar.label))
        for j, (cell, fill) in enumerate(((bar.now, NOW), (bar.before, BEFORE))):
            row = y + 17 + j * (bar_height + 3)
            length = (cell.value or 0) * scale
            if length:
                edge = f' stroke="{BEFORE_EDGE}"' if j else ""
                parts.append(
                    f'<rect x="0" y="{row:g}" width="{length:.1f}" height="{bar_height}" '
                    f'fill="{fill}"{edge}/>'
                )
            parts.append(_text(length + 4, row + 10, cell.text(k), fill=INK if j == 0 else MUTED))
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 (every text and label above went through escape)


def _levels(top: int) -> list[tuple[int, int]]:
    """The counts each colour stands for (1..4): (lowest, highest), empty ones left out."""
    found = []
    for level in range(1, len(LEVELS)):
        low = top * (level - 1) // (len(LEVELS) - 1) + 1
        high = top * level // (len(LEVELS) - 1)
        found.append((low, high))
    return found


def _level(value: int, top: int) -> int:
    for level, (_low, high) in enumerate(_levels(top), start=1):
        if value <= high:
            return level
    return len(LEVELS) - 1


def heat_map(chart_id: str, title: str, cells: Sequence[Sequence[r.Cell]], k: int) -> Markup:
    """Calls by weekday (columns) and hour (rows, 00:00 at the top): the darker, the more
    calls; a suppressed cell is hatched. Tall rather than wide, so that a phone shows it
    readable without scrolling sideways. Weekdays and the description in the page's language."""
    weekdays = labels.weekdays()
    left, cell_w, cell_h, head = 46, 44, 14, 20
    grid_h = head + cell_h * r.HOURS
    values = [c.value for row in cells for c in row if c.value is not None]
    top = max(values, default=0)
    busiest = [
        f"{weekdays[d]} {h:02d}:00"
        for d in range(r.WEEKDAYS)
        for h in range(r.HOURS)
        if top and cells[d][h].value == top
    ]
    desc = (
        _("Die meisten Anrufe (%(top)s): %(hours)s. Zahlen in der Tabelle.", top=top,
          hours=", ".join(busiest[:5]))
        if top
        else _("Keine Anrufe (oder nur wenige, verborgene). Zahlen in der Tabelle.")
    )  # fmt: skip
    legend_y = grid_h + 16
    width = left + cell_w * r.WEEKDAYS
    parts = [_open(chart_id, width, legend_y + 44, title, desc)]
    hatch = f"{chart_id}-hatch"
    parts.append(
        f'<defs><pattern id="{hatch}" width="6" height="6" patternUnits="userSpaceOnUse" '
        f'patternTransform="rotate(45)"><rect width="6" height="6" fill="{HATCH_BACK}"/>'
        f'<line x1="0" y1="0" x2="0" y2="6" stroke="{HATCH_LINE}" stroke-width="2"/>'
        "</pattern></defs>"
    )
    for d, name in enumerate(weekdays):
        parts.append(_text(left + d * cell_w + cell_w / 2, 14, name, anchor="middle"))
    for h in range(r.HOURS):
        y = head + h * cell_h
        parts.append(_text(left - 6, y + 11, f"{h:02d}:00", anchor="end", fill=INK))
        for d in range(r.WEEKDAYS):
            cell = cells[d][h]
            fill = (
                f"url(#{hatch})"
                if cell.value is None
                else LEVELS[_level(cell.value, top) if cell.value else 0]
            )
            parts.append(
                f'<rect x="{left + d * cell_w:g}" y="{y:g}" width="{cell_w}" height="{cell_h}" '
                f'fill="{fill}" stroke="#d0d7de" stroke-width="1">'
                f"<title>{weekdays[d]} {h:02d}:00: {escape(cell.text(k))}</title></rect>"
            )
    keys = [("0", LEVELS[0])]
    keys += [
        (f"{low}–{high}" if high > low else str(high), LEVELS[i])
        for i, (low, high) in enumerate(_levels(top), start=1)
        if high >= low
    ]
    keys.append((f"< {k}", f"url(#{hatch})"))
    for i, (label, fill) in enumerate(keys):
        x, y = (i % 4) * (width / 4), legend_y + (i // 4) * 20
        parts.append(
            f'<rect x="{x:g}" y="{y:g}" width="14" height="14" fill="{fill}" stroke="{MUTED}"/>'
        )
        parts.append(_text(x + 18, y + 11, label))
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 (every text and label above went through escape)
