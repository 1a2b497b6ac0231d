"""The language of the client's SMS when booking: the booking form's choice (named in the
viewer's language, kept after a refusal, the client record's to begin with when booking from
its page), the hint on the appointment rows, and `POST /api/v1/appointments` taking the client
record's language when the booking names none; the reminder goes out in the chosen language."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from sqlalchemy import func, select
from starlette.testclient import TestClient

from config.model import HotlineConfig
from config.settings import Settings
from foundation import access
from foundation.db import Database
from foundation.models import Appointment, Role
from scheduling.clients import records
from scheduling.reminder_sending import QUEUE
from tests.conftest import add_counsellor, berlin
from tests.helpers import selected
from tests.test_appointments import form
from tests.test_auth import csrf_of, make_user, sign_in
from tests.test_i18n import choose
from tests.test_reminders import CLIENT, IN_LANGUAGE, THURSDAY, at, sent_messages
from tests.test_reminders import dispatch as send_due

BEFORE = berlin(2026, 11, 20, 12)  # a week before THURSDAY
UNKNOWN = "Bitte wählen Sie eine Sprache, in der es SMS-Texte gibt."


@pytest.fixture
def counsellor(
    browser: TestClient, database: Database, config: HotlineConfig
) -> Iterator[TestClient]:
    """A counsellor of the islamism team, signed in, a week before THURSDAY."""
    make_user(database, config, "beraterin", Role.COUNSELLOR, "islamism")
    with time_machine.travel(BEFORE, tick=False):
        sign_in(browser, "beraterin")
        yield browser


def languages(database: Database) -> list[str]:
    with database.read() as session:
        return list(session.scalars(select(Appointment.client_language).order_by(Appointment.id)))


def client_record(database: Database, settings: Settings, language: str) -> int:
    """A client record of the islamism team with an SMS number, made by the use case."""
    new = records.NewClient("islamism", "Möwe", phone=CLIENT, sms_consent=True, language=language)
    with database.write() as session:
        return records.create(session, settings, new, by=access.system("tests")).id


def test_a_booking_in_turkish_is_stored_shown_and_reminded_in_turkish(
    counsellor: TestClient, database: Database, settings: Settings
) -> None:
    page = counsellor.get("/appointments").text
    assert selected(page, "client_language") == ["de"]
    for name in ("Deutsch", "Türkisch", "Arabisch", "Russisch", "Englisch"):
        assert f">{name}</option>" in page, name
    data = form(csrf_of(page), phone=CLIENT, date="2026-11-26", time="14:00", client_language="tr")
    booked = counsellor.post("/appointments", data=data)
    assert booked.status_code == 303, booked.text
    assert "SMS auf Türkisch" in counsellor.get(booked.headers["location"]).text
    assert languages(database) == ["tr"]
    send_due(database, settings, QUEUE, clock=at(THURSDAY - timedelta(days=1)))
    (reminder,) = [m for m in sent_messages(database, settings) if m.purpose == "reminder-client"]
    assert reminder.to == CLIENT
    assert reminder.body == IN_LANGUAGE["tr"]


def test_a_german_booking_has_no_language_hint(counsellor: TestClient, database: Database) -> None:
    csrf = csrf_of(counsellor.get("/appointments").text)
    booked = counsellor.post("/appointments", data=form(csrf))  # no choice sent: German
    assert booked.status_code == 303, booked.text
    assert "SMS auf" not in counsellor.get(booked.headers["location"]).text
    assert languages(database) == ["de"]


def test_a_refused_booking_keeps_the_language_and_an_unknown_one_is_refused(
    counsellor: TestClient, database: Database
) -> None:
    csrf = csrf_of(counsellor.get("/appointments").text)
    by_form = counsellor.post(
        "/appointments", data=form(csrf, duration="600", client_language="ar")
    )
    assert by_form.status_code == 422
    assert "Es wurde nichts gebucht." in by_form.text
    assert selected(by_form.text, "client_language") == ["ar"]
    by_use_case = counsellor.post(
        "/appointments", data=form(csrf, mode="in_person", client_language="ru")
    )
    assert by_use_case.status_code == 422
    assert selected(by_use_case.text, "client_language") == ["ru"]
    unknown = counsellor.post("/appointments", data=form(csrf, client_language="fr"))
    assert unknown.status_code == 422
    assert UNKNOWN in unknown.text
    assert 'id="b-language" name="client_language"' in unknown.text
    assert 'aria-invalid="true"' in unknown.text
    with database.read() as session:
        assert session.scalar(select(func.count()).select_from(Appointment)) == 0


def test_booking_from_a_client_preselects_and_takes_its_language(
    counsellor: TestClient, database: Database, settings: Settings
) -> None:
    client_id = client_record(database, settings, "ar")
    page = counsellor.get(f"/appointments?client={client_id}").text
    assert selected(page, "client_language") == ["ar"]
    base = {"csrf": csrf_of(page), "client_id": str(client_id), "date": "2026-11-26",
            "duration": "60", "mode": "phone"}  # fmt: skip
    refused = counsellor.post("/appointments", data={**base, "time": "25:00"})
    assert refused.status_code == 422
    assert selected(refused.text, "client_language") == ["ar"]
    chosen = counsellor.post("/appointments", data={**base, "time": "10:00"})
    assert chosen.status_code == 303, chosen.text
    other = counsellor.post(
        "/appointments", data={**base, "time": "12:00", "client_language": "en"}
    )
    assert other.status_code == 303, other.text
    listing = counsellor.get("/appointments").text
    assert languages(database) == ["ar", "en"]
    assert "SMS auf Arabisch" in listing
    assert "SMS auf Englisch" in listing


def test_the_api_takes_the_client_records_language_unless_one_is_named(
    api: TestClient, database: Database, config: HotlineConfig, settings: Settings
) -> None:
    with database.write() as session:
        person = add_counsellor(session, config, "islamism").id
    client_id = client_record(database, settings, "tr")
    hours = iter(range(10))

    def book(**client: Any) -> dict[str, Any]:
        begin = THURSDAY + timedelta(hours=next(hours))
        end = begin + timedelta(minutes=30)
        when = {"start": begin.isoformat(), "end": end.isoformat()}
        payload = {"counsellor_id": person, "mode": "phone", **when, **client}
        response = api.post("/api/v1/appointments", json=payload)
        assert response.status_code in (201, 422), response.text
        return {**response.json(), "status_code": response.status_code}

    assert book(client_id=client_id)["client_language"] == "tr"
    assert book(client_id=client_id, client_language="en")["client_language"] == "en"
    assert book(client_id=client_id, client_language="de")["client_language"] == "de"
    assert book(client={"pseudonym": "Adler"})["client_language"] == "de"
    refused = book(client_id=client_id, client_language="fr")
    assert refused["status_code"] == 422
    assert [d["field"] for d in refused["details"]] == ["client_language"]
    assert languages(database) == ["tr", "en", "de", "de"]


def test_the_booking_form_in_english_names_the_languages_in_english(
    counsellor: TestClient,
) -> None:
    choose(counsellor, "en")
    page = counsellor.get("/appointments").text
    for name in ("German", "Turkish", "Arabic", "Russian", "English"):
        assert f">{name}</option>" in page, name
    assert "Language of the SMS" in page
    booked = counsellor.post("/appointments", data=form(csrf_of(page), client_language="tr"))
    assert booked.status_code == 303, booked.text
    shown = counsellor.get(booked.headers["location"]).text
    assert "SMS in Turkish" in shown
    assert "Türkisch" not in shown
    refused = counsellor.post(
        "/appointments", data=form(csrf_of(page), time="14:00", client_language="fr")
    )
    assert refused.status_code == 422
    assert "Please choose a language that has SMS texts." in refused.text
