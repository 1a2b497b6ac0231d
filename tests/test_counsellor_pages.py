"""The counsellors page: create, edit, deactivate; German errors next to the field."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import func, select
from starlette.testclient import TestClient

from config.model import HotlineConfig
from config.settings import Settings
from foundation.db import Database
from foundation.models import AuditEntry, Counsellor, Role
from tests.conftest import add_counsellor
from tests.helpers import https_client
from tests.test_auth import csrf_of, make_user, sign_in


@pytest.fixture
def admin(settings: Settings, database: Database, config: HotlineConfig) -> Iterator[TestClient]:
    make_user(database, config, "chef", Role.ADMIN)
    with https_client(settings, database) as client:
        yield sign_in(client, "chef")


def count(database: Database) -> int:
    with database.read() as session:
        return session.scalar(select(func.count()).select_from(Counsellor)) or 0


def test_create_normalises_the_number(admin: TestClient, database: Database) -> None:
    csrf = csrf_of(admin.get("/counsellors").text)
    response = admin.post(
        "/counsellors",
        data={
            "csrf": csrf,
            "name": "Lena Brandt",
            "phone": "0151 / 234 567 89",
            "teams": ["islamism"],
        },
    )
    assert response.status_code == 303
    with database.read() as session:
        person = session.scalars(select(Counsellor)).one()
        assert [t.slug for t in person.teams] == ["islamism"]
    assert person.phone == "+4915123456789"
    page = admin.get("/counsellors").text
    assert "Lena Brandt" in page
    assert "+49 151 23456789" in page


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"name": "", "phone": "0151 23456789"}, "name", "Bitte geben Sie einen Namen an."),
        ({"name": "X", "phone": "12"}, "phone", "keine gültige Telefonnummer"),
        ({"name": "X", "phone": "0151 23456789", "email": "kein-at"}, "email", "E-Mail"),
        ({"name": "X", "phone": "0151 23456789", "teams": ["left-wing"]}, "teams", "Teams"),
    ],
)
def test_invalid_input_is_explained_next_to_the_field_and_changes_nothing(
    admin: TestClient, database: Database, data: dict[str, object], field: str, message: str
) -> None:
    csrf = csrf_of(admin.get("/counsellors").text)
    response = admin.post("/counsellors", data={"csrf": csrf, **data})
    assert response.status_code == 422
    assert message in response.text
    assert "Es wurde nichts gespeichert." in response.text
    if field != "teams":
        assert f'aria-describedby="e-{field}"' in response.text
    assert count(database) == 0


def test_edit_and_deactivate_keep_history(
    admin: TestClient, database: Database, config: HotlineConfig
) -> None:
    with database.write() as session:
        person_id = add_counsellor(session, config, "islamism", name="Jonas Becker").id
    page = admin.get(f"/counsellors/{person_id}")
    assert page.status_code == 200
    assert 'value="Jonas Becker"' in page.text
    csrf = csrf_of(page.text)
    response = admin.post(
        f"/counsellors/{person_id}",
        data={"csrf": csrf, "name": "Jonas Becker-Roth", "phone": "+49 170 1234567",
              "teams": ["islamism", "right-wing"]},
    )  # fmt: skip
    assert response.status_code == 303
    assert admin.post(f"/counsellors/{person_id}/active", data={"csrf": csrf}).status_code == 303
    with database.read() as session:
        person = session.get(Counsellor, person_id)
        assert person is not None
        assert person.name == "Jonas Becker-Roth"
        assert person.phone == "+491701234567"
        assert {t.slug for t in person.teams} == {"islamism", "right-wing"}
        assert not person.active
        actions = [
            e.action
            for e in session.scalars(select(AuditEntry).where(AuditEntry.entity == "counsellor"))
        ]
        logged = " ".join(str(e.after) for e in session.scalars(select(AuditEntry)))
    assert actions[-2:] == ["update", "deactivate"]
    assert "1701234567" not in logged  # phone numbers stay out of the audit log
    assert "deaktiviert" in admin.get("/counsellors").text


def test_coordinator_manages_only_their_teams(
    settings: Settings, database: Database, config: HotlineConfig
) -> None:
    make_user(database, config, "koordination", Role.COORDINATOR, "right-wing")
    with database.write() as session:
        other = add_counsellor(session, config, "islamism", name="Fremd Team").id
        mine = add_counsellor(session, config, "right-wing", "islamism", name="Eigen Team").id
    with https_client(settings, database) as client:
        sign_in(client, "koordination")
        page = client.get("/counsellors").text
        assert "Eigen Team" in page
        assert "Fremd Team" not in page
        csrf = csrf_of(page)
        assert client.get(f"/counsellors/{other}").status_code == 404  # as if it did not exist
        assert client.post(f"/counsellors/{other}/active", data={"csrf": csrf}).status_code == 404
        # Editing keeps the membership in the team the coordinator does not coordinate.
        response = client.post(
            f"/counsellors/{mine}",
            data={
                "csrf": csrf,
                "name": "Eigen Team",
                "phone": "0151 11111111",
                "teams": ["right-wing"],
            },
        )
        assert response.status_code == 303
    with database.read() as session:
        person = session.get(Counsellor, mine)
        assert person is not None
        assert {t.slug for t in person.teams} == {"islamism", "right-wing"}


def languages_of(database: Database, person_id: int) -> list[str]:
    with database.read() as session:
        person = session.get(Counsellor, person_id)
        assert person is not None
        return list(person.languages)


def test_the_languages_she_counsels_in_are_chosen_kept_and_shown(
    admin: TestClient, database: Database, config: HotlineConfig
) -> None:
    page = admin.get("/counsellors").text
    assert 'name="languages" value="de" checked' in page  # German ticked for a new one
    assert 'name="languages" value="tr"' in page  # the shipped lines' languages offered
    assert 'name="languages" value="ru"' in page
    base = {"csrf": csrf_of(page), "name": "Deniz Kaya", "phone": "0151 23456780"}
    created = admin.post(
        "/counsellors",
        data={**base, "teams": ["islamism"], "languages_shown": "1", "languages": ["de", "tr"]},
    )
    assert created.status_code == 303
    with database.read() as session:
        person_id = session.scalars(select(Counsellor.id)).one()
    assert languages_of(database, person_id) == ["de", "tr"]
    listed = admin.get("/counsellors").text
    assert "Deutsch, Türkisch" in listed

    edit = admin.get(f"/counsellors/{person_id}").text
    assert 'value="tr" checked' in edit
    # Saving the form without touching the languages keeps them (this once reset them).
    admin.post(
        f"/counsellors/{person_id}",
        data={**base, "teams": ["islamism"], "languages_shown": "1", "languages": ["de", "tr"]},
    )
    assert languages_of(database, person_id) == ["de", "tr"]
    # A form that offered no languages (an older page) keeps hers too.
    kept = admin.post(f"/counsellors/{person_id}", data={**base, "teams": ["islamism"]})
    assert kept.status_code == 303
    assert languages_of(database, person_id) == ["de", "tr"]
    # None ticked, or a code that is no language: explained, nothing changed.
    for languages in ([], ["xx"]):
        refused = admin.post(
            f"/counsellors/{person_id}",
            data={**base, "teams": ["islamism"], "languages_shown": "1", "languages": languages},
        )
        assert refused.status_code == 422
        assert "mindestens eine Sprache" in refused.text
        assert languages_of(database, person_id) == ["de", "tr"]
