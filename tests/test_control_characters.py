"""Control characters and bidirectional overrides (`foundation.text`): refused with a German
422 on every page form, a 422 naming the field in the API, a German message next to the field
of the public callback form; nothing changes. Multi-line fields (text areas, the API's notes)
keep tab and line breaks.

The routes and the world come from the access matrix (`tests/test_access_matrix.py`), so a new
form is checked too.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from starlette.testclient import TestClient

from config.settings import Settings
from foundation import text
from foundation.db import Database
from tests.test_access_matrix import ROLES, ROUTES, Page, World, sign_in, url
from tests.test_tasks import NOON, token_of
from web.auth import MULTI_LINE_FIELDS

# A character of each kind no field takes: C0 controls, DEL, C1 controls, overrides, isolates.
REFUSED = ("\x01", "\x08", "\x0b", "\x1b", "\x7f", "\x85", "\x9b", "\u202a", "\u202e", "\u2066",
           "\u2069")  # fmt: skip
# What only a multi-line field takes.
LINE_BREAKS = ("\t", "\n", "\r\n")


@pytest.fixture
def world(database: Database, settings: Settings) -> World:
    return World(database, settings)


def _records(world: World) -> list[object]:
    """What a request may change, without the accounts (signing in stamps them)."""
    return [table for table in world.snapshot() if table[0] != "users"]


def test_the_check_refuses_the_set_and_keeps_line_breaks_where_allowed() -> None:
    for character in REFUSED:
        assert text.refused(f"Ali{character}ce")
        assert text.refused(f"Ali{character}ce", multi_line=True)
        assert re.match(text.PATTERN, f"a{character}") is None
        assert re.match(text.MULTI_LINE_PATTERN, f"a{character}") is None
    for character in LINE_BREAKS:
        assert text.refused(f"a{character}b")
        assert not text.refused(f"a{character}b", multi_line=True)
        assert re.match(text.MULTI_LINE_PATTERN, f"a{character}b")
    for fine in ("Ağabey Müller-Lüdenscheidt", "שלום", "مرحبا", "‏a", "😀"):
        assert not text.refused(fine)
        assert re.match(text.PATTERN, fine)


def test_every_text_area_of_the_pages_is_a_multi_line_field() -> None:
    templates = Path(__file__).parent.parent / "web" / "templates"
    areas = {
        name
        for page in templates.glob("*.html")
        for name in re.findall(r'<textarea[^>]*name="(\w+)"', page.read_text())
    }
    assert areas == MULTI_LINE_FIELDS


@pytest.mark.parametrize("character", ["\u202e", "\x1b", "\n"])
def test_every_page_form_refuses_them_and_changes_nothing(
    browser: TestClient, world: World, character: str
) -> None:
    """Every POST page route of the matrix, as the admin (every page is hers), with the
    character in a single-line field of the route's form (or a name, a label, a note): a
    German 422 before the handler runs."""
    posts = [
        (path, route)
        for (method, path), route in sorted(ROUTES.items())
        if method == "POST" and isinstance(route, Page) and ROLES["chef"] in route.roles
    ]
    targets = {  # each route's record made before the snapshot: a refusal changes nothing
        path: url(path, {"team": "islamism"} | (route.record(world, "islamism", "colleague")
                                                if route.record else {}))
        for path, route in posts
    }  # fmt: skip
    csrf = sign_in(browser, "chef")
    before = _records(world)
    for path, route in posts:
        fields = {"name": f"Neu{character}", "label": "L", "note": "N", **route.form}
        target = targets[path]
        response = browser.post(target, data={"csrf": csrf, **fields})
        assert response.status_code == 422, (target, response.status_code)
        assert "unzulässiges Steuerzeichen" in response.text
        assert f"Neu{character}" not in response.text
    assert _records(world) == before


@pytest.mark.parametrize(
    ("target", "field"),
    [
        ("/counsellors", "name"),
        ("/appointments", "pseudonym"),
        ("/calendar/feeds", "label"),
        ("/rota/islamism/standins", "note"),
        ("/rota/islamism/absences", "ab_note"),
        ("/conversations/{conversation_id}/reply", "body"),
    ],
)
def test_names_pseudonyms_labels_notes_and_replies_refuse_each_character(
    browser: TestClient, world: World, target: str, field: str
) -> None:
    params = world.conversation("islamism", "colleague")
    csrf = sign_in(browser, "koord")
    before = _records(world)
    for character in REFUSED:
        data = {"csrf": csrf, field: f"a{character}b"}
        response = browser.post(url(target, params), data=data)
        assert response.status_code == 422, repr(character)
        assert "Schreibrichtung" in response.text
    assert _records(world) == before


def test_the_relay_reply_keeps_its_line_breaks(browser: TestClient, world: World) -> None:
    """The text area of a reply is multi-line: tab and line breaks pass the check (the
    conversation's own rules then answer, never the control-character page)."""
    params = world.conversation("islamism", "colleague")
    csrf = sign_in(browser, "koord")
    target = url("/conversations/{conversation_id}/reply", params)
    for character in LINE_BREAKS:
        body = f"Hallo,{character}bis morgen."
        response = browser.post(target, data={"csrf": csrf, "body": body})
        assert "unzulässiges Steuerzeichen" not in response.text
        assert response.status_code != 422


# --- the API --------------------------------------------------------------------------------


def _api_bodies(world: World, value: str) -> dict[str, tuple[dict[str, object], str]]:
    colleague = world.people["islamism", "colleague"]
    second = world.people["islamism", "second"]
    when = {"start": "2031-03-03T09:00:00+01:00", "end": "2031-03-03T10:00:00+01:00"}
    return {
        "/api/v1/counsellors": ({"name": value, "phone": "0151 77777777"}, "name"),
        "/api/v1/appointments": (
            {"counsellor_id": colleague, "client": {"pseudonym": value}, "mode": "phone", **when},
            "client.pseudonym",
        ),
        "/api/v1/standins": (
            {"team": "islamism", "absent_id": colleague, "substitute_id": second, "note": value}
            | when,
            "note",
        ),
        "/api/v1/absences": (
            {"counsellor_id": colleague, "kind": "holiday", "note": value} | when,
            "note",
        ),
    }


def test_the_api_refuses_each_character_naming_the_field(api: TestClient, world: World) -> None:
    before = _records(world)
    for character in REFUSED:
        for target, (body, field) in _api_bodies(world, f"a{character}b").items():
            response = api.post(target, json=body)
            assert response.status_code == 422, (target, repr(character), response.status_code)
            details = response.json()["details"]
            assert [detail["field"] for detail in details] == [field], details
            assert "control characters" in details[0]["message"]
    assert _records(world) == before


def test_the_api_keeps_line_breaks_in_notes_only(api: TestClient, world: World) -> None:
    bodies = _api_bodies(world, "Zeile 1\n\tZeile 2")
    for target in ("/api/v1/counsellors", "/api/v1/appointments"):
        body, _ = bodies[target]
        assert api.post(target, json=body).status_code == 422, target
    for target in ("/api/v1/standins", "/api/v1/absences"):
        body, _ = bodies[target]
        response = api.post(target, json=body)
        assert response.status_code == 201, (target, response.text)
        assert response.json()["note"] == "Zeile 1\n\tZeile 2"


def test_the_document_says_which_characters_a_text_takes(api: TestClient) -> None:
    shapes = api.get("/api/v1/openapi.json").json()["components"]["schemas"]
    assert shapes["CounsellorIn"]["properties"]["name"]["pattern"] == text.PATTERN
    assert shapes["ClientIn"]["properties"]["pseudonym"]["pattern"] == text.PATTERN
    assert shapes["StandInIn"]["properties"]["note"]["pattern"] == text.MULTI_LINE_PATTERN


# --- the public callback form ---------------------------------------------------------------


@pytest.mark.parametrize("field", ["name", "message", "phone"])
def test_the_callback_form_refuses_each_character_next_to_the_field(
    client: TestClient, world: World, field: str
) -> None:
    """A German message next to the field, the text not shown again, nothing stored (the
    form's token stays unused: a corrected form may be sent with it)."""
    before = _records(world)
    with time_machine.travel(NOON, tick=False) as clock:
        page = client.get("/rueckruf/islamism")
        clock.shift(timedelta(seconds=5))
        for character in REFUSED:
            fields = {"phone": "0151 2345 6789", "time_window": "abends", "name": "Ali Baba"}
            fields[field] = fields.get(field, "Hallo Welt").replace(" ", character, 1)
            data = {"token": token_of(page.text), **fields}
            response = client.post("/rueckruf/islamism", data=data)
            assert response.status_code == 422, repr(character)
            assert f'id="e-{field}"' in response.text
            assert "Schreibrichtung" in response.text
            assert fields[field] not in response.text
    assert _records(world) == before


def test_the_callback_message_keeps_its_line_breaks(client: TestClient, world: World) -> None:
    with time_machine.travel(NOON, tick=False) as clock:
        page = client.get("/rueckruf/islamism")
        clock.shift(timedelta(seconds=5))
        data = {"token": token_of(page.text), "phone": "0151 23456789", "time_window": "abends",
                "message": "Bitte abends.\r\n\tDanke"}  # fmt: skip
        sent = client.post("/rueckruf/islamism", data=data, follow_redirects=False)
        assert sent.status_code == 303
    assert any(table == "callback_requests" and rows for table, rows in world.snapshot())
