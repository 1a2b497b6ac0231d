"""The staff pages in German and English: the catalogues hold every text the pages mark, the
language follows the account (and the browser before sign-in), and an English page has no
German left but the names it shows (teams, lines, people: configuration and data)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest
import time_machine
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po
from sqlalchemy import select
from starlette.testclient import TestClient

from config.model import HotlineConfig
from config.settings import Settings
from foundation.db import Database
from foundation.models import AbsenceKind, AuditEntry, Role, Team, Tier, User, Voicemail
from foundation.users import LOCALES
from hotline.tasks import callback_requests
from scheduling import absences, standins
from scheduling.shifts import NewShift, Rota, create_shift
from tests.conftest import add_counsellor, berlin
from tests.helpers import https_client
from tests.test_auth import csrf_of, make_user, sign_in
from web import i18n, labels

ROOT = Path(__file__).parent.parent
EXTRACTED = ("web", "foundation", "hotline", "scheduling")  # as ./scripts/translations does


def extracted() -> dict[str, str | tuple[str, ...]]:
    """Every msgid the templates and page modules mark, as `./scripts/translations` extracts
    them (babel.cfg), by msgid (a plural's by its singular)."""
    with (ROOT / "babel.cfg").open() as mapping:
        method_map, options_map = parse_mapping_cfg(mapping)
    found: dict[str, str | tuple[str, ...]] = {}
    for package in EXTRACTED:
        for _file, _line, message, _comments, _context in extract_from_dir(
            ROOT / package, method_map, options_map
        ):
            key = message[0] if isinstance(message, tuple) else message
            if key:  # `_(variable)` extracts nothing useful
                found[key] = message
    return found


def catalogue(code: str) -> Catalog:
    with (i18n.LOCALE_DIR / code / "LC_MESSAGES" / "messages.po").open("rb") as source:
        return read_po(source, locale=code)


def key(message_id: str | tuple[str, ...]) -> str:
    return message_id[0] if isinstance(message_id, tuple) else message_id


@pytest.mark.parametrize("code", LOCALES)
def test_every_marked_text_is_translated_in_each_catalogue(code: str) -> None:
    """Run ./scripts/translations and translate what this names (docs/development.md)."""
    texts = extracted()
    assert len(texts) > 50  # the extraction itself works
    po = catalogue(code)
    entries = {key(message.id): message for message in po if message.id}
    missing = sorted(set(texts) - set(entries))
    assert not missing, f"not in web/locale/{code}: {missing[:10]}"
    untranslated = sorted(
        msgid
        for msgid, message in entries.items()
        if message.fuzzy
        or not (all(message.string) if isinstance(message.string, tuple) else message.string)
    )
    assert not untranslated, f"untranslated or fuzzy in web/locale/{code}: {untranslated[:10]}"
    plural = sorted(
        m for m in texts if isinstance(texts[m], tuple) != isinstance(entries[m].id, tuple)
    )
    assert not plural, f"singular/plural differs from the pages in {code}: {plural}"
    stale = sorted(set(entries) - set(texts))
    assert not stale, f"web/locale/{code} has texts no page marks any more: {stale[:10]}"
    problems = [(message.id, errors) for message, errors in po.check() if errors]
    assert not problems, f"placeholders do not match in {code}: {problems[:5]}"


def test_the_german_catalogue_is_the_german_text() -> None:
    for message in catalogue("de"):
        if message.id:
            assert message.string == message.id, message.id


def test_catalogues_compile_for_every_language() -> None:
    catalogues = i18n.load()
    english = catalogues.language("en")
    assert english.code == "en"
    assert english.translations.gettext("Dienstplan") == "Rota"
    assert catalogues.language("de").translations.gettext("Dienstplan") == "Dienstplan"
    assert catalogues.language("xx").code == "de"  # unknown: German
    assert english.translations.ngettext(
        "%(count)s offenes Gespräch", "%(count)s offene Gespräche", 2
    ) == ("%(count)s open conversations")


@pytest.mark.parametrize(
    ("header", "chosen"),
    [
        ("", "de"),
        ("en", "en"),
        ("en-GB,en;q=0.9", "en"),
        ("fr-FR,fr;q=0.9,en;q=0.8,de;q=0.7", "en"),
        ("de-DE,de;q=0.9,en;q=0.8", "de"),
        ("en;q=0.5, de;q=0.6", "de"),
        ("tr, ar;q=0.5", "de"),  # none of ours: the default
        ("en;q=0", "de"),  # "not English"
        ("en;q=abc, *", "de"),
    ],
)
def test_accept_language_picks_one_of_ours(header: str, chosen: str) -> None:
    assert i18n.preferred(header, LOCALES) == chosen


# --- pages ------------------------------------------------------------------------------------


class Text(HTMLParser):
    """What a reader gets of a page: its text and the texts of its labelling attributes."""

    ATTRIBUTES = frozenset({"aria-label", "title", "alt", "placeholder", "data-label"})

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("style", "script"):
            self._skip += 1
        self.parts.extend(value for name, value in attrs if name in self.ATTRIBUTES and value)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "script"):
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


