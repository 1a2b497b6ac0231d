"""The client pages: the list and a new client, the client's page (details, status, timeline,
plan, notes, review date), "Termin buchen" from it, linking a voicemail and a conversation from
their pages (to a new client too); the team's staff only (an admin sees no client, another
team's is a 404), every opening in the access log; refusals change nothing."""

from __future__ import annotations

import re

from sqlalchemy import select
from starlette.testclient import TestClient

from config.model import HotlineConfig
from config.settings import Settings
from foundation import crypto
from foundation.db import Database
from foundation.models import (
    AccessLogEntry,
    Appointment,
    Channel,
    Client,
    ClientStatus,
    Conversation,
    PlanStep,
    PlanStepStatus,
    Role,
    Team,
    User,
    Voicemail,
)
from tests.helpers import selected
from tests.test_auth import csrf_of, make_user, sign_in

PHONE = "+4915123456789"


def _staff(database: Database, config: HotlineConfig) -> None:
    make_user(database, config, "amira", Role.COUNSELLOR, "islamism")
    make_user(database, config, "rita", Role.COUNSELLOR, "right-wing")
    make_user(database, config, "koord", Role.COORDINATOR, "islamism")
    make_user(database, config, "chef", Role.ADMIN)


def _create(browser: TestClient, pseudonym: str = "Falke", **extra: str) -> int:
    csrf = csrf_of(browser.get("/clients").text)
    data = {"csrf": csrf, "team": "islamism", "pseudonym": pseudonym, **extra}
    response = browser.post("/clients", data=data)
    assert response.status_code == 303, response.text
    found = re.match(r"/clients/(\d+)\?notice=created", response.headers["location"])
    assert found
    return int(found.group(1))


def test_a_counsellor_creates_a_client_and_works_its_plan(
    browser: TestClient, database: Database, config: HotlineConfig, settings: Settings
) -> None:
    _staff(database, config)
    sign_in(browser, "amira")
    client_id = _create(browser, phone="0151 23456789", sms_consent="1", relative="1")
    page = browser.get(f"/clients/{client_id}")
    assert page.status_code == 200
    assert "Falke" in page.text
    assert PHONE not in page.text  # masked
    assert "Amira" in page.text  # responsible: the creator
    csrf = csrf_of(page.text)
    base = f"/clients/{client_id}"
    assert (
        browser.post(f"{base}/steps", data={"csrf": csrf, "title": "Szene verlassen"}).status_code
        == 303
    )
    assert (
        browser.post(
            f"{base}/steps",
            data={"csrf": csrf, "title": "Arbeit finden", "notes": "Zeile 1\nZeile 2"},
        ).status_code
        == 303
    )
    with database.read() as session:
        steps = session.scalars(select(PlanStep).order_by(PlanStep.position)).all()
    assert (
        browser.post(
            f"{base}/steps/{steps[0].id}", data={"csrf": csrf, "status": "reached"}
        ).status_code
        == 303
    )
    assert (
        browser.post(
            f"{base}/notes",
            data={"csrf": csrf, "body": "Erstgespräch\nruhig", "step_id": str(steps[1].id)},
        ).status_code
        == 303
    )
    assert (
        browser.post(f"{base}/review", data={"csrf": csrf, "review_on": "2031-03-01"}).status_code
        == 303
    )
    assert (
        browser.post(f"{base}/status", data={"csrf": csrf, "status": "in_counselling"}).status_code
        == 303
    )
    shown = browser.get(base).text
    for words in (
        "Szene verlassen",
        "erreicht",
        "Zeile 1<br>Zeile 2",
        "Erstgespräch<br>ruhig",
        "2031-03-01",
        "in Beratung",
    ):
        assert words in shown, words
    with database.read() as session:
        first = session.get(PlanStep, steps[0].id)
        client = session.get(Client, client_id)
        assert first is not None
        assert first.status is PlanStepStatus.REACHED
        assert client is not None
        assert client.status is ClientStatus.IN_COUNSELLING
        opened = session.scalars(
            select(AccessLogEntry).where(AccessLogEntry.kind == "client")
        ).all()
    assert {e.record_id for e in opened} == {client_id}
    # A refusal says why and changes nothing.
    bad = browser.post(f"{base}/steps", data={"csrf": csrf, "title": " "})
    assert bad.status_code == 422
    assert "Titel" in bad.text
    bad = browser.post(f"{base}/status", data={"csrf": csrf, "status": "weg"})
    assert bad.status_code == 422
    duplicate = browser.post(
        "/clients", data={"csrf": csrf, "team": "islamism", "pseudonym": "falke"}
    )
    assert duplicate.status_code == 409
    phone_like = browser.post(
        "/clients", data={"csrf": csrf, "team": "islamism", "pseudonym": "0151 234567"}
    )
    assert phone_like.status_code == 422
    assert (
        browser.post(f"{base}/steps/{steps[1].id}/delete", data={"csrf": csrf}).status_code == 303
    )
    with database.read() as session:
        assert len(session.scalars(select(PlanStep)).all()) == 1
        assert len(session.scalars(select(Client)).all()) == 1


