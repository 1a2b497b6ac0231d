"""Issue 18's client records attacked from outside (review attack18): every client page, form
and API route with the wrong people (an admin without a counsellor record, a counsellor or a
coordinator of another team, signed out, a key without the scope or of another team), wrong
ids, hostile text, out-of-range dates, forged forms, repeated parameters and wrong methods,
links across teams; the access log of each opening; erasure that leaves nothing, on both
databases.

Each test names what it attacks; "Finding:" marks what failed before its fix (docs/security.md,
"Clients")."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from starlette.testclient import TestClient

from config.model import HotlineConfig
from config.settings import Settings
from foundation import apikeys
from foundation.clock import utcnow
from foundation.db import Database
from foundation.models import (
    AccessLogEntry,
    Appointment,
    AppointmentMode,
    AuditEntry,
    Channel,
    Client,
    Conversation,
    ConversationState,
    Counsellor,
    PlanNote,
    PlanStep,
    Role,
    Team,
    Voicemail,
)
from foundation.teams import team_by_slug
from foundation.text import pseudonym_digest
from scheduling import appointments, erasure
from scheduling.clients import records
from tests.test_auth import csrf_of, make_user, sign_in
from tests.test_retention import ENDED, Seeded, everything, seed_client

PSEUDONYM = "Nordstern-Falke-1"
HOSTILE = "<script>alert(1)</script>\"'&<img src=x onerror=alert(2)>"
KEPT = ("web_sessions", "login_attempts", "api_keys", "access_log")  # what a refusal may touch


# --- the world ----------------------------------------------------------------------------------


def _people(database: Database, config: HotlineConfig) -> None:
    make_user(database, config, "amira", Role.COUNSELLOR, "islamism")
    make_user(database, config, "rita", Role.COUNSELLOR, "right-wing")
    make_user(database, config, "koord", Role.COORDINATOR, "islamism")
    make_user(database, config, "koordrw", Role.COORDINATOR, "right-wing")
    make_user(database, config, "chef", Role.ADMIN)
    make_user(database, config, "beide", Role.COUNSELLOR, "islamism", "right-wing")


def _counsellor(database: Database, name: str) -> int:
    with database.read() as session:
        return session.scalars(select(Counsellor.id).where(Counsellor.name == name)).one()


def _world(database: Database, config: HotlineConfig, settings: Settings) -> Seeded:
    """The people, and a client of islamism (amira's) with one of everything linked."""
    _people(database, config)
    return seed_client(database, settings, None, _counsellor(database, "Amira"), ended_at=None)


def _state(database: Database) -> list[tuple[str, str, object]]:
    return sorted(
        (row for row in everything(database) if row[0] not in KEPT),
        key=lambda row: (row[0], row[1], repr(row[2])),
    )


def _as(browser: TestClient, who: str) -> str:
    """Signed in as `who` (alone); the session's CSRF token."""
    browser.cookies.clear()
    sign_in(browser, who)
    return csrf_of(browser.get("/account").text)


def _key(database: Database, teams: list[str] | None, *, read_only: bool = False) -> str:
    with database.write() as session:
        _, plain = apikeys.create_api_key(
            session, "attack", actor="tests", teams=teams, read_only=read_only
        )
    return plain


def _step_id(database: Database, client_id: int) -> int:
    with database.read() as session:
        return session.scalars(select(PlanStep.id).where(PlanStep.client_id == client_id)).first()


def _linked(database: Database, model: type, client_id: int) -> int:
    with database.read() as session:
        return session.scalars(select(model.id).where(model.client_id == client_id)).first()


def _forms(client_id: int, step_id: int) -> list[tuple[str, dict[str, str]]]:
    """Every form of a client, with values that would change something."""
    base = f"/clients/{client_id}"
    return [
        (base, {"pseudonym": "Umbenannt"}),
        (f"{base}/status", {"status": "ended"}),
        (f"{base}/review", {"review_on": "2031-03-01"}),
        (f"{base}/steps", {"title": "Neuer Schritt"}),
        (f"{base}/steps/{step_id}", {"status": "dropped", "title": "Anders"}),
        (f"{base}/steps/{step_id}/delete", {}),
        (f"{base}/notes", {"body": "Eine Notiz"}),
        (f"{base}/erase", {"confirm": PSEUDONYM}),
    ]


def _opened(database: Database, kind: str, record_id: int) -> int:
    with database.read() as session:
        return (
            session.scalar(
                select(func.count())
                .select_from(AccessLogEntry)
                .where(AccessLogEntry.kind == kind, AccessLogEntry.record_id == record_id)
            )
            or 0
        )


# --- the wrong people ---------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["chef", "rita", "koordrw"])
def test_an_admin_and_another_teams_staff_find_no_client_and_change_nothing(
    browser: TestClient, database: Database, config: HotlineConfig, settings: Settings, who: str
) -> None:
    """Held: an admin without a counsellor record, a counsellor and a coordinator of another
    team see no client content anywhere (list, page, export, erase form, the task and
    conversation pages' link forms) and every form of the client is a 404 that changes
    nothing."""
    seeded = _world(database, config, settings)
    client_id = seeded.client_id
    voicemail = _linked(database, Voicemail, client_id)
    conversation = _linked(database, Conversation, client_id)
    csrf = _as(browser, who)
    before = _state(database)
    for path in ("", "/export", "/export.json", "/erase"):
        answer = browser.get(f"/clients/{client_id}{path}")
        assert answer.status_code == 404, path
        assert PSEUDONYM not in answer.text
    for path in ("/clients", "/tasks", f"/conversations/{conversation}", "/appointments", "/"):
        answer = browser.get(path)
        assert answer.status_code in (200, 404), path
        assert PSEUDONYM not in answer.text, path
    for path, data in _forms(client_id, _step_id(database, client_id)):
        answer = browser.post(path, data={"csrf": csrf, **data})
        assert answer.status_code == 404, (path, answer.status_code)
    for path, data in (
        ("/clients/link", {"kind": "voicemail", "record_id": str(voicemail), "client_id": ""}),
        ("/clients/link", {"kind": "voicemail", "record_id": str(voicemail), "pseudonym": "X"}),
        ("/clients/unlink", {"kind": "voicemail", "record_id": str(voicemail)}),
        ("/clients/unlink", {"kind": "conversation", "record_id": str(conversation)}),
    ):
        answer = browser.post(path, data={"csrf": csrf, **data})
        # (neither a client nor a pseudonym: the form's 422, before any record is looked at)
        assert answer.status_code == (422 if data.get("client_id") == "" else 404), (path, data)
        assert PSEUDONYM not in answer.text
    if who != "chef":  # a contact of one's own team to the other team's client
        team = "right-wing"
        with database.write() as session:
            own = Voicemail(
                line=team,
                team_id=team_by_slug(session, team, config).id,
                recording_sid="RE" + "7" * 32,
            )
            session.add(own)
            session.flush()
            own_id = own.id
        before = _state(database)
        answer = browser.post(
            "/clients/link",
            data={
                "csrf": csrf,
                "kind": "voicemail",
                "record_id": str(own_id),
                "client_id": str(client_id),
            },
        )
        assert answer.status_code in (404, 422)
    assert _state(database) == before
    assert _opened(database, "client", client_id) == 0
    assert _opened(database, "client_export", client_id) == 0


def test_signed_out_every_client_page_sends_to_sign_in_and_every_form_is_refused(
    browser: TestClient, database: Database, config: HotlineConfig, settings: Settings
) -> None:
    """Held: signed out, a GET goes to the sign-in (the way back kept, local), a POST is a 403;
    nothing changes."""
    seeded = _world(database, config, settings)
    before = _state(database)
    for path in ("/clients", f"/clients/{seeded.client_id}", f"/clients/{seeded.client_id}/export"):
        answer = browser.get(path)
        assert answer.status_code == 303
        assert answer.headers["location"].startswith("/login?next=")
    for path, data in _forms(seeded.client_id, _step_id(database, seeded.client_id)):
        assert browser.post(path, data=data).status_code == 403, path
    assert browser.post("/clients", data={"team": "islamism", "pseudonym": "X"}).status_code == 403
    assert _state(database) == before


def test_the_api_answers_a_key_of_another_team_404_a_read_only_one_403_and_none_401(
    client: TestClient, database: Database, config: HotlineConfig, settings: Settings
) -> None:
    """Held: every client route of the API, with a key of another team (404: as a missing
    client), a read-only key of the team (reads; every write 403), a revoked or no key (401);
    nothing changes."""
    seeded = _world(database, config, settings)
    url = f"/api/v1/clients/{seeded.client_id}"
    step = _step_id(database, seeded.client_id)
    writes = [
        ("PATCH", url, {"status": "ended"}),
        ("DELETE", url, None),
        ("POST", f"{url}/plan", {"title": "x"}),
        ("PATCH", f"{url}/plan/{step}", {"status": "dropped"}),
    ]
    reads = [url, f"{url}/plan", f"{url}/export"]
    other = {"Authorization": f"Bearer {_key(database, ['right-wing'])}"}
    reader = {"Authorization": f"Bearer {_key(database, ['islamism'], read_only=True)}"}
    with database.write() as session:
        revoked_key, revoked = apikeys.create_api_key(session, "old", actor="tests")
        apikeys.revoke(session, revoked_key.id, actor="tests")
    before = _state(database)
    for path in reads:
        answer = client.get(path, headers=other)
        assert answer.status_code == 404, path
        assert PSEUDONYM not in answer.text
        assert client.get(path, headers=reader).status_code == 200, path
        for headers in ({}, {"Authorization": f"Bearer {revoked}"}):
            assert client.get(path, headers=headers).status_code == 401
    for method, path, body in writes:
        assert client.request(method, path, json=body, headers=other).status_code == 404
        assert client.request(method, path, json=body, headers=reader).status_code == 403
        assert client.request(method, path, json=body).status_code == 401
    refused = client.post(
        "/api/v1/clients", json={"team": "islamism", "pseudonym": "Neu"}, headers=other
    )
    assert refused.status_code == 403
    assert "islamism" in refused.text  # the team it named, no other
    assert _state(database) == before


# --- wrong ids ----------------------------------------------------------------------------------

ODD_IDS = [
    "0",
    "-1",
    "1.5",
    str(2**31),
    str(2**70),
    "abc",
    "1e3",
    "%EF%BC%91",
    "%D9%A1",
    "%00",
    "..%2F..%2Fetc%2Fpasswd",
    "%2E%2E",
    "1%20",
    "0x1",
    "+1",
    "١",
]


def test_odd_ids_on_the_pages_are_a_404_never_a_500(
    browser: TestClient, database: Database, config: HotlineConfig, settings: Settings
) -> None:
    """Held: ids that are no ids (negative, 2**70, non-numeric, Unicode digits, path traversal,
    NUL) on every client page and form, and another client's step or appointment under one's
    own client: a 404 (or the form's 422), nothing changed."""
    seeded = _world(database, config, settings)
    csrf = _as(browser, "amira")
    before = _state(database)
    step = _step_id(database, seeded.client_id)
    for odd in ODD_IDS:
        for path in (
            f"/clients/{odd}",
            f"/clients/{odd}/export",
            f"/clients/{odd}/export.json",
            f"/clients/{odd}/erase",
        ):
            assert browser.get(path).status_code == 404, path
        for path, data in _forms(seeded.client_id, step):
            odd_path = path.replace(f"/clients/{seeded.client_id}", f"/clients/{odd}", 1)
            answer = browser.post(odd_path, data={"csrf": csrf, **data})
            assert answer.status_code in (404, 405), (odd_path, answer.status_code)
        for path in (
            f"/clients/{seeded.client_id}/steps/{odd}",
            f"/clients/{seeded.client_id}/steps/{odd}/delete",
        ):
            answer = browser.post(path, data={"csrf": csrf, "status": "dropped"})
            assert answer.status_code in (404, 405), (path, answer.status_code)
        for data in (
            {"kind": "voicemail", "record_id": odd, "client_id": str(seeded.client_id)},
            {"kind": "voicemail", "record_id": "1", "client_id": odd},
            {"kind": odd, "record_id": "1", "client_id": str(seeded.client_id)},
        ):
            answer = browser.post("/clients/link", data={"csrf": csrf, **data})
            assert answer.status_code in (404, 422), data
    assert _state(database) == before
    # Another client's step and appointment under this client: as if there were none.
    second = browser.post("/clients", data={"csrf": csrf, "team": "islamism", "pseudonym": "Zwei"})
    second_id = int(second.headers["location"].split("/")[2].split("?")[0])
    appointment = _linked(database, Appointment, seeded.client_id)
    before = _state(database)
    base = f"/clients/{second_id}"
    assert (
        browser.post(f"{base}/steps/{step}", data={"csrf": csrf, "status": "dropped"}).status_code
        == 404
    )
    assert browser.post(f"{base}/steps/{step}/delete", data={"csrf": csrf}).status_code == 404
    for field, value in (("step_id", step), ("appointment_id", appointment)):
        answer = browser.post(f"{base}/notes", data={"csrf": csrf, "body": "x", field: str(value)})
        assert answer.status_code in (404, 422), field
    assert _state(database) == before
    # Odd ids of a note's step or appointment: no id (a note of the session) or refused.
    for odd in ODD_IDS:
        for field in ("step_id", "appointment_id"):
            answer = browser.post(
                f"/clients/{seeded.client_id}/notes",
                data={"csrf": csrf, "body": "Notiz", field: odd},
            )
            assert answer.status_code in (303, 404, 422), (field, odd)


def test_odd_ids_on_the_api_are_a_422_or_a_404_never_a_500(
    api: TestClient, database: Database, config: HotlineConfig, settings: Settings
) -> None:
    """Held: the API's client ids and step ids: not an id is a 422, no such client a 404;
    another client's step under one's own client a 404; a traversal never reaches another
    route."""
    seeded = _world(database, config, settings)
    step = _step_id(database, seeded.client_id)
    other = api.post("/api/v1/clients", json={"team": "islamism", "pseudonym": "Zwei"}).json()
    before = _state(database)
    for odd in ODD_IDS:
        for method, path in (
            ("GET", f"/api/v1/clients/{odd}"),
            ("GET", f"/api/v1/clients/{odd}/plan"),
            ("GET", f"/api/v1/clients/{odd}/export"),
            ("PATCH", f"/api/v1/clients/{odd}"),
            ("DELETE", f"/api/v1/clients/{odd}"),
            ("PATCH", f"/api/v1/clients/{seeded.client_id}/plan/{odd}"),
        ):
            answer = api.request(
                method, path, json={"status": "ended"} if method == "PATCH" else None
            )
            assert answer.status_code in (404, 405, 422), (method, path, answer.status_code)
    for missing in ("999999", str(2**31 - 1)):
        assert api.get(f"/api/v1/clients/{missing}").status_code == 404
        assert api.delete(f"/api/v1/clients/{missing}").status_code == 404
    answer = api.patch(f"/api/v1/clients/{other['id']}/plan/{step}", json={"status": "dropped"})
    assert answer.status_code == 404
    assert _state(database) == before


# --- hostile text -------------------------------------------------------------------------------


def test_hostile_text_is_shown_as_text_on_every_page_the_export_and_the_json(
    browser: TestClient, database: Database, config: HotlineConfig, settings: Settings
) -> None:
    """Held: HTML and script in a pseudonym, a step's title and notes and a session note are
    escaped on the list, the client's page, the erase form, the export page, the task page's
    link form and the appointments page, and are the same text in the JSON export."""
    _people(database, config)
    csrf = _as(browser, "amira")
    made = browser.post("/clients", data={"csrf": csrf, "team": "islamism", "pseudonym": HOSTILE})
    assert made.status_code == 303, made.text
    client_id = int(made.headers["location"].split("/")[2].split("?")[0])
    base = f"/clients/{client_id}"
    note = "</textarea><script>alert(3)</script>\r\nZeile 2 &amp; <b>fett</b>"
    assert (
        browser.post(
            f"{base}/steps", data={"csrf": csrf, "title": HOSTILE, "notes": note}
        ).status_code
        == 303
    )
    assert browser.post(f"{base}/notes", data={"csrf": csrf, "body": note}).status_code == 303
    with database.write() as session:
        team = team_by_slug(session, "islamism", config)
        session.add(Voicemail(line="islamism", team_id=team.id, recording_sid="RE" + "5" * 32))
    booked = browser.post(
        "/appointments",
        data={
            "csrf": csrf,
            "client_id": str(client_id),
            "date": (utcnow().date() + timedelta(days=2)).isoformat(),
            "time": "10:00",
            "duration": "60",
            "mode": "phone",
        },
    )
    assert booked.status_code == 303, booked.text
    shown = ("/clients", base, f"{base}/erase", f"{base}/export", "/tasks", "/appointments",
             f"/appointments?client={client_id}")  # fmt: skip
    for path in shown:
        page = browser.get(path)
        assert page.status_code == 200, path
        for raw in ("<script>alert", "<img src=x", "</textarea><script>", "<b>fett</b>"):
            assert raw not in page.text, (path, raw)
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text, path
    export = browser.get(f"{base}/export.json")
    assert export.headers["content-type"].startswith("application/json")
    assert export.headers["x-content-type-options"] == "nosniff"
    document = export.json()
    assert document["client"]["pseudonym"] == HOSTILE
    assert document["plan"]["steps"][0]["title"] == HOSTILE
    assert document["plan"]["notes"][0]["text"] == note.replace("\r\n", "\n")
    assert 'filename="auskunft-fall-' in export.headers["content-disposition"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("pseudonym", "Falke\r\nSet-Cookie: x=1"),
        ("pseudonym", "Fal\x00ke"),
        ("pseudonym", "Fal\u202eke"),
        ("pseudonym", "x" * 1_000_000),
        ("title", "Ziel\x00"),
        ("title", "x" * 1_000_000),
        ("body", "Notiz\x00"),
        ("body", "x" * 1_000_000),
        ("notes", "Notiz\x1b[31m"),
    ],
)
def test_control_characters_and_a_megabyte_are_refused_on_the_pages(
    browser: TestClient,
    database: Database,
    config: HotlineConfig,
    settings: Settings,
    field: str,
    value: str,
) -> None:
    """Held: CR LF, NUL, a bidirectional override, an escape sequence and 1 MB of text in the
    forms of a client: a 422 (or 413), nothing stored."""
    seeded = _world(database, config, settings)
    csrf = _as(browser, "amira")
    before = _state(database)
    base = f"/clients/{seeded.client_id}"
    target = {
        "pseudonym": base,
        "title": f"{base}/steps",
        "body": f"{base}/notes",
        "notes": f"{base}/steps",
    }[field]
    data = {"csrf": csrf, field: value}
    if field == "notes":
        data["title"] = "Ziel"
    answer = browser.post(target, data=data)
    assert answer.status_code in (413, 422), answer.status_code
    made = browser.post("/clients", data={"csrf": csrf, "team": "islamism", "pseudonym": value})
    assert made.status_code in (413, 422)
    assert _state(database) == before