GERMAN = re.compile(
    r"[äöüÄÖÜß]|\b(und|oder|der|die|das|den|dem|des|ein|eine|einen|kein|keine|nicht|ist|sind|"
    r"Sie|Ihr|Ihre|für|mit|bis|von|zum|zur|im|am|noch|jetzt|Uhr|Dienst|Dienste|Lücke|Lücken|"
    r"Termin|Termine|Woche|Monat|heute|Nachrichten|Anmelden|Abmelden)\b"
)


def german_left(
    html: str, config: HotlineConfig, names: Iterator[str] | tuple[str, ...]
) -> list[str]:
    """The German words of a page, without the names it shows (teams, lines, people: they are
    configuration and data, not page text)."""
    parser = Text()
    parser.feed(html)
    text = " ".join(parser.parts)
    shown = [
        config.organisation.name,
        *(team.name for team in config.teams.values()),
        *(line.display_name for line in config.lines.values()),
        *names,
        "konex hotline",
        "Sprache / Language",
        "Deutsch",
    ]
    for name in sorted(shown, key=len, reverse=True):
        text = text.replace(name, " ")
    return sorted({match.group(0) for match in GERMAN.finditer(text)})


@pytest.fixture
def coordinator(
    settings: Settings, database: Database, config: HotlineConfig
) -> Iterator[TestClient]:
    make_user(database, config, "koordination", Role.COORDINATOR, "islamism")
    with https_client(settings, database) as client:
        yield sign_in(client, "koordination")


def choose(client: TestClient, locale: str) -> None:
    page = client.get("/account")
    assert "Sprache / Language" in page.text
    answer = client.post("/account/locale", data={"csrf": csrf_of(page.text), "locale": locale})
    assert answer.status_code == 303
    assert answer.headers["location"] == "/account?notice=locale#locale-title"


def test_the_sign_in_page_speaks_the_browsers_language(browser: TestClient) -> None:
    german = browser.get("/login")
    assert '<html lang="de">' in german.text
    assert "Passwort vergessen?" in german.text
    english = browser.get("/login", headers={"Accept-Language": "en-GB,en;q=0.9,de;q=0.5"})
    assert '<html lang="en">' in english.text
    assert "Forgot your password?" in english.text
    assert ">Sign in<" in english.text
    wrong = browser.post(
        "/login",
        data={"username": "x", "password": "y", "csrf": csrf_of(english.text), "next": "/"},
        headers={"Accept-Language": "en"},
    )
    assert "The username or the password is wrong." in wrong.text
    assert browser.get("/login", headers={"Accept-Language": "fr, tr"}).text.count('lang="de"') == 1