def test_an_admin_and_another_team_see_no_client(
    browser: TestClient, database: Database, config: HotlineConfig
) -> None:
    _staff(database, config)
    sign_in(browser, "amira")
    client_id = _create(browser)
    for outsider in ("chef", "rita"):
        browser.cookies.clear()
        sign_in(browser, outsider)
        listing = browser.get("/clients")
        assert listing.status_code == 200
        assert "Falke" not in listing.text
        assert browser.get(f"/clients/{client_id}").status_code == 404
        csrf = csrf_of(listing.text)
        refused = browser.post(
            f"/clients/{client_id}/status", data={"csrf": csrf, "status": "ended"}
        )
        assert refused.status_code == 404
        created = browser.post(
            "/clients", data={"csrf": csrf, "team": "islamism", "pseudonym": "Neu"}
        )
        assert created.status_code == 422
    with database.read() as session:
        client = session.get(Client, client_id)
        assert client is not None
        assert client.status is ClientStatus.FIRST_CONTACT
        assert len(session.scalars(select(Client)).all()) == 1
    browser.cookies.clear()
    sign_in(browser, "koord")  # the team's coordinator is staff
    assert "Falke" in browser.get(f"/clients/{client_id}").text


def test_a_voicemail_is_linked_to_a_new_client_and_booked_from_its_page(
    browser: TestClient, database: Database, config: HotlineConfig, settings: Settings
) -> None:
    _staff(database, config)
    box = crypto.box(settings)
    with database.write() as session:
        team = session.scalars(select(Team).where(Team.slug == "islamism")).one()
        voicemail = Voicemail(line="islamism", team_id=team.id, recording_sid="RE" + "2" * 32,
                              caller_phone_enc=box.seal(PHONE))  # fmt: skip
        conversation = Conversation(line="islamism", team_id=team.id, code="K1",
                                    channel=Channel.SMS, client_enc=box.seal(PHONE),
                                    client_hash="h" * 64)  # fmt: skip
        session.add_all([voicemail, conversation])
        session.flush()
        voicemail_id, conversation_id = voicemail.id, conversation.id
    sign_in(browser, "amira")
    tasks = browser.get("/tasks").text
    assert 'action="/clients/link"' in tasks
    csrf = csrf_of(tasks)
    linked = browser.post(
        "/clients/link",
        data={"csrf": csrf, "kind": "voicemail", "record_id": str(voicemail_id),
              "pseudonym": "Möwe", "next": "/tasks"},
    )  # fmt: skip
    assert linked.status_code == 303
    assert linked.headers["location"] == "/tasks"
    with database.read() as session:
        client = session.scalars(select(Client)).one()
        assert session.get(Voicemail, voicemail_id).client_id == client.id  # type: ignore[union-attr]
    assert "Möwe" in browser.get("/tasks").text
    # The conversation, from its page, to the same client.
    page = browser.get(f"/conversations/{conversation_id}").text
    assert 'action="/clients/link"' in page
    linked = browser.post(
        "/clients/link",
        data={"csrf": csrf, "kind": "conversation", "record_id": str(conversation_id),
              "client_id": str(client.id), "next": f"/conversations/{conversation_id}"},
    )  # fmt: skip
    assert linked.status_code == 303
    shown = browser.get(f"/clients/{client.id}").text
    assert "Sprachnachricht" in shown
    assert "Nachrichten" in shown
    # "Termin buchen" opens the booking form for this client.
    form = browser.get(f"/appointments?client={client.id}")
    assert form.status_code == 200
    assert f'name="client_id" value="{client.id}"' in form.text
    assert 'name="pseudonym"' not in form.text
    booked = browser.post(
        "/appointments",
        data={"csrf": csrf, "client_id": str(client.id), "date": "2031-03-03", "time": "10:00",
              "duration": "60", "mode": "phone"},
    )  # fmt: skip
    assert booked.status_code == 303, booked.text
    assert booked.headers["location"] == f"/clients/{client.id}?notice=booked"
    with database.read() as session:
        appointment = session.scalars(select(Appointment)).one()
        assert appointment.client_id == client.id
        assert appointment.client_pseudonym == "Möwe"
    page = browser.get(f"/clients/{client.id}").text
    assert "03.03.2031 10:00 MEZ" in page
    # Unlinking from the client page.
    unlinked = browser.post(
        "/clients/unlink",
        data={"csrf": csrf, "kind": "voicemail", "record_id": str(voicemail_id),
              "next": f"/clients/{client.id}"},
    )  # fmt: skip
    assert unlinked.status_code == 303
    with database.read() as session:
        assert session.get(Voicemail, voicemail_id).client_id is None  # type: ignore[union-attr]