def test_bad_utf8_and_repeated_fields_in_a_form_are_no_500(
    browser: TestClient, database: Database, config: HotlineConfig, settings: Settings
) -> None:
    """Held: a form body that is not UTF-8, and fields given twice (the status, the
    counsellors of two teams, the client to link to, the CSRF token): answered, never a 500;
    another team's counsellor among the responsible ones is refused."""
    seeded = _world(database, config, settings)
    csrf = _as(browser, "amira")
    base = f"/clients/{seeded.client_id}"
    form = {"content-type": "application/x-www-form-urlencoded"}
    for body in (
        b"csrf=" + csrf.encode() + b"&pseudonym=%FF%FE%FA",
        b"csrf=" + csrf.encode() + b"&pseudonym=\xff\xfe",
        b"csrf=" + csrf.encode() + b"&status=\xc3\x28",
    ):
        for path in (base, f"{base}/status", "/clients"):
            answer = browser.post(path, content=body, headers=form)
            assert answer.status_code < 500, (path, body)
    answer = browser.post(
        f"{base}/status", content=f"csrf={csrf}&status=paused&status=ended", headers=form
    )
    assert answer.status_code == 303
    rita = _counsellor(database, "Rita")
    amira = _counsellor(database, "Amira")
    before = _state(database)
    answer = browser.post(
        base,
        content=f"csrf={csrf}&pseudonym={PSEUDONYM}&counsellor_ids={amira}&counsellor_ids={rita}",
        headers=form,
    )
    assert answer.status_code == 422
    answer = browser.post(base, content="csrf=falsch&csrf=auch-falsch&pseudonym=Neu", headers=form)
    assert answer.status_code == 403
    assert _state(database) == before