def test_pages_are_german_by_default_and_english_once_chosen(
    coordinator: TestClient, database: Database, config: HotlineConfig
) -> None:
    # The browser's language no longer counts once signed in: the account's does.
    german = coordinator.get("/", headers={"Accept-Language": "en"})
    assert '<html lang="de">' in german.text
    assert "Übersicht" in german.text
    assert "Lücken in den nächsten 28 Tagen" in german.text
    choose(coordinator, "en")
    account = coordinator.get("/account?notice=locale")
    assert "The language of the pages is saved." in account.text
    assert '<option value="en" lang="en" selected>English</option>' in account.text
    english = coordinator.get("/")
    assert '<html lang="en">' in english.text
    assert "Overview" in english.text
    assert "Gaps in the next 28 days" in english.text
    assert ">Rota</a>" in english.text
    with database.read() as session:
        user = session.scalars(select(User).where(User.username == "koordination")).one()
        assert user.locale == "en"
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "set_locale")).one()
        assert entry.after == {"locale": "en"}
    choose(coordinator, "de")
    assert '<html lang="de">' in coordinator.get("/").text


def test_an_unknown_language_is_refused(coordinator: TestClient) -> None:
    page = coordinator.get("/account")
    answer = coordinator.post("/account/locale", data={"csrf": csrf_of(page.text), "locale": "xx"})
    assert answer.status_code == 422
    assert "Bitte eine der angebotenen Sprachen wählen." in answer.text
    assert '<html lang="de">' in answer.text


@pytest.mark.parametrize("path", ["/", "/account"])
def test_no_german_is_left_on_english_pages(
    coordinator: TestClient, config: HotlineConfig, path: str
) -> None:
    choose(coordinator, "en")
    page = coordinator.get(path)
    assert page.status_code == 200
    assert german_left(page.text, config, ("koordination",)) == []
    # and the check itself finds German: the same page in German
    choose(coordinator, "de")
    assert german_left(coordinator.get(path).text, config, ("koordination",))


NOW = berlin(2026, 11, 25, 12)  # a Wednesday
PEOPLE = ("Amira Yilmaz", "Jonas Becker")


@pytest.fixture
def rota(settings: Settings, database: Database, config: HotlineConfig) -> Iterator[TestClient]:
    """A coordinator (in English) of a week with a shift, an absence that hits it, a stand-in
    for part of it, and gaps."""
    make_user(database, config, "koordination", Role.COORDINATOR, "islamism")
    with database.write() as session:
        amira, jonas = (add_counsellor(session, config, "islamism", name=n) for n in PEOPLE)
        shift = NewShift("islamism", amira.id, Tier.PRIMARY, berlin(2026, 11, 24, 9), NOW)
        create_shift(session, config, shift, actor="tests")
        create_shift(
            session,
            config,
            NewShift("islamism", jonas.id, Tier.BACKUP, berlin(2026, 11, 24, 9), NOW),
            actor="tests",
        )
        away = absences.NewAbsence(
            amira.id, AbsenceKind.HOLIDAY, berlin(2026, 11, 24), berlin(2026, 11, 26)
        )
        absences.create_absence(session, away, actor="tests")
        cover = standins.NewStandIn(
            "islamism", amira.id, jonas.id, berlin(2026, 11, 24, 9), berlin(2026, 11, 24, 12)
        )
        standins.create_stand_in(session, config, cover, actor="tests")
    with time_machine.travel(NOW, tick=False), https_client(settings, database) as client:
        sign_in(client, "koordination")
        choose(client, "en")
        yield client


