"""Reports count calls by language (issue 19, item 3; issue 17's protection): a known history
of German and Turkish calls across the October DST change, a language of one caller
suppressed with its complement, the difference between the periods, calls from before
languages ("unknown"), the roll-up keeping the language; the page (language names in the
viewer's language), the CSV and the API."""

from __future__ import annotations

import csv
import dataclasses
import io
from collections.abc import Iterator
from datetime import date, datetime

import pytest
from sqlalchemy import func, select
from starlette.testclient import TestClient

from config.model import HotlineConfig
from config.settings import Settings
from foundation import apikeys
from foundation import reports as r
from foundation.db import Database
from foundation.models import Call, CallDay, Role
from foundation.report_tables import as_json, csv_text, tables
from hotline.tasks.retention import roll_up_calls
from tests.conftest import berlin, utc
from tests.helpers import https_client
from tests.test_auth import make_user, sign_in
from tests.test_i18n import choose
from tests.test_report_pages import tables as page_tables
from web import report_data

OCTOBER = r.between(date(2026, 10, 1), date(2026, 10, 31))
HIDDEN = r.HIDDEN


def _call(n: int, at: datetime, language: str | None, outcome: str, caller: str) -> Call:
    return Call(
        call_sid=f"CA{n:032d}",
        line="islamism",
        state="completed",
        outcome=outcome,
        caller_hash=caller,
        started_at=at,
        language=language,
        accepted_tier="primary" if outcome == "accepted" else None,
        ring_seconds=10 if outcome == "accepted" else None,
        talk_seconds=100 if outcome == "accepted" else None,
    )


# The Turkish calls of October: its first local minutes (still 30 September in UTC), the hour
# the clocks go back on the 25th twice (02:30 CEST, then 02:30 CET), its last local hour; and
# one of 1 November 00:30 CET (31 October in UTC), which is not October's.
TURKISH = [
    utc(2026, 9, 30, 22, 30),
    berlin(2026, 10, 5, 10),
    berlin(2026, 10, 6, 10),
    berlin(2026, 10, 7, 10),
    utc(2026, 10, 25, 0, 30),
    utc(2026, 10, 25, 1, 30),
    berlin(2026, 10, 26, 10),
    utc(2026, 10, 31, 22, 30),
]
NOVEMBER_TURKISH = utc(2026, 10, 31, 23, 30)


def history(database: Database) -> None:
    """September: 6 German calls of 6 callers and 5 of no known language (from before there
    were languages) of 5 more, all accepted. October: 13 German calls of 13 callers (7
    accepted, 6 hung up), 8 Turkish of 8 callers (all accepted, across the DST change), 2
    Arabic of one caller (accepted), 5 English of 5 callers (voicemails)."""
    calls: list[Call] = []

    def add(at: datetime, language: str | None, outcome: str, caller: str) -> None:
        calls.append(_call(len(calls), at, language, outcome, caller))

    for i in range(6):
        add(berlin(2026, 9, 7 + i, 10), "de", "accepted", f"s-de{i}")
    for i in range(5):
        add(berlin(2026, 9, 14 + i, 11), None, "accepted", f"s-old{i}")
    for i in range(13):
        add(berlin(2026, 10, 12, 9 + i % 8), "de", "accepted" if i < 7 else "hung_up", f"de{i}")
    for i, at in enumerate(TURKISH):
        add(at, "tr", "accepted", f"tr{i}")
    add(NOVEMBER_TURKISH, "tr", "accepted", "tr-november")
    add(berlin(2026, 10, 13, 10), "ar", "accepted", "ar0")
    add(berlin(2026, 10, 14, 10), "ar", "accepted", "ar0")
    for i in range(5):
        add(berlin(2026, 10, 15, 10 + i), "en", "voicemail", f"en{i}")
    with database.write() as session:
        session.add_all(calls)


def _report(database: Database, config: HotlineConfig, period: r.Period = OCTOBER) -> r.Report:
    with database.read() as session:
        return report_data.build(session, config, "islamism", period)


def _languages(report: r.Report) -> dict[str, r.LanguageFigures]:
    return {figures.code: figures for figures in report.lines[0].languages}