def test_another_teams_client_is_neither_linked_nor_booked(
    browser: TestClient, database: Database, config: HotlineConfig
) -> None:
    _staff(database, config)
    sign_in(browser, "rita")
    csrf = csrf_of(browser.get("/clients").text)
    response = browser.post(
        "/clients", data={"csrf": csrf, "team": "right-wing", "pseudonym": "Rabe"}
    )
    foreign = int(response.headers["location"].split("/")[2].split("?")[0])
    browser.cookies.clear()
    sign_in(browser, "amira")
    csrf = csrf_of(browser.get("/clients").text)
    assert browser.get(f"/appointments?client={foreign}").status_code == 404
    booked = browser.post(
        "/appointments",
        data={"csrf": csrf, "client_id": str(foreign), "date": "2031-03-03", "time": "10:00",
              "duration": "60", "mode": "phone"},
    )  # fmt: skip
    assert booked.status_code == 404
    with database.read() as session:
        assert session.scalars(select(Appointment)).all() == []
        assert session.scalars(select(User).where(User.username == "amira")).one()


def test_a_clients_language_is_chosen_shown_and_changed(
    browser: TestClient, database: Database, config: HotlineConfig
) -> None:
    """The create and edit forms offer the languages with SMS texts, named in German; a
    language without texts is refused and changes nothing."""
    _staff(database, config)
    sign_in(browser, "amira")
    listing = browser.get("/clients").text
    assert selected(listing, "language") == ["de"]
    for name in ("Deutsch", "Türkisch", "Arabisch", "Russisch", "Englisch"):
        assert f">{name}</option>" in listing, name
    client_id = _create(browser, language="tr")
    page = browser.get(f"/clients/{client_id}").text
    assert "<dt>Sprache</dt><dd>Türkisch</dd>" in page
    assert selected(page, "language") == ["tr"]
    csrf = csrf_of(page)
    saved = browser.post(
        f"/clients/{client_id}", data={"csrf": csrf, "pseudonym": "Falke", "language": "en"}
    )
    assert saved.status_code == 303, saved.text
    assert "<dt>Sprache</dt><dd>Englisch</dd>" in browser.get(f"/clients/{client_id}").text
    refused = browser.post(
        f"/clients/{client_id}", data={"csrf": csrf, "pseudonym": "Habicht", "language": "fr"}
    )
    assert refused.status_code == 422
    assert "Bitte wählen Sie eine Sprache, in der es SMS-Texte gibt." in refused.text
    new = browser.post(
        "/clients", data={"csrf": csrf, "team": "islamism", "pseudonym": "Eule", "language": "xx"}
    )
    assert new.status_code == 422
    assert "Bitte wählen Sie eine Sprache, in der es SMS-Texte gibt." in new.text
    with database.read() as session:
        assert [(c.pseudonym, c.language) for c in session.scalars(select(Client))] == [
            ("Falke", "en")
        ]