def test_hostile_bodies_on_the_api_are_a_4xx_and_hostile_text_comes_back_as_it_went(
    api: TestClient, database: Database, config: HotlineConfig, settings: Settings
) -> None:
    """Held: CR LF, NUL, overrides in a pseudonym or a title (422), a megabyte (413), bad
    UTF-8 (400), a body nested deep, numbers for texts, an unknown field (422), duplicate keys
    (the last one, as JSON readers do); HTML goes in and comes back as the same text, as JSON
    (`nosniff`), in the record, the plan and the export."""
    seeded = _world(database, config, settings)
    url = f"/api/v1/clients/{seeded.client_id}"
    before = _state(database)
    as_json = {"content-type": "application/json"}
    bodies: list[tuple[str, str, object, int]] = [
        ("PATCH", url, {"pseudonym": "Falke\r\nX-Evil: 1"}, 422),
        ("PATCH", url, {"pseudonym": "Fal\u0000ke"}, 422),
        ("PATCH", url, {"pseudonym": "Fal\u202eke"}, 422),
        ("PATCH", url, {"pseudonym": 12345}, 422),
        ("PATCH", url, {"pseudonym": ["Falke"]}, 422),
        ("PATCH", url, {"relative": "ja"}, 422),
        ("PATCH", url, {"counsellor_ids": [1] * 21}, 422),
        ("PATCH", url, {"counsellor_ids": [-1]}, 422),
        ("PATCH", url, {"counsellor_ids": [2**70]}, 422),
        ("PATCH", url, {"nickname": "x"}, 422),
        ("PATCH", url, ["status", "ended"], 422),
        ("PATCH", url, "ended", 422),
        ("POST", f"{url}/plan", {"title": "Ziel\r\nZwei"}, 422),
        ("POST", f"{url}/plan", {"title": "Ziel", "notes": "x\u0000"}, 422),
        ("POST", f"{url}/plan", {"title": "x" * 201}, 422),
    ]
    for method, path, payload, code in bodies:
        answer = api.request(method, path, json=payload)
        assert answer.status_code == code, (payload, answer.status_code)
    raw = [
        (b'{"pseudonym": "' + b"x" * 1_000_000 + b'"}', 413),
        (b'{"pseudonym": "\xff\xfe"}', 400),
        (b"[" * 100_000 + b"]" * 100_000, 413),
        (b"[" * 10_000 + b"]" * 10_000, 400),
        (b'{"pseudonym": "\\ud800"}', 422),
    ]
    for content, code in raw:
        answer = api.patch(url, content=content, headers=as_json)
        assert answer.status_code == code, (content[:20], answer.status_code)
    assert _state(database) == before
    twice = api.patch(url, content=b'{"status": "ended", "status": "paused"}', headers=as_json)
    assert twice.status_code == 200
    assert twice.json()["status"] == "paused"
    shown = api.patch(url, json={"pseudonym": HOSTILE})
    assert shown.status_code == 200
    assert shown.headers["content-type"].startswith("application/json")
    assert shown.headers["x-content-type-options"] == "nosniff"
    assert shown.json()["pseudonym"] == HOSTILE
    step = api.post(f"{url}/plan", json={"title": HOSTILE, "notes": "<b>\r\nfett</b>"})
    assert step.status_code == 201
    assert step.json()["title"] == HOSTILE
    exported = api.get(f"{url}/export").json()
    assert exported["client"]["pseudonym"] == HOSTILE
    assert HOSTILE in [s["title"] for s in exported["plan"]["steps"]]