@pytest.mark.parametrize(
    "query", ["", "?view=month", "?view=week&date=2026-11-23&edit=1", "?cover=1"]
)
def test_the_rota_in_english_has_no_german_left(
    rota: TestClient, config: HotlineConfig, query: str
) -> None:
    page = rota.get(f"/rota/islamism{query}")
    assert page.status_code == 200
    assert german_left(page.text, config, PEOPLE) == []
    if not query:
        assert "Week 48/2026: 23 Nov – 29 Nov 2026" in page.text
        assert "<h3>Tue 24 Nov</h3>" in page.text
        assert "Absence without a stand-in" in page.text
        assert "Jonas Becker stands in for Amira Yilmaz" in page.text
        assert (
            '<li class="gap"><span class="time">12:00–24:00</span> Gap: nobody on call' in page.text
        )


def test_a_refused_rota_form_answers_in_english(rota: TestClient, config: HotlineConfig) -> None:
    page = rota.get("/rota/islamism")
    answer = rota.post(
        "/rota/islamism/shifts",
        data={"csrf": csrf_of(page.text), "counsellor_id": "1", "tier": "primary",
              "start_date": "2026-03-29", "start_time": "02:30",
              "end_date": "2026-03-30", "end_time": "09:00"},
    )  # fmt: skip
    assert answer.status_code == 422
    assert "Please enter the start as a date and a time" in answer.text
    assert german_left(answer.text, config, PEOPLE) == []


def test_the_task_list_in_english_has_no_german_left(
    settings: Settings, database: Database, config: HotlineConfig
) -> None:
    make_user(database, config, "beraterin", Role.COUNSELLOR, "islamism")
    with database.write() as session:
        new = callback_requests.NewCallbackRequest(
            "islamism", "+4915123456789", "morgens", "192.0.2.1", name="Jo", message="Hallo"
        )
        callback_requests.create_callback_request(session, settings, new, Rota(settings.config))
        team = session.scalars(select(Team).where(Team.slug == "islamism")).one()
        session.add(
            Voicemail(line="islamism", team_id=team.id, recording_sid="RE" + "a" * 32,
                      duration_seconds=83)
        )  # fmt: skip
    with https_client(settings, database) as client:
        sign_in(client, "beraterin")
        choose(client, "en")
        page = client.get("/tasks")
        assert "morning (8:00–11:00)" in page.text
        assert "Length: 1:23 min" in page.text
        assert german_left(page.text, config, ("Jo", "Hallo", "Beraterin")) == []
        csrf = csrf_of(page.text)
        assert (
            client.post(
                "/tasks/callbacks/1/status", data={"csrf": csrf, "action": "take"}
            ).status_code
            == 303
        )
        page = client.get("/tasks")
        assert "taken by beraterin" in page.text
        assert german_left(page.text, config, ("Jo", "Hallo", "Beraterin", "beraterin")) == []
        refused = client.post("/tasks/callbacks/1/status", data={"csrf": csrf, "action": "x"})
        assert refused.status_code == 422
        assert "This action does not exist." in refused.text


def test_the_task_lists_time_windows_are_all_translated() -> None:
    assert set(callback_requests.WINDOWS.values()) == set(labels.TIME_WINDOWS)


def booking(csrf: str, **values: str) -> dict[str, str]:
    defaults = {
        "csrf": csrf,
        "pseudonym": "Frau Amsel",
        "phone": "0151 2345 6789",
        "sms_consent": "1",
        "date": "2026-12-01",
        "time": "10:00",
        "duration": "60",
        "mode": "phone",
    }
    return defaults | values