def test_calls_by_language_with_small_counts_protected_across_the_dst_change(
    database: Database, config: HotlineConfig
) -> None:
    history(database)
    report = _report(database, config)
    line = report.lines[0]
    assert line.calls.total == r.Compared(r.Cell(28), r.Cell(11), r.Cell(17))
    assert line.calls.accepted == r.Compared(r.Cell(17), r.Cell(11), r.Cell(6))
    found = _languages(report)
    # The line's languages in menu order, then the calls of no known language.
    assert list(found) == ["de", "tr", "ar", "en", "unknown"]
    # Turkish: the 8 calls of October's local days, across the DST change (both 02:30 of the
    # 25th, the first minutes of 1 October and the last of the 31st), not 1 November's.
    tr = found["tr"]
    assert tr.calls == r.Compared(r.Cell(8), r.Cell(0), r.Cell(8))
    assert tr.accepted == r.Compared(r.Cell(8), r.Cell(0), r.Cell(8))
    assert tr.accepted_share == 1.0
    assert tr.accepted_share_before is None  # no Turkish calls in September
    # Arabic: one caller, hidden; the smallest other language with calls goes with it
    # (English, 5), or the line's 28 calls less the others would give it away.
    assert found["ar"].calls == r.Compared(HIDDEN, r.Cell(0), HIDDEN)
    assert found["en"].calls == r.Compared(HIDDEN, r.Cell(0), HIDDEN)
    # The difference between the periods is hidden with either side (0 in September).
    assert found["ar"].calls.change == HIDDEN
    # Accepted: Arabic's is hidden with its calls, so the smallest other accepted count goes
    # too (German's 7: else the line's 17 accepted less the others would give Arabic's).
    assert found["ar"].accepted.now == HIDDEN
    assert found["de"].accepted == r.Compared(HIDDEN, r.Cell(6), HIDDEN)
    assert found["en"].accepted.now == r.Cell(0)  # a zero names nobody
    de = found["de"]
    assert de.calls == r.Compared(r.Cell(13), r.Cell(6), r.Cell(7))
    assert de.accepted_share is None  # computed from a hidden count
    assert de.accepted_share_before == 1.0
    # Calls from before languages were kept: "unknown".
    unknown = found["unknown"]
    assert unknown.calls == r.Compared(r.Cell(0), r.Cell(5), r.Cell(-5))
    assert unknown.accepted == r.Compared(r.Cell(0), r.Cell(5), r.Cell(-5))
    # The languages add up to the line's calls, in both periods.
    assert sum(f.calls.before.value or 0 for f in found.values()) == 11
    shown = sum(f.calls.now.value or 0 for f in found.values())
    assert shown == 21  # 28 less the two hidden languages (2 + 5): never exactly one


def test_a_part_beside_its_language_is_hidden_when_the_rest_is_few(
    database: Database, config: HotlineConfig
) -> None:
    """Six Turkish callers, five accepted: one was not, so "5 of 6 accepted" would name one
    caller's outcome; hidden, and (complementary) the other accepted count with it."""
    with database.write() as session:
        for i in range(6):
            session.add(
                _call(i, berlin(2026, 10, 5 + i, 10), "tr", "accepted" if i else "hung_up", f"t{i}")
            )
        for i in range(7):
            session.add(_call(10 + i, berlin(2026, 10, 12 + i, 10), "de", "accepted", f"d{i}"))
    found = _languages(_report(database, config))
    assert found["tr"].calls.now == r.Cell(6)
    assert found["tr"].accepted.now == HIDDEN
    assert found["de"].accepted.now == HIDDEN  # else 12 - 7 would give Turkish's
    assert found["de"].calls.now == r.Cell(7)
    assert found["tr"].accepted_share is None


def test_the_exports_and_the_api_show_the_languages(
    database: Database, config: HotlineConfig, client: TestClient
) -> None:
    history(database)
    report = _report(database, config)
    body = as_json(report)["lines"]["islamism"]
    assert body["languages"]["tr"] == {"calls": 8, "accepted": 8, "accepted_share": 1.0}
    assert body["languages"]["ar"] == {"calls": "<5", "accepted": "<5", "accepted_share": None}
    assert body["previous"]["languages"]["unknown"] == {
        "calls": 5,
        "accepted": 5,
        "accepted_share": 1.0,
    }
    assert body["change"]["languages"]["de"] == {"calls": 7, "accepted": "<5"}
    exported = "".join(csv_text(table) for table in tables(report))
    assert "languages.tr.calls,8,0,8" in exported
    assert "languages.ar.calls,<5,0,<5" in exported
    with database.write() as session:
        _, key = apikeys.create_api_key(session, "own", actor="t", teams=["islamism"])
    client.headers["Authorization"] = f"Bearer {key}"
    answer = client.get("/api/v1/reports?team=islamism&from=2026-10-01&to=2026-10-31")
    assert answer.status_code == 200, answer.text
    line = answer.json()["lines"]["islamism"]
    assert line["languages"]["de"] == {"calls": 13, "accepted": "<5", "accepted_share": None}
    assert line["previous"]["languages"]["de"]["accepted_share"] == 1.0
    schema = client.get("/api/v1/openapi.json").json()["components"]["schemas"]
    assert "languages" in schema["LineSection"]["properties"]
    assert set(schema["LanguageOut"]["properties"]) == {"calls", "accepted", "accepted_share"}