def test_phone_like_pseudonyms_are_refused_however_they_are_written(
    browser: TestClient, api: TestClient, database: Database, config: HotlineConfig
) -> None:
    """Finding: a number written with en dashes, underscores, commas, invisible separators
    (zero-width space, soft hyphen) or as superscript or circled digits passed the check
    (six digits in a row, "whatever separates them", took only spaces and + ( ) . / -): it
    was stored in clear and shown on every page. Now the pseudonym is compared in its
    compatibility form (NFKC: superscripts, fullwidth and circled digits are digits) and any
    character that is neither letter nor digit separates."""
    _people(database, config)
    csrf = _as(browser, "amira")
    variants = [
        "0151 2345678",
        "0151\u00a02345678",
        "０１５１２３４５６７８",
        "٠١٥١٢٣٤٥٦٧٨",
        "0151–234–567–8",
        "0151_2345_678",
        "0151,234,5678",
        "0\u200b1\u200b5\u200b1\u200b2\u200b3\u200b4",
        "0\u00ad1\u00ad5\u00ad1\u00ad2\u00ad3",
        "⁰¹⁵¹²³⁴⁵⁶⁷",
        "①⑤①②③④⑤",
        "+49 (151) 234-567",
        "Herr 0151*234*5678",
    ]
    for variant in variants:
        page = browser.post(
            "/clients", data={"csrf": csrf, "team": "islamism", "pseudonym": variant}
        )
        assert page.status_code == 422, (variant, page.status_code)
        answer = api.post("/api/v1/clients", json={"team": "islamism", "pseudonym": variant})
        assert answer.status_code == 422, (variant, answer.status_code)
    for fine in ("Falke 12", "Klient 2026 A", "Adler-7"):
        answer = api.post("/api/v1/clients", json={"team": "islamism", "pseudonym": fine})
        assert answer.status_code == 201, fine
    with database.read() as session:
        assert session.scalar(select(func.count()).select_from(Client)) == 3