def test_appointments_in_english_have_no_german_left(
    browser: TestClient, database: Database, config: HotlineConfig
) -> None:
    make_user(database, config, "beraterin", Role.COUNSELLOR, "islamism")
    names = ("Frau Amsel", "Beraterin")
    with time_machine.travel(berlin(2026, 3, 1, 12), tick=False):
        sign_in(browser, "beraterin")
        choose(browser, "en")
        page = browser.get("/appointments")
        assert german_left(page.text, config, names) == []
        csrf = csrf_of(page.text)
        booked = browser.post("/appointments", data=booking(csrf))
        shown = browser.get(booked.headers["location"])
        assert "The appointment is booked: 1 Dec 2026 10:00 CET – 11:00 CET." in shown.text
        assert german_left(shown.text, config, names) == []
        refusals = [
            (booking(csrf, time="10:30"), "An appointment is already booked at this time (1 Dec"),
            (booking(csrf, date="2026-03-29", time="02:30"), "This time does not exist on 29 Mar"),
            (booking(csrf, date="2026-10-25", time="02:30"), "02:30 CEST (first)"),
            (booking(csrf, time="14:00", duration="600"), "between 5 minutes and 8 hours"),
        ]
        for data, message in refusals:
            refused = browser.post("/appointments", data=data)
            assert refused.status_code == 422
            assert message in refused.text
            assert "Nothing was booked." in refused.text
            assert german_left(refused.text, config, names) == []
        edit = browser.get("/appointments?edit=1")
        assert "Move appointment: Frau Amsel, 1 Dec 2026 10:00 CET – 11:00 CET" in edit.text
        assert german_left(edit.text, config, names) == []


def test_the_counsellors_page_in_english_has_no_german_left(
    coordinator: TestClient, config: HotlineConfig
) -> None:
    choose(coordinator, "en")
    page = coordinator.get("/counsellors")
    assert "Nobody added yet." in page.text
    assert german_left(page.text, config, ()) == []
    refused = coordinator.post(
        "/counsellors",
        data={"csrf": csrf_of(page.text), "name": "Amira Yilmaz", "phone": "12",
              "email": "nope", "notify_email": "1", "teams": "islamism"},
    )  # fmt: skip
    assert refused.status_code == 422
    assert "This is not a valid e-mail address." in refused.text
    assert german_left(refused.text, config, PEOPLE) == []
    created = coordinator.post(
        "/counsellors",
        data={"csrf": csrf_of(page.text), "name": "Amira Yilmaz", "phone": "0151 2345 6789",
              "teams": "islamism", "notify_sms": "1"},
    )  # fmt: skip
    assert created.status_code == 303
    edit = coordinator.get("/counsellors/1")
    assert "Edit Amira Yilmaz" in edit.text
    assert german_left(edit.text, config, PEOPLE) == []


def test_the_account_pages_in_english_have_no_german_left(
    settings: Settings, database: Database, config: HotlineConfig
) -> None:
    make_user(database, config, "admin", Role.ADMIN)
    make_user(database, config, "koordination", Role.COORDINATOR, "islamism")
    names = ("admin", "koordination")
    with https_client(settings, database) as client:
        sign_in(client, "admin")
        choose(client, "en")
        for path in ("/accounts", "/accounts/2", "/account/second-factor"):
            page = client.get(path)
            assert page.status_code == 200, path
            assert german_left(page.text, config, names) == [], path
        csrf = csrf_of(page.text)
        wrong = client.post(
            "/account/password",
            data={"csrf": csrf, "current": "nope", "password": "x" * 12,
                  "password_repeat": "x" * 12},
        )  # fmt: skip
        assert wrong.status_code == 422
        assert "The current password is wrong. Nothing was saved." in wrong.text
        last = client.post("/accounts/1/deactivate", data={"csrf": csrf})
        assert last.status_code == 409
        assert "This is the last active administrator account" in last.text
        invited = client.post(
            "/accounts/new", data={"csrf": csrf, "username": "neu", "role": "counsellor"}
        )
        assert "The invitation for “neu” is created." in invited.text
        assert german_left(invited.text, config, (*names, "neu")) == []
        taken = client.post(
            "/accounts/new", data={"csrf": csrf, "username": "neu", "role": "counsellor"}
        )
        assert "This username already exists." in taken.text


