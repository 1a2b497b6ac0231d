"""The "Berichte" page (issue 17): the figures of a known history (tests.test_report's, across
the October DST change) as the page and its CSV downloads show them, the charts as SVG without
inline style, who may see which team's report, and hostile query strings (a German 422, never a
500)."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from config.model import HotlineConfig
from config.settings import Settings
from foundation.db import Database
from foundation.models import Role
from foundation.report_tables import Table, csv_text
from tests.helpers import https_client
from tests.test_auth import make_user, sign_in
from tests.test_reports import history

OCTOBER = "period=month&date=2026-10-15"


@pytest.fixture
def people(database: Database, config: HotlineConfig) -> None:
    history(database, config)
    make_user(database, config, "koord", Role.COORDINATOR, "islamism")
    make_user(database, config, "chef", Role.ADMIN)
    make_user(database, config, "berat", Role.COUNSELLOR, "islamism")


@pytest.fixture
def web(settings: Settings, database: Database, people: None) -> Iterator[TestClient]:
    with https_client(settings, database) as client:
        yield client


def tables(html: str) -> dict[str, dict[str, list[str]]]:
    """Each figures table of the page: caption → row label → its three cells."""
    found = {}
    for part in html.split('<table class="figures">')[1:]:
        caption = re.search(r"<caption[^>]*>(.*?)</caption>", part, re.S)
        assert caption is not None
        body = part.split("</table>")[0]
        rows = re.findall(r'<th scope="row">(.*?)</th>(.*?)</tr>', body, re.S)
        found[caption.group(1)] = {
            label: [
                c.strip().replace("\xa0", " ") for c in re.findall(r"<td>(.*?)</td>", cells, re.S)
            ]
            for label, cells in rows
        }
    return found


def csv_rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def test_the_page_shows_the_known_history_with_charts(web: TestClient) -> None:
    sign_in(web, "koord")
    page = web.get(f"/reports/islamism?{OCTOBER}")
    assert page.status_code == 200, page.text
    html = page.text
    assert "<h1>Berichte: " in html
    assert "Oktober 2026" in html
    assert "September 2026" in html  # the previous period, as the link back
    found = tables(html)
    calls = next(rows for caption, rows in found.items() if caption.startswith("Anrufe: "))
    assert calls["Anrufe gesamt"] == ["27", "5", "+22"]
    assert calls["Angenommen von einer Beraterin oder einem Berater"] == ["11", "5", "+6"]
    assert calls["davon Erreichbar (erste Stufe)"] == ["6", "0", "+6"]
    # One caller reached the fallback: hidden, with the hung-up calls (complementary), and so
    # is the change (the difference attack) and the share computed from it.
    assert calls["An die Ausweichnummer weitergeleitet"] == ["&lt; 5", "0", "&lt; 5"]
    assert calls["Nachricht auf der Mailbox"] == ["5", "0", "+5"]
    assert calls["Aufgelegt, bevor jemand annahm"] == ["&lt; 5", "0", "&lt; 5"]
    assert calls["Anteil beantwortet (angenommen oder Ausweichnummer)"] == ["&lt; 5", "100 %", "–"]
    times = next(rows for caption, rows in found.items() if caption.startswith("Wartezeit"))
    assert times["Wartezeit bis zur Annahme: Median"][0] == "10 s"
    assert times["Wartezeit bis zur Annahme: 90 % höchstens"][0] == "50 s"
    assert times["Gesprächsdauer: Median"][0] == "1,7 min"
    callers = next(rows for caption, rows in found.items() if caption.startswith("Anrufende"))
    assert callers["Verschiedene Anrufende"] == ["26", "5", "+21"]
    assert callers["davon wiederholt"][0] == "5"
    assert callers["Anrufe über das Angehörigen-Menü"] == ["&lt; 5", "0", "&lt; 5"]
    tasks = next(rows for caption, rows in found.items() if caption.startswith("Mailbox"))
    assert tasks["Mailbox-Nachrichten"][0] == "5"
    assert tasks["Mailbox bis erledigt: Median"][0] == "3 min"
    appointments = found["Termine und Erinnerungen"]
    assert appointments["Termine gebucht"][0] == "11"
    assert appointments["nicht erschienen"][0] == "5"
    assert appointments["stattgefunden"][0] == "&lt; 5"
    assert found["Dienstplan"]["Stunden ohne Besetzung (Lücken)"][0] == "745"  # 31 days + 1 h
    # The charts: SVG images with a name and a description, no inline style or script.
    assert html.count('role="img"') == 3  # calls per line, the line's outcomes, its heat map
    assert re.search(r'<svg class="chart" viewBox="0 0 [\d.]+ [\d.]+" role="img" '
                     r'aria-labelledby="c-leitungen-t c-leitungen-d"', html)  # fmt: skip
    assert "style=" not in html
    assert "<script" not in html
    # The heat map: the five closed-line calls of Sunday 25 October, 03:00 after the repeated
    # hour, in their cell; a suppressed cell is hatched.
    assert "So 03:00: 5</title>" in html
    assert "Mo 10:00: &lt; 5</title>" in html
    assert 'fill="url(#c-wochenstunden-islamism-hatch)"' in html
    # Every table has its CSV, for the same period.
    links = re.findall(r'href="(/reports/islamism/[a-z0-9-]+\.csv\?[^"]+)"', html)
    assert len(links) == 10, links  # calls per line; 6 tables and the heat map; 2 of the team
    assert all("period=month&amp;date=2026-10-01" in link for link in links)
    # Switching to a range of the same days is the same month; a week across the DST change.
    same = web.get("/reports/islamism?period=range&from=2026-10-01&to=2026-10-31")
    assert tables(same.text) == found
    week = web.get("/reports/islamism?period=week&date=2026-10-25")
    assert "KW 43/2026 (19.10.–25.10.2026)" in week.text
    assert tables(week.text)["Dienstplan"]["Stunden ohne Besetzung (Lücken)"][0] == "169"


def test_the_csv_of_each_table_with_the_same_suppression(web: TestClient) -> None:
    sign_in(web, "koord")
    page = web.get(f"/reports/islamism?{OCTOBER}").text
    for link in re.findall(r'href="(/reports/islamism/[a-z0-9-]+\.csv\?[^"]+)"', page):
        answer = web.get(link.replace("&amp;", "&"))
        assert answer.status_code == 200, link
        assert answer.headers["content-type"].startswith("text/csv")
        assert answer.headers["content-disposition"].startswith('attachment; filename="bericht-')
        assert "h1" not in answer.text  # no caller hash
        assert "Klient " not in answer.text  # no pseudonym
    calls = web.get(f"/reports/islamism/anrufe-islamism.csv?{OCTOBER}")
    disposition = calls.headers["content-disposition"]
    assert disposition == (
        'attachment; filename="bericht-islamism-anrufe-islamism-2026-10-01-2026-10-31.csv"'
    )
    rows = {row[0]: row[1:] for row in csv_rows(calls.text)}
    assert rows["Kennzahl"] == [
        "Zeitraum 01.10.2026–31.10.2026",
        "Vorzeitraum 01.09.2026–30.09.2026",
        "Veränderung",
    ]
    assert rows["Anrufe gesamt"] == ["27", "5", "22"]
    assert rows["An die Ausweichnummer weitergeleitet"] == ["<5", "0", "<5"]
    assert rows["Anteil beantwortet (angenommen oder Ausweichnummer)"] == ["<5", "1.0", ""]
    heat = csv_rows(web.get(f"/reports/islamism/wochenstunden-islamism.csv?{OCTOBER}").text)
    assert heat[0] == ["Uhrzeit", "Mo", "Di", "Mi", "Do", "Fr", "Sa", "So"]
    assert heat[4][0] == "03:00"
    assert heat[4][7] == "5"
    assert heat[11][1] == "<5"  # Monday 10:00: one caller
    # A spreadsheet formula in a text cell is defused; numbers stay numbers.
    hostile = Table("t", ("=SUM(A1)", "n"), (("+49 Leitung", -3), ("@cmd", "-x")))
    assert csv_rows(csv_text(hostile)) == [["'=SUM(A1)", "n"], ["'+49 Leitung", "-3"],
                                           ["'@cmd", "'-x"]]  # fmt: skip


def test_who_sees_which_report(web: TestClient) -> None:
    sign_in(web, "berat")  # a counsellor: no reports, not even her team's
    for path in ("/reports", "/reports/islamism", f"/reports/islamism/leitungen.csv?{OCTOBER}"):
        assert web.get(path).status_code == 403, path
    assert ">Berichte</a>" not in web.get("/").text
    web.cookies.clear()
    sign_in(web, "koord")
    assert ">Berichte</a>" in web.get("/").text
    assert web.get("/reports").headers["location"] == "/reports/islamism"
    assert web.get("/reports/right-wing").status_code == 403
    assert web.get(f"/reports/right-wing/leitungen.csv?{OCTOBER}").status_code == 403
    assert web.get("/reports?team=right-wing").headers["location"] == "/reports/right-wing"
    assert web.get("/reports/nobody").status_code == 403  # as another team's
    assert web.get(f"/reports/nobody/leitungen.csv?{OCTOBER}").status_code == 403
    web.cookies.clear()
    sign_in(web, "chef")
    chosen = web.get("/reports?team=right-wing&period=year&date=2026-05-01")
    assert chosen.headers["location"] == "/reports/right-wing?period=year&date=2026-05-01"
    right = web.get(chosen.headers["location"])
    assert right.status_code == 200
    assert "Jahr 2026" in right.text
    assert tables(right.text)["Anrufe je Leitung"]  # another team's lines, no calls


HOSTILE = [
    ("period=decade", "Bitte wählen Sie Woche, Monat"),
    ("period=month&date=2026-13-01", "Bitte geben Sie einen Tag an"),
    ("period=month&date=9999-12-31", "Bitte geben Sie einen Tag an"),
    ("period=range&from=2026-10-31&to=2026-10-01", "Der letzte Tag liegt vor dem ersten"),
    ("period=range&from=2020-01-01&to=2026-10-31", "höchstens fünf Jahre"),
    ("period=range&to=2026-10-31", "Bitte geben Sie den ersten Tag"),
    ("period=range&from=%00%27%3B--&to=2026-10-31", "Bitte geben Sie den ersten Tag"),
]


def test_a_period_that_cannot_be_shown_is_a_german_message_and_unknown_tables_404(
    web: TestClient,
) -> None:
    sign_in(web, "koord")
    for query, message in HOSTILE:
        page = web.get(f"/reports/islamism?{query}")
        assert page.status_code == 422, query
        assert message in page.text, query
        assert 'aria-invalid="true"' in page.text, query
        assert "Anrufe je Leitung" not in page.text, query
        download = web.get(f"/reports/islamism/leitungen.csv?{query}")
        assert download.status_code == 422, query
        assert message in download.text, query
    for name in ("gibt-es-nicht", "anrufe-right-wing", "A" * 300, "..%2f..%2fetc"):
        assert web.get(f"/reports/islamism/{name}.csv?{OCTOBER}").status_code == 404, name