def test_a_pseudonym_is_unique_in_the_team_whatever_its_case_or_unicode_form(
    api: TestClient, database: Database
) -> None:
    """Finding: uniqueness "regardless of case" was `lower()` in SQL, which SQLite (and
    PostgreSQL under the C collation) applies to ASCII only: "Ärger" and "ÄRGER" were two
    clients of one team; so were "Ärger" typed composed and decomposed (A + U+0308), and
    "Falke" and "Fal<zero-width space>ke", which look the same on every page. Now a
    pseudonym is stored composed (NFC), refused with an invisible character, and compared
    case-folded."""
    assert (
        api.post("/api/v1/clients", json={"team": "islamism", "pseudonym": "Ärger"}).status_code
        == 201
    )
    falke = api.post("/api/v1/clients", json={"team": "islamism", "pseudonym": "Falke"})
    assert falke.status_code == 201
    for twin, code in (
        ("ÄRGER", 409),
        ("A\u0308rger", 409),
        ("ärger", 409),
        ("Fal\u200bke", 422),
        ("Fal\u00adke", 422),
        ("\ufeffFalke", 422),
        ("FALKE", 409),
    ):
        answer = api.post("/api/v1/clients", json={"team": "islamism", "pseudonym": twin})
        assert answer.status_code == code, (twin, answer.status_code)
        changed = api.patch(f"/api/v1/clients/{falke.json()['id']}", json={"pseudonym": twin})
        assert changed.status_code in (code, 200 if twin.casefold() == "falke" else code), twin
    # Another team may have the same.
    assert (
        api.post("/api/v1/clients", json={"team": "right-wing", "pseudonym": "ärger"}).status_code
        == 201
    )


