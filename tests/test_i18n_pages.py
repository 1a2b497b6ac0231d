"""More staff pages in English (tests/test_i18n.py has the catalogues and the first pages):
the calendar page, and so on. Each is walked as a signed-in account that chose English, and
no German may be left on it but the names it shows (configuration and data)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from config.model import HotlineConfig
from config.settings import Settings
from foundation.db import Database
from foundation.models import ExternalCalendar, Role
from tests.helpers import https_client
from tests.test_auth import csrf_of, make_user, sign_in
from tests.test_i18n import GERMAN, ROOT, Text, choose, german_left

# Words an English page must not have, besides those tests/test_i18n.py looks for.
MORE_GERMAN = re.compile(
    r"\b(Klienten|Klientin|Bericht|Berichte|Zurück|Speichern|Akte|Kalender|Gespräch|Nachricht|"
    r"Anrufe|Leitung|Schließen|Löschen|Seite|Zeitraum|Protokoll)\b"
)


def no_german(html: str, config: HotlineConfig, names: tuple[str, ...] = ()) -> list[str]:
    """The German words left on a page (the names it shows excepted)."""
    parser = Text()
    parser.feed(html)
    text = " ".join(parser.parts)
    shown = [
        config.organisation.name,
        *(team.name for team in config.teams.values()),
        *(line.display_name for line in config.lines.values()),
        *names,
    ]
    for name in sorted(shown, key=len, reverse=True):
        text = text.replace(name, " ")
    words = {match.group(0) for match in MORE_GERMAN.finditer(text)}
    return sorted(set(german_left(html, config, names)) | words)


TEMPLATES = ROOT / "web" / "templates"
# The public callback form speaks the line's languages from the configuration (issue 19 item 4),
# not the staff pages' catalogues.
PUBLIC = frozenset({"callback.html"})


def unmarked_text(path: Path) -> list[str]:
    """The German words of a template outside `{{ … }}`, `{% … %}`, `{# … #}` and `{% trans %}`
    blocks: page text nobody marked for the catalogues."""
    source = path.read_text(encoding="utf-8")
    for block in (r"\{#.*?#\}", r"\{%-?\s*trans\b.*?%\}.*?\{%-?\s*endtrans\s*-?%\}",
                  r"\{\{.*?\}\}", r"\{%.*?%\}"):  # fmt: skip
        source = re.sub(block, " ", source, flags=re.DOTALL)
    parser = Text()
    parser.feed(source)
    text = " ".join(parser.parts)
    words = {m.group(0) for pattern in (GERMAN, MORE_GERMAN) for m in pattern.finditer(text)}
    return sorted(words)


@pytest.mark.parametrize(
    "name", sorted(p.name for p in TEMPLATES.glob("*.html") if p.name not in PUBLIC)
)
def test_every_staff_template_marks_its_text(name: str) -> None:
    """A new template (or a new sentence in one) must go through gettext, so that the
    catalogue test (tests/test_i18n.py) sees it and English pages get it."""
    assert unmarked_text(TEMPLATES / name) == []


def test_the_catalogue_check_extracts_every_staff_template() -> None:
    from babel.messages.extract import extract_from_dir
    from babel.messages.frontend import parse_mapping_cfg

    with (ROOT / "babel.cfg").open() as mapping:
        method_map, options_map = parse_mapping_cfg(mapping)
    found = {
        Path(filename).name
        for filename, *_rest in extract_from_dir(ROOT / "web", method_map, options_map)
        if filename.startswith("templates")
    }
    staff = {p.name for p in TEMPLATES.glob("*.html")} - PUBLIC
    assert staff <= found, sorted(staff - found)


@pytest.fixture
def counsellor(settings: Settings, database: Database) -> Iterator[TestClient]:
    """A counsellor of the islamism team ("Beraterin") who chose English."""
    make_user(database, settings.config, "beraterin", Role.COUNSELLOR, "islamism")
    with https_client(settings, database) as client:
        sign_in(client, "beraterin")
        choose(client, "en")
        yield client


def test_the_calendar_page_in_english_has_no_german_left(
    counsellor: TestClient, database: Database, config: HotlineConfig
) -> None:
    names = ("Beraterin", "beraterin", "Handy")
    page = counsellor.get("/calendar")
    assert page.status_code == 200
    assert "Subscribe to a calendar" in page.text
    assert no_german(page.text, config, names) == []
    csrf = csrf_of(page.text)
    issued = counsellor.post("/calendar/feeds", data={"csrf": csrf, "feed": "me", "label": "Handy"})
    assert issued.status_code == 200
    assert "New calendar address “Handy”." in issued.text
    assert "Shifts and appointments – Beraterin" in issued.text
    assert no_german(issued.text, config, names) == []
    refused = counsellor.post("/calendar/external", data={"csrf": csrf, "url": "ftp://x"})
    assert refused.status_code == 422
    assert "This is not a calendar address." in refused.text
    assert no_german(refused.text, config, names) == []
    long = counsellor.post("/calendar/feeds", data={"csrf": csrf, "feed": "me", "label": "x" * 101})
    assert "The label may be at most 100 characters long." in long.text
    added = counsellor.post(
        "/calendar/external",
        data={"csrf": csrf, "url": "https://calendar.example.org/private.ics", "label": "Handy"},
    )
    assert added.status_code == 303
    with database.write() as session:
        calendar = session.scalars(select(ExternalCalendar)).one()
        calendar.last_fetched_at = calendar.created_at
        calendar.last_error = "Der Kalender ist nicht erreichbar."  # as the fetch stores it
    page = counsellor.get("/calendar")
    assert "The calendar cannot be reached." in page.text
    assert no_german(page.text, config, names) == []
    choose(counsellor, "de")  # and the same page in German still is
    german = counsellor.get("/calendar")
    assert "Der Kalender ist nicht erreichbar." in german.text
    assert "Kalender abonnieren" in german.text


def test_the_client_pages_in_english_have_no_german_left(
    counsellor: TestClient, config: HotlineConfig
) -> None:
    names = ("Beraterin", "beraterin", "Falke", "Szene verlassen", "Erstgespräch")
    listing = counsellor.get("/clients")
    assert "No case records yet." in listing.text
    assert no_german(listing.text, config, names) == []
    csrf = csrf_of(listing.text)
    form = {"csrf": csrf, "team": "islamism", "pseudonym": "Falke", "phone": "0151 23456789",
            "sms_consent": "1", "relative": "1", "preferred_channel": "in_person",
            "language": "tr"}  # fmt: skip
    created = counsellor.post("/clients", data=form)
    assert created.status_code == 303
    base = created.headers["location"].split("?")[0]
    again = counsellor.post("/clients", data=form)
    assert again.status_code == 409
    assert "The team already has a client with this pseudonym. Nothing was created." in again.text
    assert no_german(again.text, config, names) == []
    counsellor.post(f"{base}/steps", data={"csrf": csrf, "title": "Szene verlassen"})
    counsellor.post(f"{base}/notes", data={"csrf": csrf, "body": "Erstgespräch"})
    counsellor.post(f"{base}/review", data={"csrf": csrf, "review_on": "2031-03-01"})
    page = counsellor.get(f"{base}?notice=note")
    assert "The note is saved." in page.text
    assert "Case no. 1" in page.text
    assert "in person" in page.text
    assert "<dt>Language</dt><dd>Turkish</dd>" in page.text
    assert ">Arabic</option>" in page.text  # the edit form's languages, named in English
    assert no_german(page.text, config, names) == []
    unknown = counsellor.post(base, data={"csrf": csrf, "pseudonym": "Falke", "language": "fr"})
    assert unknown.status_code == 422
    assert "Please choose a language that has SMS texts. Nothing was changed." in unknown.text
    assert "1 Mar 2031" in counsellor.get("/clients").text  # the review, the English way
    refused = counsellor.post(f"{base}/steps", data={"csrf": csrf, "title": " "})
    assert refused.status_code == 422
    assert "Please give the step a title (at most 200 characters). Nothing was changed." in (
        refused.text
    )
    assert no_german(refused.text, config, names) == []
    export = counsellor.get(f"{base}/export")
    assert export.status_code == 200
    assert "Access report on stored data" in export.text
    assert "Back to the case record" in export.text
    assert "<dt>Language</dt><dd>Turkish</dd>" in export.text
    assert no_german(export.text, config, names) == []
    erase = counsellor.get(f"{base}/erase")
    assert no_german(erase.text, config, names) == []
    wrong = counsellor.post(f"{base}/erase", data={"csrf": csrf, "confirm": "Adler"})
    assert wrong.status_code == 422
    assert "To confirm, please enter the pseudonym exactly as it is shown." in wrong.text
    assert no_german(wrong.text, config, names) == []
    unlinked = counsellor.post(
        "/clients/link", data={"csrf": csrf, "kind": "voicemail", "record_id": "99"}
    )
    assert unlinked.status_code == 422
    assert "Not linked" in unlinked.text
    assert no_german(unlinked.text, config, names) == []
    done = counsellor.post(f"{base}/erase", data={"csrf": csrf, "confirm": "Falke"})
    assert done.status_code == 200
    assert "Case record deleted" in done.text
    assert no_german(done.text, config, names) == []


@pytest.fixture
def coordinator(settings: Settings, database: Database) -> Iterator[TestClient]:
    """A coordinator of the islamism team who chose English."""
    make_user(database, settings.config, "koordination", Role.COORDINATOR, "islamism")
    with https_client(settings, database) as client:
        sign_in(client, "koordination")
        choose(client, "en")
        yield client


def test_the_report_page_in_english_has_no_german_left_and_its_csv_stays_german(
    coordinator: TestClient, config: HotlineConfig
) -> None:
    names = ("koordination",)
    month = coordinator.get("/reports/islamism?period=month&date=2026-10-01")
    assert month.status_code == 200
    assert "Reports: Team Islamismus" in month.text
    assert "October 2026" in month.text
    assert "Period <strong>1 Oct 2026 to 31 Oct 2026</strong>" in month.text
    assert "Wait until answered: 90th percentile" in month.text
    assert "<title>Calls per line</title>" in month.text.replace(' id="c-leitungen-t"', "")
    assert no_german(month.text, config, names) == []
    week = coordinator.get("/reports/islamism?period=week&date=2026-10-25")
    assert "Week 43/2026 (19 Oct–25 Oct 2026)" in week.text
    assert no_german(week.text, config, names) == []
    quarter = coordinator.get("/reports/islamism?period=quarter&date=2026-10-25")
    assert "Q4 2026" in quarter.text
    refused = coordinator.get("/reports/islamism?period=range&from=2026-10-31&to=2026-10-01")
    assert refused.status_code == 422
    assert "The last day is before the first." in refused.text
    assert no_german(refused.text, config, names) == []
    # The CSV is the same German table for every reader (docs/reports.md).
    csv = coordinator.get("/reports/islamism/anrufe-islamism.csv?period=month&date=2026-10-01")
    assert csv.status_code == 200
    assert csv.text.splitlines()[0].startswith("Kennzahl,Zeitraum 01.10.2026–31.10.2026,")
    assert "Anrufe gesamt" in csv.text
    heat = coordinator.get(
        "/reports/islamism/wochenstunden-islamism.csv?period=month&date=2026-10-01"
    )
    assert heat.text.splitlines()[0] == "Uhrzeit,Mo,Di,Mi,Do,Fr,Sa,So"


def test_the_admin_logs_and_api_keys_in_english_have_no_german_left(
    settings: Settings, database: Database, config: HotlineConfig
) -> None:
    make_user(database, config, "admin", Role.ADMIN)
    names = ("admin", "Auswertung")
    with https_client(settings, database) as client:
        sign_in(client, "admin")
        choose(client, "en")
        for path in ("/audit", "/access-log", "/access-log?kind=client&id=1", "/apikeys"):
            page = client.get(path)
            assert page.status_code == 200, path
            assert no_german(page.text, config, names) == [], path
        assert "Client (case record)" in client.get("/access-log").text
        csrf = csrf_of(client.get("/apikeys").text)
        refused = client.post(
            "/apikeys", data={"csrf": csrf, "name": "Auswertung", "expires_days": "0"}
        )
        assert refused.status_code == 422
        assert "Please enter a lifetime between 1 and 3650 days" in refused.text
        assert no_german(refused.text, config, names) == []
        created = client.post(
            "/apikeys", data={"csrf": csrf, "name": "Auswertung", "read_only": "1"}
        )
        assert "The key “Auswertung” is created." in created.text
        assert "read only" in created.text
        assert ">valid<" in created.text
        assert no_german(created.text, config, names) == []
        client.post("/apikeys/1/revoke", data={"csrf": csrf})
        page = client.get("/apikeys")
        assert ">revoked<" in page.text
        assert no_german(page.text, config, names) == []
        audit = client.get("/audit")
        assert "The latest 200 changes (times in Berlin time)." in audit.text
        assert no_german(audit.text, config, names) == []


def test_error_pages_in_english_have_no_german_left(
    counsellor: TestClient, config: HotlineConfig
) -> None:
    names = ("Beraterin", "beraterin")
    for path, status in (("/reports/islamism", 403), ("/clients/999", 404), ("/nowhere", 404)):
        page = counsellor.get(path)
        assert page.status_code == status, path
        assert '<html lang="en">' in page.text
        assert no_german(page.text, config, names) == [], path