def test_the_pages_before_sign_in_speak_the_browsers_language(
    browser: TestClient, config: HotlineConfig
) -> None:
    english = {"Accept-Language": "en"}
    forgot = browser.get("/password/forgot", headers=english)
    assert '<html lang="en">' in forgot.text
    assert german_left(forgot.text, config, ()) == []
    sent = browser.post(
        "/password/forgot", data={"csrf": csrf_of(forgot.text), "login": "x"}, headers=english
    )
    assert "an e-mail with a link is now on its way" in sent.text
    bad = browser.get("/password/reset/nonsense", headers=english)
    assert bad.status_code == 404
    assert "This link is invalid, expired or already used." in bad.text
    assert german_left(bad.text, config, ()) == []
    missing = browser.get("/no-such-page", headers=english)
    assert missing.status_code == 404
    assert "This page does not exist." in missing.text
    assert german_left(missing.text, config, ()) == []


def test_swaps_and_open_shifts_in_english_have_no_german_left(
    settings: Settings, database: Database, config: HotlineConfig
) -> None:
    for name in ("amira", "jonas"):
        make_user(database, config, name, Role.COUNSELLOR, "islamism")
    make_user(database, config, "koordination", Role.COORDINATOR, "islamism")
    names = ("Amira", "Jonas", "amira", "jonas", "koordination", "Arzttermin")
    with time_machine.travel(NOW, tick=False), https_client(settings, database) as client:
        with database.write() as session:
            amira, jonas = (
                session.scalars(select(User).where(User.username == n)).one().counsellor_id
                for n in ("amira", "jonas")
            )
            assert amira is not None
            assert jonas is not None
            first, back, third = (
                create_shift(
                    session, config,
                    NewShift("islamism", who, Tier.PRIMARY, berlin(2026, 11, day, 9),
                             berlin(2026, 11, day + 1, 9)),
                    actor="tests",
                ).id
                for who, day in ((amira, 26), (jonas, 28), (amira, 29))
            )  # fmt: skip

        def english(user: str) -> str:
            client.cookies.clear()
            sign_in(client, user)
            choose(client, "en")
            page = client.get("/shifts/mine")
            assert german_left(page.text, config, names) == [], user
            return csrf_of(page.text)

        csrf = english("amira")
        form = {"csrf": csrf, "shift_id": str(first), "colleague_id": str(jonas),
                "return_shift_id": str(back), "note": ""}  # fmt: skip
        asked = client.post("/shifts/mine/swaps", data=form)
        assert asked.status_code == 303
        page = client.get(asked.headers["location"])
        assert "Your swap request is made." in page.text
        assert german_left(page.text, config, names) == []
        again = client.post("/shifts/mine/swaps", data=form)
        assert again.status_code == 409
        assert german_left(again.text, config, names) == []
        offer = {"csrf": csrf, "shift_id": str(third), "note": "Arzttermin"}
        offered = client.post("/shifts/mine/offers", data=offer)
        page = client.get(offered.headers["location"])
        assert "Your shift is offered to the team." in page.text
        assert german_left(page.text, config, names) == []

        csrf = english("jonas")
        page = client.get("/shifts/mine")
        assert "Amira asks you (Team Islamismus) to take over the shift" in page.text
        assert "Thu 26 Nov, 09:00 to Fri 27 Nov, 09:00 (On call)" in page.text
        client.post("/shifts/mine/swaps/1/accept", data={"csrf": csrf})
        client.post("/shifts/mine/offers/1/take", data={"csrf": csrf})
        assert german_left(client.get("/shifts/mine").text, config, names) == []

        client.cookies.clear()
        sign_in(client, "koordination")
        choose(client, "en")
        page = client.get("/rota/islamism/swaps")
        assert page.status_code == 200
        assert german_left(page.text, config, names) == []
        approved = client.post("/rota/islamism/swaps/1/approve", data={"csrf": csrf_of(page.text)})
        page = client.get(approved.headers["location"])
        assert "The swap is approved and entered in the rota." in page.text
        assert german_left(page.text, config, names) == []