@pytest.mark.postgresql
def test_two_creates_racing_with_case_variants_admit_exactly_one(
    api: TestClient, database: Database, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Finding: the database's unique key was (team_id, pseudonym) byte for byte, and the
    application's check looked before it inserted: two requests creating "Ärger" and "ÄRGER"
    at once both found none and both got in. Now (team_id, pseudonym_key) decides: both pass
    the check (held at a barrier until both have), one commits, the other's insert fails on
    the key and is the same 409 as the check's; nothing of it is left."""
    if not db_url.startswith("postgresql"):
        pytest.skip("PostgreSQL only: SQLite's write lock serialises the two from BEGIN")
    checked = threading.Barrier(2)
    looked = records._unique

    def look_then_wait(*args: object, **kwargs: object) -> None:
        looked(*args, **kwargs)  # type: ignore[arg-type]
        checked.wait(timeout=60)  # both have looked and found none

    monkeypatch.setattr(records, "_unique", look_then_wait)
    before = _state(database)
    answers: dict[str, tuple[int, dict[str, object]]] = {}

    def create(pseudonym: str) -> None:
        answer = api.post("/api/v1/clients", json={"team": "islamism", "pseudonym": pseudonym})
        answers[pseudonym] = (answer.status_code, answer.json())

    threads = [threading.Thread(target=create, args=(p,)) for p in ("Ärger", "ÄRGER")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(code for code, _ in answers.values()) == [201, 409], answers
    ((lost,),) = [[body] for code, body in answers.values() if code == 409]
    assert lost["details"][0]["field"] == "pseudonym", lost
    (won,) = [body for code, body in answers.values() if code == 201]
    with database.read() as session:
        (row,) = session.scalars(select(Client)).all()
        assert row.id == won["id"]
        audited = session.scalars(
            select(AuditEntry.entity_id).where(AuditEntry.entity == "client")
        ).all()
    assert audited == [row.id]
    after = [r for r in _state(database) if r[0] not in ("clients", "audit_log")]
    assert after == [r for r in before if r[0] not in ("clients", "audit_log")]


def test_the_databases_key_refuses_what_the_check_would_as_the_same_409_and_message(
    api: TestClient,
    browser: TestClient,
    database: Database,
    config: HotlineConfig,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Held, on both databases: with the application's check out of the way (as in a race),
    the unique key (team_id, pseudonym_key) refuses a case or Unicode variant on create and on
    rename, as a 409 in the API and the page's message, and changes nothing."""
    _people(database, config)
    first = api.post("/api/v1/clients", json={"team": "islamism", "pseudonym": "Ärger"})
    other = api.post("/api/v1/clients", json={"team": "islamism", "pseudonym": "Falke"})
    assert (first.status_code, other.status_code) == (201, 201)
    monkeypatch.setattr(records, "_unique", lambda *_args, **_kwargs: None)
    csrf = _as(browser, "amira")
    before = _state(database)
    for twin in ("ÄRGER", "A\u0308rger", "ärger"):
        made = api.post("/api/v1/clients", json={"team": "islamism", "pseudonym": twin})
        assert made.status_code == 409, (twin, made.text)
        assert made.json()["details"][0]["field"] == "pseudonym"
        renamed = api.patch(f"/api/v1/clients/{other.json()['id']}", json={"pseudonym": twin})
        assert renamed.status_code == 409, (twin, renamed.text)
    page = browser.post("/clients", data={"csrf": csrf, "team": "islamism", "pseudonym": "ÄRGER"})
    assert page.status_code == 409
    assert (
        "Im Team gibt es schon eine Klientin oder einen Klienten mit diesem Pseudonym" in page.text
    )
    assert _state(database) == before
    with database.read() as session:
        assert session.scalar(select(func.count()).select_from(Client)) == 2
        keys = set(session.scalars(select(Client.pseudonym_key)))
    assert keys == {pseudonym_digest("ärger"), pseudonym_digest("falke")}


def test_the_erase_form_takes_the_pseudonym_as_typed_in_any_unicode_form(
    browser: TestClient, database: Database, config: HotlineConfig, settings: Settings
) -> None:
    """Finding: the confirmation compared the typed text with the stored pseudonym byte for
    byte: one typed decomposed (a Mac's input of "Ä" may be) never matched a composed one, and
    the record could not be erased on the page. Now both are compared composed (NFC)."""
    _people(database, config)
    csrf = _as(browser, "amira")
    made = browser.post("/clients", data={"csrf": csrf, "team": "islamism", "pseudonym": "Ärger"})
    client_id = int(made.headers["location"].split("/")[2].split("?")[0])
    done = browser.post(
        f"/clients/{client_id}/erase", data={"csrf": csrf, "confirm": "A\u0308rger"}
    )
    assert done.status_code == 200, done.text
    with database.read() as session:
        assert session.get(Client, client_id) is None


# --- dates --------------------------------------------------------------------------------------


def test_out_of_range_review_dates_are_refused_on_the_page_and_the_api(
    browser: TestClient,
    api: TestClient,
    database: Database,
    config: HotlineConfig,
    settings: Settings,
) -> None:
    """Held: review dates of year 0, 1, 9999, 99999, February 30, Unicode digits, week dates
    and a number: a 422, nothing changed; a DST day (29 March) is a day like any; a booking
    from the client's page in the DST gap (02:30 on 29 March) is answered, never a 500."""
    seeded = _world(database, config, settings)
    csrf = _as(browser, "amira")
    before = _state(database)
    bad = [
        "0000-01-01",
        "0001-01-01",
        "9999-12-31",
        "99999-01-01",
        "2031-02-30",
        "２０３１-03-01",
        "1999-12-31",
        "3000-01-01",
        "morgen",
        "2031-03-01T00:00",
        "2031-03-01\u200b",
    ]
    for value in bad:
        answer = browser.post(
            f"/clients/{seeded.client_id}/review", data={"csrf": csrf, "review_on": value}
        )
        assert answer.status_code == 422, (value, answer.status_code)
    # (pydantic reads "2031-03-01T00:00" as that day: no harm, the API's own leniency)
    for value in [*(b for b in bad if "T" not in b), 20310301, 1.5e12, [], {}]:
        answer = api.patch(f"/api/v1/clients/{seeded.client_id}", json={"review_on": value})
        assert answer.status_code == 422, (value, answer.status_code)
    assert _state(database) == before
    dst = browser.post(
        f"/clients/{seeded.client_id}/review", data={"csrf": csrf, "review_on": "2026-03-29"}
    )
    assert dst.status_code == 303
    gap = browser.post(
        "/appointments",
        data={
            "csrf": csrf,
            "client_id": str(seeded.client_id),
            "date": "2026-03-29",
            "time": "02:30",
            "duration": "60",
            "mode": "phone",
        },
    )
    assert gap.status_code in (303, 422)


# --- forged forms, wrong methods ----------------------------------------------------------------


def test_every_client_form_without_or_with_a_wrong_csrf_token_is_refused(
    browser: TestClient, database: Database, config: HotlineConfig, settings: Settings
) -> None:
    """Held: every form of a client (and the list's, the link's) without a token, with a wrong
    one, or with the token of another session: a 403, nothing changed."""
    seeded = _world(database, config, settings)
    foreign = _as(browser, "koord")  # a valid token, of another session
    _as(browser, "amira")
    before = _state(database)
    voicemail = _linked(database, Voicemail, seeded.client_id)
    forms = [
        *_forms(seeded.client_id, _step_id(database, seeded.client_id)),
        ("/clients", {"team": "islamism", "pseudonym": "Neu"}),
        ("/clients/unlink", {"kind": "voicemail", "record_id": str(voicemail)}),
        ("/clients/link", {"kind": "voicemail", "record_id": str(voicemail), "pseudonym": "N"}),
    ]
    for path, data in forms:
        for token in (None, "", "0" * 64, foreign, foreign.upper()):
            sent = data if token is None else {"csrf": token, **data}
            answer = browser.post(path, data=sent)
            assert answer.status_code == 403, (path, token, answer.status_code)
    assert _state(database) == before


def test_wrong_methods_are_a_405(
    browser: TestClient,
    api: TestClient,
    database: Database,
    config: HotlineConfig,
    settings: Settings,
) -> None:
    """Held: PUT, DELETE, PATCH on the pages, GET on their forms, and methods the API routes
    do not take: a 405 naming what they take, nothing changed."""
    seeded = _world(database, config, settings)
    _as(browser, "amira")
    before = _state(database)
    base = f"/clients/{seeded.client_id}"
    for method, path in (
        ("PUT", base),
        ("DELETE", base),
        ("PATCH", base),
        ("GET", f"{base}/status"),
        ("GET", f"{base}/steps"),
        ("GET", f"{base}/notes"),
        ("DELETE", f"{base}/erase"),
        ("PUT", "/clients"),
    ):
        assert browser.request(method, path).status_code == 405, (method, path)
    url = f"/api/v1/clients/{seeded.client_id}"
    for method, path in (
        ("POST", url),
        ("PUT", url),
        ("PATCH", "/api/v1/clients"),
        ("GET", "/api/v1/clients"),
        ("DELETE", f"{url}/plan"),
        ("POST", f"{url}/export"),
        ("DELETE", f"{url}/export"),
    ):
        answer = api.request(method, path)
        assert answer.status_code == 405, (method, path, answer.status_code)
    assert _state(database) == before


# --- links across teams -------------------------------------------------------------------------


def test_a_contact_of_one_team_is_never_linked_to_a_client_of_another(
    browser: TestClient, database: Database, config: HotlineConfig, settings: Settings
) -> None:
    """Held: a counsellor of both teams links a voicemail, a conversation and an appointment of
    islamism to a client of right-wing (and the other way round): refused, nothing changed;
    the `next` of a link is a local path only."""
    seeded = _world(database, config, settings)
    csrf = _as(browser, "beide")
    made = browser.post(
        "/clients", data={"csrf": csrf, "team": "right-wing", "pseudonym": "Rechts"}
    )
    assert made.status_code == 303
    right = int(made.headers["location"].split("/")[2].split("?")[0])
    with database.write() as session:
        islamism = team_by_slug(session, "islamism", config).id
        voicemail = Voicemail(line="islamism", team_id=islamism, recording_sid="RE" + "6" * 32)
        talk = Conversation(
            line="islamism",
            team_id=islamism,
            code="K9",
            channel=Channel.SMS,
            state=ConversationState.OPEN,
        )
        session.add_all([voicemail, talk])
        session.flush()
        ids = {"voicemail": voicemail.id, "conversation": talk.id}
    before = _state(database)
    for kind, record_id in ids.items():
        answer = browser.post(
            "/clients/link",
            data={"csrf": csrf, "kind": kind, "record_id": str(record_id), "client_id": str(right)},
        )
        assert answer.status_code in (404, 422), (kind, answer.status_code)
    own = _linked(database, Voicemail, seeded.client_id)  # islamism's, linked to its client
    answer = browser.post(
        "/clients/link",
        data={"csrf": csrf, "kind": "voicemail", "record_id": str(own), "client_id": str(right)},
    )
    assert answer.status_code in (404, 422)
    assert _state(database) == before
    for target in ("//evil.example/x", "https://evil.example/", "/\\evil.example", "javascript:x"):
        answer = browser.post(
            "/clients/link",
            data={
                "csrf": csrf,
                "kind": "voicemail",
                "record_id": str(ids["voicemail"]),
                "pseudonym": f"Neu {len(target)}",
                "next": target,
            },
        )
        assert answer.status_code == 303
        assert answer.headers["location"].startswith("/"), target
        assert not answer.headers["location"].startswith("//"), target
        browser.post(
            "/clients/unlink",
            data={"csrf": csrf, "kind": "voicemail", "record_id": str(ids["voicemail"])},
        )


# --- the access log -----------------------------------------------------------------------------


def test_every_opening_of_a_client_is_in_the_access_log(
    browser: TestClient,
    client: TestClient,
    database: Database,
    config: HotlineConfig,
    settings: Settings,
) -> None:
    """Held: the list, the client's page, the export page and file, and through the API the
    client, its plan, its export and a PATCH: each opening one entry more, by whom."""
    seeded = _world(database, config, settings)
    client_id = seeded.client_id
    _as(browser, "amira")
    openings = 0
    for path in ("/clients", f"/clients/{client_id}"):
        assert browser.get(path).status_code == 200
        openings += 1
        assert _opened(database, "client", client_id) == openings, path
    for path in (f"/clients/{client_id}/export", f"/clients/{client_id}/export.json"):
        exports = _opened(database, "client_export", client_id)
        assert browser.get(path).status_code == 200
        assert _opened(database, "client_export", client_id) == exports + 1, path
        openings += 1  # the export is an opening of the client too
    client.headers["Authorization"] = f"Bearer {_key(database, ['islamism'])}"
    url = f"/api/v1/clients/{client_id}"
    for method, path in (
        ("GET", url),
        ("GET", f"{url}/plan"),
        ("GET", f"{url}/export"),
        ("PATCH", url),
    ):
        body = {"relative": True} if method == "PATCH" else None
        assert client.request(method, path, json=body).status_code == 200, path
        openings += 1
        assert _opened(database, "client", client_id) == openings, path
    with database.read() as session:
        actors = set(
            session.scalars(
                select(AccessLogEntry.actor).where(AccessLogEntry.record_id == client_id)
            )
        )
    assert any("amira" in a for a in actors)
    assert any(a.startswith("api-key:") for a in actors), actors


def test_the_link_forms_that_name_clients_are_in_the_access_log(
    browser: TestClient, database: Database, config: HotlineConfig, settings: Settings
) -> None:
    """Finding: the task list and a conversation's page name every client of the team by its
    pseudonym in their link forms ("Akte": the choice, the linked one), as the list
    "Klienten" does, and "Termin buchen" names the client it books for, but only the list was
    in the access log. Now each logs the clients it names; an admin, who is shown no link
    form, leaves no entry."""
    seeded = _world(database, config, settings)
    conversation = _linked(database, Conversation, seeded.client_id)
    with database.write() as session:  # an open task, with its link form
        team = team_by_slug(session, "islamism", config)
        session.add(Voicemail(line="islamism", team_id=team.id, recording_sid="RE" + "4" * 32))
    _as(browser, "chef")
    assert browser.get("/tasks").status_code == 200
    assert _opened(database, "client", seeded.client_id) == 0
    _as(browser, "amira")
    tasks = browser.get("/tasks")
    assert PSEUDONYM in tasks.text
    assert _opened(database, "client", seeded.client_id) == 1
    talk = browser.get(f"/conversations/{conversation}")
    assert PSEUDONYM in talk.text
    assert _opened(database, "client", seeded.client_id) == 2
    booking = browser.get(f"/appointments?client={seeded.client_id}")  # "Termin buchen"
    assert PSEUDONYM in booking.text
    assert _opened(database, "client", seeded.client_id) == 3


# --- erasure that leaves nothing -------------------------------------------------------------


def _files_hold(db_url: str, words: tuple[str, ...]) -> list[tuple[str, str]]:
    """Which of the words the SQLite file or its write-ahead log still hold (as written: no
    checkpoint first)."""
    path = Path(db_url.removeprefix("sqlite:///"))
    found = []
    for file in (path, path.with_name(path.name + "-wal")):
        if file.exists():
            data = file.read_bytes()
            found += [(file.name, word) for word in words if word.encode() in data]
    return found


@pytest.mark.parametrize("how", ["page", "api"])
def test_an_erasure_on_the_page_or_by_the_api_leaves_nothing_in_the_tables_or_the_files(
    browser: TestClient,
    client: TestClient,
    database: Database,
    config: HotlineConfig,
    settings: Settings,
    db_url: str,
    how: str,
) -> None:
    """Finding: on SQLite an erasure by staff (page or API) left the pseudonym, the number and
    the place in clear in the write-ahead log (and its pages), where `secure_delete` does not
    reach: only the hourly retention emptied the log, and only when it deleted something
    itself. Now every erasure ends with the checkpoint that empties the log. Also held: no
    row keeps the client's id, pseudonym, number or its hash; every id that pointed at it
    answers 404 or shows no client."""
    seeded = _world(database, config, settings)
    if db_url.startswith("sqlite"):
        with database.engine.connect() as connection:
            assert connection.execute(text("PRAGMA secure_delete")).scalar() == 1
    voicemail = _linked(database, Voicemail, seeded.client_id)
    key = pseudonym_digest(seeded.pseudonym)  # the unique key's, derived from the pseudonym
    with database.read() as session:
        assert (
            session.scalar(select(Client.pseudonym_key).where(Client.id == seeded.client_id)) == key
        )
    if how == "page":
        csrf = _as(browser, "amira")
        done = browser.post(
            f"/clients/{seeded.client_id}/erase", data={"csrf": csrf, "confirm": PSEUDONYM}
        )
        assert done.status_code == 200
    else:
        client.headers["Authorization"] = f"Bearer {_key(database, ['islamism'])}"
        assert client.delete(f"/api/v1/clients/{seeded.client_id}").status_code == 204
    words = (seeded.pseudonym, seeded.phone, seeded.phone_hash, *seeded.secrets)
    for table, column, value in everything(database):
        shown = value.decode("latin-1") if isinstance(value, bytes) else str(value)
        for word in (seeded.pseudonym, seeded.phone, seeded.phone_hash, key):
            assert word not in shown, (table, column)
    with database.read() as session:
        for model in (Appointment, Voicemail, Conversation):
            assert (
                session.scalars(select(model).where(model.client_id == seeded.client_id)).all()
                == []
            )
    if db_url.startswith("sqlite"):
        # As the running service leaves them (its connections open: closing the last one
        # would empty the log by itself).
        assert _files_hold(db_url, words) == []
    _as(browser, "amira")
    for path in (f"/clients/{seeded.client_id}", f"/clients/{seeded.client_id}/export"):
        assert browser.get(path).status_code == 404
    for path in ("/tasks", "/appointments?from=2025-03-01", "/clients"):
        assert PSEUDONYM not in browser.get(path).text
    with database.read() as session:
        row = session.get(Voicemail, voicemail)
        assert row is not None
        assert row.client_id is None
        assert session.scalar(select(func.count()).select_from(Team)) >= 2


def test_the_retention_on_its_day_leaves_nothing_in_the_tables_or_the_files(
    database: Database, config: HotlineConfig, settings: Settings, db_url: str
) -> None:
    """Held: the day a case's retention is due (time travel), the hourly job deletes the
    client, its plan, the appointments' client data and the linked contacts; an appointment
    never linked ages out from its date the same way; the file and its log keep none of it
    (the job's own checkpoint), with the service's connections still open."""
    _people(database, config)
    amira = _counsellor(database, "Amira")
    seeded = seed_client(database, settings, None, amira, ended_at=ENDED)
    with database.write() as session:
        loose = appointments.book(
            session,
            settings,
            appointments.NewAppointment(
                amira,
                appointments.Client("Lose-Adler-9", "+4917612345099", True),
                ENDED,
                ENDED + timedelta(hours=1),
                AppointmentMode.IN_PERSON,
                location="Bahnhof-Treffpunkt-9",
            ),
            actor="tests",
            now=ENDED - timedelta(days=1),
        ).id
    due = ENDED + timedelta(days=730)
    assert erasure.retention_job(database, settings, due - timedelta(hours=1)).clients == 0
    swept = erasure.retention_job(database, settings, due + timedelta(days=1))
    assert swept.clients == 1
    assert swept.appointments >= 1
    words = (seeded.pseudonym, seeded.phone, seeded.phone_hash, "Lose-Adler-9",
             "Bahnhof-Treffpunkt-9", "+4917612345099")  # fmt: skip
    key = pseudonym_digest(seeded.pseudonym)
    for table, column, value in everything(database):
        shown = value.decode("latin-1") if isinstance(value, bytes) else str(value)
        for word in (*words[:3], *words[3:5], key):
            assert word not in shown, (table, column, word)
    with database.read() as session:
        assert session.get(Client, seeded.client_id) is None
        assert session.scalars(select(PlanStep)).all() == []
        assert session.scalars(select(PlanNote)).all() == []
        row = session.get(Appointment, loose)
        assert row is not None
        assert row.client_phone_enc is None
        assert row.location is None
    if db_url.startswith("sqlite"):
        assert _files_hold(db_url, (*words, *seeded.secrets)) == []


def test_an_admin_coordinates_a_clients_appointments_without_seeing_the_client(
    browser: TestClient, database: Database, config: HotlineConfig, settings: Settings
) -> None:
    """Finding: an admin without a counsellor record coordinates every team's appointments, and
    the appointments page showed an appointment booked for a client record with the client's
    pseudonym (and masked number): the one place an admin read a client's name. Now such an
    appointment is shown to who may not see the client with "–" for both; the team's staff
    still see them, and an appointment without a record is as before."""
    _people(database, config)
    csrf = _as(browser, "amira")
    made = browser.post(
        "/clients",
        data={"csrf": csrf, "team": "islamism", "pseudonym": "Geheim-Adler",
              "phone": "0151 23456789"},
    )  # fmt: skip
    client_id = int(made.headers["location"].split("/")[2].split("?")[0])
    day = (utcnow().date() + timedelta(days=2)).isoformat()
    for data in ({"client_id": str(client_id)}, {"pseudonym": "Ohne-Akte"}):
        booked = browser.post(
            "/appointments",
            data={"csrf": csrf, "date": day, "time": "10:00" if "client_id" in data else "12:00",
                  "duration": "60", "mode": "phone", **data},
        )  # fmt: skip
        assert booked.status_code == 303, booked.text
    assert "Geheim-Adler" in browser.get("/appointments").text
    _as(browser, "koord")
    assert "Geheim-Adler" in browser.get("/appointments?team=islamism").text
    _as(browser, "chef")
    for path in ("/appointments", "/appointments?team=islamism"):
        page = browser.get(path)
        assert page.status_code == 200
        assert "Geheim-Adler" not in page.text, path
        assert "Ohne-Akte" in page.text