@pytest.fixture
def web(settings: Settings, database: Database, config: HotlineConfig) -> Iterator[TestClient]:
    history(database)
    make_user(database, config, "koord", Role.COORDINATOR, "islamism")
    with https_client(settings, database) as client:
        yield sign_in(client, "koord")


def test_the_page_names_the_languages_in_the_viewers_language_the_csv_in_german(
    web: TestClient,
) -> None:
    query = "period=month&date=2026-10-15"
    german_page = web.get(f"/reports/islamism?{query}").text
    german = page_tables(german_page)["Sprachen: Islamismus-Leitung"]
    assert german["Türkisch: Anrufe"] == ["8", "0", "+8"]
    assert german["Türkisch: Anteil angenommen"] == ["100 %", "–", "–"]
    assert german["Arabisch: Anrufe"] == ["&lt; 5", "0", "&lt; 5"]
    assert german["Deutsch: davon angenommen"] == ["&lt; 5", "6", "&lt; 5"]
    assert german["Deutsch: Anteil angenommen"] == ["&lt; 5", "100 %", "–"]
    assert german["Sprache unbekannt: Anrufe"] == ["0", "5", "−5"]
    download = web.get(f"/reports/islamism/sprachen-islamism.csv?{query}")
    rows = list(csv.reader(io.StringIO(download.text)))
    assert rows[0][0] == "Kennzahl"
    by_label = {row[0]: row[1:] for row in rows}
    assert by_label["Türkisch: Anrufe"] == ["8", "0", "8"]
    assert by_label["Arabisch: davon angenommen"] == ["<5", "0", "<5"]
    assert by_label["Türkisch: Anteil angenommen"] == ["1.0", "", ""]
    choose(web, "en")
    english_page = web.get(f"/reports/islamism?{query}").text
    english = page_tables(english_page)["Languages: Islamismus-Leitung"]
    assert english["Turkish: Calls"] == ["8", "0", "+8"]
    assert english["Arabic: of which accepted"] == ["&lt; 5", "0", "&lt; 5"]
    assert english["Language unknown: Calls"] == ["0", "5", "−5"]
    # The CSV stays German for every reader.
    again = web.get(f"/reports/islamism/sprachen-islamism.csv?{query}").text
    assert "Türkisch: Anrufe,8,0,8" in again


def test_the_roll_up_keeps_the_language(
    database: Database, config: HotlineConfig, settings: Settings
) -> None:
    """Five German and six Turkish callers on one day each: the roll-up keeps their calls by
    language with that day's callers, so the report is the same after the detail is gone; a
    day rolled up before languages were kept ("") counts as "unknown"."""
    with database.write() as session:
        for i in range(5):
            session.add(_call(i, berlin(2026, 10, 12, 9 + i), "de", "accepted", f"d{i}"))
        for i in range(6):
            outcome = "accepted" if i < 5 else "hung_up"
            session.add(_call(10 + i, berlin(2026, 10, 25, 1 + i), "tr", outcome, f"t{i}"))
        session.add(
            CallDay(day=date(2026, 9, 3), line="islamism", category="accepted", calls=7, callers=6)
        )  # rolled up before languages: language ""
    before = _languages(_report(database, config))
    assert before["tr"].calls.now == r.Cell(6)
    assert before["tr"].accepted.now == HIDDEN  # one Turkish caller was not accepted
    assert before["unknown"].calls.before == r.Cell(7)
    retention = config.model_copy(
        update={"retention": config.retention.model_copy(update={"calls_days": 30})}
    )
    rolled = roll_up_calls(
        database, dataclasses.replace(settings, config=retention), berlin(2026, 12, 5)
    )
    assert rolled == 11
    with database.read() as session:
        assert session.scalar(select(func.count()).select_from(Call)) == 0
        spoken = session.execute(
            select(CallDay.language, func.sum(CallDay.calls), func.max(CallDay.callers))
            .group_by(CallDay.language)
            .order_by(CallDay.language)
        ).all()
    assert spoken == [("", 7, 6), ("de", 5, 5), ("tr", 6, 5)]
    after = _languages(_report(database, config))
    assert after == before
