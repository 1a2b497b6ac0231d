"""Call-backs through the line: a counsellor calls a client back from the task list, the
appointments page or the API. Twilio (a Twilio-compatible fake on loopback) rings the counsellor
from the line's number; signed webhooks whisper, wait for a 1 and dial the client, again from
the line's number. Nobody sees the other's number, and nothing is logged with one."""

from __future__ import annotations

import itertools
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit
from xml.etree.ElementTree import Element

import pytest
import time_machine
from sqlalchemy import func, select, text
from starlette.datastructures import Secret
from starlette.testclient import TestClient

from app.simulator import Behaviour, Simulator, parse
from config.model import HotlineConfig
from config.settings import Settings
from foundation import crypto, outbox, users
from foundation.db import Database
from foundation.models import (
    AppointmentMode,
    AuditEntry,
    CallbackRequest,
    Channel,
    Counsellor,
    OutboundCall,
    Role,
    TaskStatus,
    Team,
    User,
    Voicemail,
)
from hotline import twiml
from hotline.outbound_calls import references
from hotline.tasks import callback_requests, retention
from scheduling import appointments
from scheduling.shifts import Rota
from tests.conftest import add_counsellor, berlin
from tests.fake_twilio import FakeTwilio
from tests.helpers import TWILIO_SID as SID
from tests.helpers import https_client, live_twilio
from tests.test_api import check_against_openapi
from tests.test_auth import PASSWORD, csrf_of, make_user, sign_in
from tests.test_voice import ISLAMISM, simulator
from web.app import create_app
from web.outbound_call_pages import ERRORS, NOTICES

NOON = berlin(2026, 12, 2, 12)  # a Wednesday, inside the line's hours
CLIENT = "+4917612345612"
MASKED = "+49 176 ••• ••12"
WHISPER = "Rückruf über die Islamismus-Leitung. Drücken Sie die 1, um verbunden zu werden."
SORRY = "Entschuldigung, dieser Rückruf ist nicht möglich."


@dataclass
class Staff:
    user_id: int
    counsellor_id: int
    phone: str


def _staff(database: Database, config: HotlineConfig, name: str, *teams: str) -> Staff:
    user_id = make_user(database, config, name, Role.COUNSELLOR, *teams)
    with database.read() as session:
        user = session.get(User, user_id)
        assert user is not None
        assert user.counsellor_id is not None
        counsellor = session.get(Counsellor, user.counsellor_id)
        assert counsellor is not None
        return Staff(user_id, counsellor.id, counsellor.phone)


@pytest.fixture
def anna(database: Database, config: HotlineConfig) -> Staff:
    """A counsellor of the islamism team with a web account."""
    return _staff(database, config, "anna", "islamism")


@pytest.fixture
def clock() -> Iterator[time_machine.Coordinates]:
    with time_machine.travel(NOON, tick=False) as traveller:
        yield traveller


@pytest.fixture
def live(settings: Settings) -> Iterator[tuple[Settings, FakeTwilio]]:
    """Settings with Twilio credentials (and a secret key), REST calls going to the fake."""
    with live_twilio(replace(settings, secret_key=Secret("a-secret-key-for-the-tests"))) as pair:
        yield pair


@pytest.fixture
def web(
    live: tuple[Settings, FakeTwilio], database: Database, clock: time_machine.Coordinates
) -> Iterator[TestClient]:
    with https_client(live[0], database) as client:
        yield client


def _request(database: Database, settings: Settings, phone: str = CLIENT) -> int:
    with database.write() as session:
        new = callback_requests.NewCallbackRequest(
            "islamism", phone, "abends", "192.0.2.1", name="Samira"
        )
        callback_requests.create_callback_request(session, settings, new, Rota(settings.config))
        found = session.scalar(select(func.max(CallbackRequest.id)))
    assert found is not None
    return found


_recordings = itertools.count(1)


def _voicemail(database: Database, settings: Settings, phone: str | None = CLIENT) -> int:
    with database.write() as session:
        team = session.scalars(select(Team).where(Team.slug == "islamism")).one()
        sealed = crypto.box(settings).seal(phone) if phone else None
        row = Voicemail(
            line="islamism",
            team_id=team.id,
            recording_sid=f"RE{next(_recordings):032x}",
            duration_seconds=40,
            caller_phone_enc=sealed,
        )
        session.add(row)
        session.flush()
        return row.id


def _appointment(
    database: Database,
    settings: Settings,
    counsellor_id: int,
    phone: str | None = CLIENT,
    later: int = 0,
) -> int:
    """An appointment tomorrow at 12:00 (`later` hours later) with the client's `phone`."""
    start = NOON + timedelta(days=1, hours=later)
    with database.write() as session:
        new = appointments.NewAppointment(
            counsellor_id=counsellor_id,
            client=appointments.Client("Falke", phone),
            start=start,
            end=start + timedelta(hours=1),
            mode=AppointmentMode.PHONE,
        )
        return appointments.book(session, settings, new, actor="tests").id


def _post(client: TestClient, path: str, page: str = "/tasks") -> tuple[int, str, str]:
    csrf = csrf_of(client.get(page).text)
    response = client.post(path, data={"csrf": csrf})
    return response.status_code, response.headers.get("location", ""), response.text


def _calls(database: Database) -> list[OutboundCall]:
    with database.read() as session:
        return list(session.scalars(select(OutboundCall).order_by(OutboundCall.id)))


def _task_state(database: Database, request_id: int) -> tuple[TaskStatus, int | None, int]:
    """The callback request's status and holder, and how many takes were audited."""
    with database.read() as session:
        request = session.get(CallbackRequest, request_id)
        assert request is not None
        takes = session.scalar(
            select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "take")
        )
        return request.status, request.taken_by_id, takes or 0


class Leg:
    """Twilio's side of the counsellor's call: signed requests to the URLs it was given."""

    def __init__(self, client: TestClient, settings: Settings, placed: dict[str, str]) -> None:
        self.sim: Simulator = simulator(client, settings)
        self.placed = placed
        self.params = {
            "CallSid": placed["Sid"],
            "AccountSid": SID,
            "From": placed["From"],
            "To": placed["To"],
            "Direction": "outbound-api",
            "CallStatus": "in-progress",
        }

    def post(self, url: str, **extra: str) -> Element:
        return parse(self.sim.request(url, self.params | extra))

    def answer(self) -> Element:
        return self.post(self.placed["Url"])


def _said(root: Element) -> str:
    return " ".join(element.text or "" for element in root.iter("Say"))


def _verbs(root: Element) -> list[str]:
    return [child.tag for child in root]


def _refused(root: Element) -> bool:
    return SORRY in _said(root) and _verbs(root)[-1] == "Hangup" and not list(root.iter("Dial"))


# --- the task list, end to end ------------------------------------------------------------------


def test_call_back_from_the_task_list_rings_the_counsellor_then_bridges_the_client(
    web: TestClient,
    live: tuple[Settings, FakeTwilio],
    database: Database,
    anna: Staff,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    settings, fake = live
    request_id = _request(database, settings)
    sign_in(web, "anna")
    page = web.get("/tasks").text
    assert MASKED in page  # the client's number only masked ...
    assert CLIENT not in page
    assert "12345612" not in page
    assert f'action="/tasks/callbacks/{request_id}/call"' in page  # ... and a button

    status, location, _ = _post(web, f"/tasks/callbacks/{request_id}/call")
    assert status == 303
    assert location == f"/tasks?notice=called#callback-{request_id}"
    assert NOTICES["called"] in web.get(location).text

    # Twilio was asked to ring the counsellor from the line's number; the TwiML URLs carry an
    # opaque reference, never a number.
    (placed,) = fake.calls
    assert placed["To"] == anna.phone
    assert placed["From"] == ISLAMISM
    assert placed["Method"] == "POST"
    answer_url = urlsplit(placed["Url"])
    assert f"{answer_url.scheme}://{answer_url.netloc}" == settings.public_url
    assert answer_url.path == references.ANSWER_PATH
    assert list(parse_qs(answer_url.query)) == ["ref"]
    assert urlsplit(placed["StatusCallback"]).path == references.STATUS_PATH
    for url in (placed["Url"], placed["StatusCallback"]):
        assert "12345612" not in url
        assert anna.phone[3:] not in url
    (call,) = _calls(database)
    assert (call.status, call.call_sid, call.kind, call.target_id) == (
        "queued",
        placed["Sid"],
        "callback",
        request_id,
    )
    with database.read() as session:
        request = session.get(CallbackRequest, request_id)
        assert request is not None
        assert request.status is TaskStatus.IN_PROGRESS
        assert request.taken_by_id == anna.user_id
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "call_back")).one()
        taken = session.scalars(select(AuditEntry).where(AuditEntry.action == "take")).one()
    assert (entry.entity, entry.entity_id) == ("callback_request", request_id)
    assert entry.actor.endswith("anna")
    assert entry.after == {
        "call_back": call.id,
        "counsellor_id": anna.counsellor_id,
        "line": "islamism",
    }
    # Taken once Twilio accepted the call, audited like a take by hand.
    assert (taken.entity, taken.entity_id, taken.actor) == (entry.entity, request_id, entry.actor)
    assert taken.before == {"status": "new", "taken_by_id": None}
    assert taken.after == {
        "status": "in_progress",
        "taken_by_id": anna.user_id,
        "call_back": call.id,
    }

    # The counsellor answers: the whisper, "press 1"; no key would hang up.
    leg = Leg(web, settings, placed)
    whisper = leg.answer()
    assert _verbs(whisper) == ["Gather", "Hangup"]
    gather = whisper[0]
    assert gather.attrib["numDigits"] == "1"
    assert _said(whisper).startswith(WHISPER)
    for say in whisper.iter("Say"):
        assert say.attrib["language"] == "de-DE"
    # She presses 1: the client is dialled from the line's number.
    dial_doc = leg.post(gather.attrib["action"], Digits="1")
    (dial,) = dial_doc.iter("Dial")
    assert dial.attrib["callerId"] == ISLAMISM
    assert (dial.text or "").strip() == CLIENT
    assert "record" not in dial.attrib  # the line does not record
    # The conversation ends: nothing more to say, hang up.
    ended = leg.post(dial.attrib["action"], DialCallStatus="completed", DialCallDuration="300")
    assert _verbs(ended) == ["Hangup"]
    for state in ("ringing", "in-progress", "completed", "ringing"):  # late and out of order
        status_doc = leg.sim.request(placed["StatusCallback"], leg.params | {"CallStatus": state})
        assert _verbs(parse(status_doc)) == []
    (call,) = _calls(database)
    assert (call.status, call.client_status) == ("completed", "completed")
    assert call.bridged_at is not None

    listing = web.get("/tasks").text
    assert "in Arbeit" in listing
    assert "übernommen von anna" in listing
    assert "Rückruf Mi 02.12., 12:00 durch Anna: Gespräch geführt" in listing

    for record in caplog.records:  # no number in any log line
        message = record.getMessage()
        for secret in ("12345612", CLIENT, anna.phone, anna.phone[3:], MASKED):
            assert secret not in message, message


@pytest.mark.parametrize("digits", ["", "5", "11"])
def test_no_key_or_a_wrong_key_hangs_up_without_dialling(
    web: TestClient,
    live: tuple[Settings, FakeTwilio],
    database: Database,
    anna: Staff,
    digits: str,
) -> None:
    settings, fake = live
    request_id = _request(database, settings)
    sign_in(web, "anna")
    assert _post(web, f"/tasks/callbacks/{request_id}/call")[0] == 303
    leg = Leg(web, settings, fake.calls[0])
    whisper = leg.answer()
    # Nothing pressed: Twilio runs what follows the Gather, a hang-up (a mailbox stays out).
    assert _verbs(whisper)[-1] == "Hangup"
    pressed = leg.post(whisper[0].attrib["action"], Digits=digits)
    assert _verbs(pressed) == ["Hangup"]
    assert _calls(database)[0].bridged_at is None


def test_tampered_expired_and_replayed_references_fail_safe(
    web: TestClient,
    live: tuple[Settings, FakeTwilio],
    database: Database,
    anna: Staff,
    clock: time_machine.Coordinates,
) -> None:
    settings, fake = live
    request_id = _request(database, settings)
    sign_in(web, "anna")
    _post(web, f"/tasks/callbacks/{request_id}/call")
    placed = fake.calls[0]
    leg = Leg(web, settings, placed)
    connect = leg.answer()[0].attrib["action"]
    ref = parse_qs(urlsplit(connect).query)["ref"][0]
    call_id, issued, signature = ref.split(".")
    base = settings.public_url + references.CONNECT_PATH

    # Tampered: another id, another time, a changed signature, garbage, none.
    other = "0" if signature[-1] != "0" else "1"
    for bad in (
        f"{int(call_id) + 1}.{issued}.{signature}",
        f"{call_id}.{int(issued) + 60}.{signature}",
        f"{call_id}.{issued}.{signature[:-1]}{other}",
        "1.2.3",
        "",
    ):
        assert _refused(leg.post(f"{base}?ref={bad}", Digits="1")), bad
        assert _refused(leg.post(f"{settings.public_url}{references.ANSWER_PATH}?ref={bad}"))
    # Replayed on another call (another CallSid): refused.
    replay = leg.params | {"CallSid": "CA" + "f" * 32}
    assert _refused(parse(leg.sim.request(connect, replay | {"Digits": "1"})))
    # Unsigned: Twilio's signature is checked first (403), before any database work.
    assert web.post(connect, data={"Digits": "1"}).status_code == 403
    # Expired: the counsellor must press 1 within the time allowed.
    clock.shift(references.BRIDGE_WITHIN + timedelta(seconds=1))
    assert _refused(leg.post(connect, Digits="1"))
    assert _calls(database)[0].bridged_at is None
    # Within the time, once only: a second 1 does not dial again.
    clock.shift(-references.BRIDGE_WITHIN)
    assert list(leg.post(connect, Digits="1").iter("Dial"))
    assert _refused(leg.post(connect, Digits="1"))


def test_a_gone_target_or_a_failure_inside_fails_safe(
    web: TestClient, live: tuple[Settings, FakeTwilio], database: Database, anna: Staff
) -> None:
    settings, fake = live
    first, second = _request(database, settings), _request(database, settings, "+4917699999999")
    sign_in(web, "anna")
    _post(web, f"/tasks/callbacks/{first}/call")
    _post(web, f"/tasks/callbacks/{second}/call")
    # The request was deleted meanwhile (retention): nobody is dialled.
    leg = Leg(web, settings, fake.calls[0])
    connect = leg.answer()[0].attrib["action"]
    with database.write() as session:
        session.execute(text("DELETE FROM callback_requests WHERE id = :id"), {"id": first})
    assert _refused(leg.post(connect, Digits="1"))
    # Anything failing inside (here: the table is gone): an apology, never a 5xx.
    leg = Leg(web, settings, fake.calls[1])
    connect = leg.answer()[0].attrib["action"]
    with database.write() as session:
        session.execute(text("DROP TABLE outbound_calls"))
    assert _refused(leg.post(connect, Digits="1"))
    assert _refused(leg.answer())
    assert _verbs(leg.post(connect.replace("/connect", "/dialed"), DialCallStatus="busy")) == [
        "Hangup"
    ]


def test_an_unreached_client_is_named_to_the_counsellor(
    web: TestClient, live: tuple[Settings, FakeTwilio], database: Database, anna: Staff
) -> None:
    settings, fake = live
    request_id = _request(database, settings)
    sign_in(web, "anna")
    _post(web, f"/tasks/callbacks/{request_id}/call")
    leg = Leg(web, settings, fake.calls[0])
    dial = next(leg.post(leg.answer()[0].attrib["action"], Digits="1").iter("Dial"))
    ended = leg.post(dial.attrib["action"], DialCallStatus="no-answer")
    assert "Es hat niemand abgenommen." in _said(ended)
    assert _verbs(ended)[-1] == "Hangup"
    assert "durch Anna: nicht abgenommen" in web.get("/tasks").text


def test_recording_only_when_the_line_records(config: HotlineConfig) -> None:
    line = config.lines["islamism"]
    quiet = parse(str(twiml.outbound_call_dial(line, CLIENT, "https://x.example/d")))
    assert "record" not in next(quiet.iter("Dial")).attrib
    recording = line.model_copy(update={"recording": True})
    loud = parse(str(twiml.outbound_call_dial(recording, CLIENT, "https://x.example/d")))
    assert next(loud.iter("Dial")).attrib["record"] == "record-from-answer-dual"


# --- who may, and what goes wrong ---------------------------------------------------------------


def test_simulation_mode_puts_the_call_in_the_outbox(
    settings: Settings, database: Database, anna: Staff, clock: time_machine.Coordinates
) -> None:
    request_id = _request(database, settings)
    with https_client(settings, database) as client:
        sign_in(client, "anna")
        status, location, _ = _post(client, f"/tasks/callbacks/{request_id}/call")
        assert status == 303
        assert location == f"/tasks?notice=simulated#callback-{request_id}"
        assert NOTICES["simulated"] in client.get(location).text
    with database.read() as session:
        (message,) = [m for m in outbox.recent(session, settings) if m.channel == Channel.CALL]
    assert (message.to, message.from_number, message.purpose) == (anna.phone, ISLAMISM, "call-back")
    assert message.status == "simulated"
    assert MASKED in message.body
    assert CLIENT not in message.body
    (call,) = _calls(database)
    assert (call.status, call.call_sid) == ("simulated", None)


def test_an_account_without_a_counsellor_gets_a_german_error_and_nothing_changes(
    web: TestClient,
    live: tuple[Settings, FakeTwilio],
    database: Database,
    config: HotlineConfig,
) -> None:
    settings, fake = live
    request_id = _request(database, settings)
    make_user(database, config, "koordination", Role.COORDINATOR, "islamism")
    sign_in(web, "koordination")
    status, _, page = _post(web, f"/tasks/callbacks/{request_id}/call")
    assert status == 422
    assert ERRORS["counsellor_id"] in page
    assert fake.calls == []
    assert _calls(database) == []
    with database.read() as session:
        request = session.get(CallbackRequest, request_id)
        assert request is not None
        assert request.status is TaskStatus.NEW


def test_other_teams_and_admins_cannot_call_back_a_team_task(
    web: TestClient,
    live: tuple[Settings, FakeTwilio],
    database: Database,
    config: HotlineConfig,
) -> None:
    settings, fake = live
    request_id = _request(database, settings)
    _staff(database, config, "rechts", "right-wing")
    with database.write() as session:
        own = add_counsellor(session, config, name="Chefin")
        users.create_user(
            session,
            config,
            users.NewUser("chefin", PASSWORD, Role.ADMIN, (), own.id),
            actor="tests",
        )
    for who in ("rechts", "chefin"):
        web.cookies.clear()
        sign_in(web, who)
        # Another team's task is answered as if it did not exist; an admin sees the list.
        refused = 404 if who == "rechts" else 403
        assert _post(web, f"/tasks/callbacks/{request_id}/call")[0] == refused, who
        assert f"/tasks/callbacks/{request_id}/call" not in web.get("/tasks").text
    assert fake.calls == []
    assert _calls(database) == []


def test_a_running_call_back_blocks_a_second_one(
    web: TestClient,
    live: tuple[Settings, FakeTwilio],
    database: Database,
    config: HotlineConfig,
    anna: Staff,
    clock: time_machine.Coordinates,
) -> None:
    settings, fake = live
    request_id = _request(database, settings)
    _staff(database, config, "bert", "islamism")
    sign_in(web, "anna")
    assert _post(web, f"/tasks/callbacks/{request_id}/call")[0] == 303
    web.cookies.clear()
    sign_in(web, "bert")
    status, _, page = _post(web, f"/tasks/callbacks/{request_id}/call")
    assert status == 409
    assert "läuft gerade schon ein Rückruf von Anna" in page
    assert len(fake.calls) == 1
    # Once Twilio reports the first one ended, another may start.
    leg = Leg(web, settings, fake.calls[0])
    leg.sim.request(fake.calls[0]["StatusCallback"], leg.params | {"CallStatus": "no-answer"})
    assert _post(web, f"/tasks/callbacks/{request_id}/call")[0] == 303
    assert len(fake.calls) == 2


def test_twilio_refusing_or_failing_is_said_and_recorded_and_takes_nothing(
    web: TestClient, live: tuple[Settings, FakeTwilio], database: Database, anna: Staff
) -> None:
    settings, fake = live
    request_id = _request(database, settings)
    sign_in(web, "anna")
    fake.refuse_calls = 1
    status, _, page = _post(web, f"/tasks/callbacks/{request_id}/call")
    assert status == 502
    assert ERRORS["not_placed"] in page
    assert _task_state(database, request_id) == (TaskStatus.NEW, None, 0)  # nobody called
    fake.fail_next = 1
    status, _, page = _post(web, f"/tasks/callbacks/{request_id}/call")
    assert status == 502
    assert ERRORS["uncertain"] in page
    assert [c.status for c in _calls(database)] == ["not_placed", "uncertain"]
    listing = web.get("/tasks").text
    assert "nicht gestartet: Twilio hat abgelehnt" not in listing  # latest only
    assert "unklar, ob Twilio angerufen hat. Übernommen wird die Aufgabe erst, wenn Anna" in listing
    assert _task_state(database, request_id) == (TaskStatus.NEW, None, 0)
    # Twilio had placed it after all: it fetches the TwiML when Anna answers, and she takes it.
    uncertain = _calls(database)[1]
    ref = references.make_ref(settings, uncertain.id, NOON)
    placed = {
        "Sid": "CA" + "a" * 32,
        "From": ISLAMISM,
        "To": anna.phone,
        "Url": references.url(settings, references.ANSWER_PATH, ref),
    }
    leg = Leg(web, settings, placed)
    assert _said(leg.answer()).startswith(WHISPER)
    assert _task_state(database, request_id) == (TaskStatus.IN_PROGRESS, anna.user_id, 1)
    assert (_calls(database)[1].status, _calls(database)[1].call_sid) == (
        "in-progress",
        placed["Sid"],
    )
    assert "unklar, ob Twilio" not in web.get("/tasks").text


# --- voicemails ---------------------------------------------------------------------------------


def test_a_voicemail_keeps_the_callers_number_encrypted_and_is_called_back(
    live: tuple[Settings, FakeTwilio],
    database: Database,
    config: HotlineConfig,
    anna: Staff,
    clock: time_machine.Coordinates,
) -> None:
    settings, fake = live
    with https_client(settings, database) as client:
        # Nobody on call: the caller leaves a message; her number is kept, encrypted.
        behaviour = Behaviour(default="no-answer", fallback="no-answer")
        simulator(client, settings).call(ISLAMISM, caller=CLIENT, behaviour=behaviour)
        simulator(client, settings).call(ISLAMISM, caller="anonymous", behaviour=behaviour)
        with database.read() as session:
            raw = session.execute(text("SELECT caller_phone_enc FROM voicemails ORDER BY id"))
            sealed, withheld = (row[0] for row in raw)
            first, second = session.scalars(select(Voicemail.id).order_by(Voicemail.id)).all()
        assert withheld is None
        assert CLIENT.encode() not in bytes(sealed)
        assert crypto.box(settings).open(sealed) == CLIENT
        sign_in(client, "anna")
        page = client.get("/tasks").text
        assert f"Rückrufnummer: {MASKED}" in page
        assert "Rückrufnummer: keine" in page
        assert f'action="/tasks/voicemails/{first}/call"' in page
        assert f'action="/tasks/voicemails/{second}/call"' not in page
        assert CLIENT not in page
        status, location, _ = _post(client, f"/tasks/voicemails/{first}/call")
        assert (status, location) == (303, f"/tasks?notice=called#voicemail-{first}")
        status, _, page = _post(client, f"/tasks/voicemails/{second}/call")
        assert status == 422
        assert ERRORS["number"] in page
        leg = Leg(client, settings, fake.calls[0])
        dial = next(leg.post(leg.answer()[0].attrib["action"], Digits="1").iter("Dial"))
        assert (dial.text or "").strip() == CLIENT
        assert dial.attrib["callerId"] == ISLAMISM
    with database.read() as session:
        voicemail = session.get(Voicemail, first)
        assert voicemail is not None
        assert voicemail.status is TaskStatus.IN_PROGRESS
        assert voicemail.handled_by_id == anna.user_id


def test_a_line_may_keep_no_voicemail_numbers(
    db_url: str, database: Database, config: HotlineConfig, clock: time_machine.Coordinates
) -> None:
    line = config.lines["islamism"].model_copy(update={"voicemail_keeps_number": False})
    quiet = config.model_copy(update={"lines": {**config.lines, "islamism": line}})
    settings = Settings(config=quiet, database_url=db_url)
    with https_client(settings, database) as client:
        behaviour = Behaviour(default="no-answer", fallback="no-answer")
        simulator(client, settings).call(ISLAMISM, caller=CLIENT, behaviour=behaviour)
    with database.read() as session:
        assert session.scalars(select(Voicemail.caller_phone_enc)).one() is None


def test_retention_forgets_the_numbers_of_old_done_voicemails(
    settings: Settings, database: Database
) -> None:
    days = settings.config.tasks.retention_days
    old, kept_open, recent = (_voicemail(database, settings) for _ in range(3))
    with database.write() as session:
        for voicemail_id, status, age in (
            (old, TaskStatus.DONE, days + 1),
            (kept_open, TaskStatus.IN_PROGRESS, days + 1),
            (recent, TaskStatus.DONE, days - 1),
        ):
            row = session.get(Voicemail, voicemail_id)
            assert row is not None
            row.status, row.created_at = status, NOON - timedelta(days=age)
            row.recording_deleted_at = NOON  # nothing to delete at Twilio in this test
    retention.retention_job(database, settings, now=NOON)
    with database.read() as session:
        numbers = dict(session.execute(select(Voicemail.id, Voicemail.caller_phone_enc)).all())
        entries = session.scalars(
            select(AuditEntry.entity_id).where(AuditEntry.action == "delete_number")
        ).all()
    assert numbers[old] is None
    assert numbers[kept_open] is not None
    assert numbers[recent] is not None
    assert entries == [old]


def test_voicemail_numbers_are_in_the_rekey_list() -> None:
    assert (Voicemail, ("caller_phone_enc",)) in crypto.ENCRYPTED


# --- appointments -------------------------------------------------------------------------------


def test_call_back_from_the_appointments_page(
    web: TestClient, live: tuple[Settings, FakeTwilio], database: Database, anna: Staff
) -> None:
    settings, fake = live
    with_phone = _appointment(database, settings, anna.counsellor_id)
    without = _appointment(database, settings, anna.counsellor_id, phone=None, later=2)
    sign_in(web, "anna")
    page = web.get("/appointments").text
    assert MASKED in page
    assert CLIENT not in page
    assert f'action="/appointments/{with_phone}/call"' in page
    assert f'action="/appointments/{without}/call"' not in page
    status, location, _ = _post(web, f"/appointments/{with_phone}/call", "/appointments")
    assert status == 303
    assert location == f"/appointments?notice=called&id={with_phone}"
    shown = web.get(location).text
    assert "Der Rückruf ist gestartet" in shown
    assert "durch Anna: wird gestartet" in shown
    (placed,) = fake.calls
    assert (placed["To"], placed["From"]) == (anna.phone, ISLAMISM)
    leg = Leg(web, settings, placed)
    dial = next(leg.post(leg.answer()[0].attrib["action"], Digits="1").iter("Dial"))
    assert (dial.text or "").strip() == CLIENT
    status, _, page = _post(web, f"/appointments/{without}/call", "/appointments")
    assert status == 422
    assert ERRORS["number"] in page
    with database.read() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "call_back")).one()
    assert (entry.entity, entry.entity_id) == ("appointment", with_phone)


def test_only_who_may_change_an_appointment_may_call_its_client(
    web: TestClient,
    live: tuple[Settings, FakeTwilio],
    database: Database,
    config: HotlineConfig,
    anna: Staff,
) -> None:
    settings, fake = live
    appointment_id = _appointment(database, settings, anna.counsellor_id)
    _staff(database, config, "bert", "islamism")  # a colleague: not her appointment
    sign_in(web, "bert")
    assert _post(web, f"/appointments/{appointment_id}/call", "/appointments")[0] == 404
    assert fake.calls == []


# --- the API ------------------------------------------------------------------------------------


@pytest.fixture
def api_client(
    live: tuple[Settings, FakeTwilio],
    database: Database,
    api_key: str,
    clock: time_machine.Coordinates,
) -> Iterator[TestClient]:
    with TestClient(create_app(live[0], database=database)) as client:
        client.headers["Authorization"] = f"Bearer {api_key}"
        yield client


def test_api_starts_and_shows_a_call_back(
    api_client: TestClient, live: tuple[Settings, FakeTwilio], database: Database, anna: Staff
) -> None:
    settings, fake = live
    request_id = _request(database, settings)
    response = api_client.post(
        "/api/v1/callbacks",
        json={"counsellor_id": anna.counsellor_id, "callback_request_id": request_id},
    )
    assert response.status_code == 201, response.text
    check_against_openapi(response, "/api/v1/callbacks", "post")
    body = response.json()
    (placed,) = fake.calls
    assert body["status"] == "queued"
    assert body["call_sid"] == placed["Sid"]
    assert body["target"] == {"kind": "callback_request", "id": request_id}
    assert body["counsellor_id"] == anna.counsellor_id
    assert body["counsellor_name"] == "Anna"
    assert body["line"] == "islamism"
    assert body["client_phone"] == MASKED
    assert body["created_at"] == "2026-12-02T12:00:00+01:00"
    assert CLIENT not in response.text
    assert anna.phone not in response.text
    with database.read() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "call_back")).one()
        request = session.get(CallbackRequest, request_id)
        assert request is not None
    assert entry.actor.startswith("api-key:")
    assert request.taken_by_id == anna.user_id  # the account of the counsellor who calls
    shown = api_client.get(f"/api/v1/callbacks/{body['id']}")
    assert shown.status_code == 200
    check_against_openapi(shown, "/api/v1/callbacks/{call_id}", "get")
    assert shown.json() == body
    missing = api_client.get("/api/v1/callbacks/999")
    assert missing.status_code == 404
    check_against_openapi(missing, "/api/v1/callbacks/{call_id}", "get")
    assert api_client.get("/api/v1/callbacks/x").status_code == 422


def test_api_refuses_bad_input_and_changes_nothing(
    api_client: TestClient,
    live: tuple[Settings, FakeTwilio],
    database: Database,
    config: HotlineConfig,
    anna: Staff,
) -> None:
    settings, fake = live
    request_id = _request(database, settings)
    no_number = _voicemail(database, settings, phone=None)
    other = _staff(database, config, "rechts", "right-wing")
    with database.write() as session:
        inactive = add_counsellor(session, config, "islamism", name="Weg")
        inactive.active = False

    def audit_count() -> int:
        with database.read() as session:
            return session.scalar(select(func.count()).select_from(AuditEntry)) or 0

    before = audit_count()
    target = {"callback_request_id": request_id}
    cases: list[tuple[dict[str, object], int, str | None]] = [
        ({"counsellor_id": anna.counsellor_id}, 422, None),  # no target
        (
            {"counsellor_id": anna.counsellor_id, **target, "voicemail_id": no_number},
            422,
            None,
        ),  # two targets
        ({"counsellor_id": 999, **target}, 422, "counsellor_id"),
        ({"counsellor_id": inactive.id, **target}, 422, "counsellor_id"),
        ({"counsellor_id": other.counsellor_id, **target}, 422, "counsellor_id"),  # other team
        (
            {"counsellor_id": anna.counsellor_id, "callback_request_id": 999},
            422,
            "callback_request_id",
        ),
        ({"counsellor_id": anna.counsellor_id, "voicemail_id": no_number}, 422, "voicemail_id"),
        ({"counsellor_id": anna.counsellor_id, "appointment_id": 999}, 422, "appointment_id"),
        ({"counsellor_id": anna.counsellor_id, **target, "phone": CLIENT}, 422, "phone"),
        ({"counsellor_id": 0, **target}, 422, "counsellor_id"),
    ]
    for payload, code, field in cases:
        response = api_client.post("/api/v1/callbacks", json=payload)
        assert response.status_code == code, (payload, response.text)
        check_against_openapi(response, "/api/v1/callbacks", "post")
        body = response.json()
        assert body["message"]
        if field:
            assert field in {detail["field"] for detail in body["details"]}, body
        assert CLIENT not in response.text
    assert api_client.post("/api/v1/callbacks", content=b"{").status_code == 415
    not_json = api_client.post(
        "/api/v1/callbacks", content=b"{", headers={"content-type": "application/json"}
    )
    assert not_json.status_code == 400
    del api_client.headers["Authorization"]
    assert (
        api_client.post("/api/v1/callbacks", json={"counsellor_id": 1, **target}).status_code == 401
    )
    assert fake.calls == []
    assert _calls(database) == []
    assert audit_count() == before


def test_api_conflict_and_twilio_failure(
    api_client: TestClient, live: tuple[Settings, FakeTwilio], database: Database, anna: Staff
) -> None:
    settings, fake = live
    request_id, second = (
        _request(database, settings),
        _request(database, settings, "+4917611111111"),
    )
    payload = {"counsellor_id": anna.counsellor_id, "callback_request_id": request_id}
    assert api_client.post("/api/v1/callbacks", json=payload).status_code == 201
    running_again = api_client.post("/api/v1/callbacks", json=payload)
    assert running_again.status_code == 409
    check_against_openapi(running_again, "/api/v1/callbacks", "post")
    fake.refuse_calls = 1
    refused = api_client.post(
        "/api/v1/callbacks",
        json={"counsellor_id": anna.counsellor_id, "callback_request_id": second},
    )
    assert refused.status_code == 502
    check_against_openapi(refused, "/api/v1/callbacks", "post")
    assert refused.json()["error"] == "not_placed"
    call_id = int(re.findall(r"call-back (\d+)", refused.json()["message"])[0])
    assert api_client.get(f"/api/v1/callbacks/{call_id}").json()["status"] == "not_placed"


def test_the_reference_is_signed_and_expires(settings: Settings) -> None:
    ref = references.make_ref(settings, 7, NOON)
    assert references.read_ref(settings, ref, NOON + timedelta(minutes=9), timedelta(minutes=10))
    assert (
        references.read_ref(settings, ref, NOON + timedelta(minutes=11), timedelta(minutes=10))
        is None
    )
    other = Settings(config=settings.config, secret_key=Secret("another key"))
    assert references.read_ref(other, ref, NOON, timedelta(minutes=10)) is None
    assert (
        references.read_ref(settings, ref.replace("7.", "8.", 1), NOON, timedelta(hours=1)) is None
    )


# --- a failed call-back takes nothing (review of issue 7) ----------------------------------------


def test_a_failing_outbox_in_simulation_mode_takes_nothing(
    settings: Settings, database: Database, anna: Staff, clock: time_machine.Coordinates
) -> None:
    request_id = _request(database, settings)
    with https_client(settings, database) as client:
        sign_in(client, "anna")
        with database.write() as session:
            session.execute(text("DROP TABLE outbox_messages"))
        status, _, page = _post(client, f"/tasks/callbacks/{request_id}/call")
    assert status == 502
    assert ERRORS["not_placed"] in page
    assert _task_state(database, request_id) == (TaskStatus.NEW, None, 0)
    assert [c.status for c in _calls(database)] == ["not_placed"]


def test_a_refused_api_call_back_takes_nothing(
    api_client: TestClient, live: tuple[Settings, FakeTwilio], database: Database, anna: Staff
) -> None:
    settings, fake = live
    request_id = _request(database, settings)
    fake.refuse_calls = 1
    payload = {"counsellor_id": anna.counsellor_id, "callback_request_id": request_id}
    assert api_client.post("/api/v1/callbacks", json=payload).status_code == 502
    assert _task_state(database, request_id) == (TaskStatus.NEW, None, 0)


# --- the line of an appointment's call-back -----------------------------------------------------


@pytest.fixture
def doris(database: Database, config: HotlineConfig) -> Staff:
    """A counsellor of both teams, each with a line."""
    return _staff(database, config, "doris", "islamism", "right-wing")


def _call_with_line(client: TestClient, appointment_id: int, line: str) -> tuple[int, str]:
    csrf = csrf_of(client.get("/appointments").text)
    response = client.post(
        f"/appointments/{appointment_id}/call", data={"csrf": csrf, "line": line}
    )
    return response.status_code, response.text


def test_the_appointments_page_offers_a_choice_of_line_to_a_counsellor_of_two_teams(
    web: TestClient,
    live: tuple[Settings, FakeTwilio],
    database: Database,
    anna: Staff,
    doris: Staff,
) -> None:
    settings, fake = live
    appointment_id = _appointment(database, settings, doris.counsellor_id)
    sign_in(web, "doris")
    page = web.get("/appointments").text
    select_html = re.search(r'<select id="line-\d+" name="line">.*?</select>', page, re.S)
    assert select_html is not None
    options = re.findall(r'<option value="([^"]+)"( selected)?>([^<]+)</option>', select_html[0])
    assert options == [
        ("islamism", " selected", "Islamismus-Leitung"),  # the first line, in config order
        ("right-wing", "", "Leitung Rechtsextremismus"),
    ]
    assert f'for="line-{appointment_id}"' in page  # labelled

    # Not a line of her teams: a German error, nobody called.
    status, text_ = _call_with_line(web, appointment_id, "nowhere")
    assert status == 422
    assert ERRORS["wrong_line"] in text_
    assert fake.calls == []
    assert _calls(database) == []

    # The right-wing line: both phones see its number; next time it is preselected.
    status, _ = _call_with_line(web, appointment_id, "right-wing")
    assert status == 303
    (placed,) = fake.calls
    right_wing = settings.config.lines["right-wing"].number
    assert (placed["To"], placed["From"]) == (doris.phone, right_wing)
    leg = Leg(web, settings, placed)
    whisper = leg.answer()
    assert "Leitung Rechtsextremismus" in _said(whisper)
    dial = next(leg.post(whisper[0].attrib["action"], Digits="1").iter("Dial"))
    assert dial.attrib["callerId"] == right_wing
    assert _calls(database)[0].line == "right-wing"
    page = web.get("/appointments").text
    assert '<option value="right-wing" selected>' in page

    # A counsellor of one team with a line is offered no choice; her line is used.
    web.cookies.clear()
    own = _appointment(database, settings, anna.counsellor_id, later=3)
    sign_in(web, "anna")
    assert 'name="line"' not in web.get("/appointments").text
    status, text_ = _call_with_line(web, own, "right-wing")
    assert status == 422
    assert ERRORS["wrong_line"] in text_
    assert len(fake.calls) == 1


def test_the_api_takes_the_line_of_an_appointments_call_back(
    api_client: TestClient,
    live: tuple[Settings, FakeTwilio],
    database: Database,
    anna: Staff,
    doris: Staff,
) -> None:
    settings, fake = live
    right_wing = settings.config.lines["right-wing"].number
    appointment_id = _appointment(database, settings, doris.counsellor_id)
    request_id = _request(database, settings)
    base = {"counsellor_id": doris.counsellor_id, "appointment_id": appointment_id}

    def refused(payload: dict[str, object]) -> str:
        response = api_client.post("/api/v1/callbacks", json=payload)
        assert response.status_code == 422, response.text
        check_against_openapi(response, "/api/v1/callbacks", "post")
        (detail,) = response.json()["details"]
        assert detail["field"] == "line"
        return str(detail["message"])

    # Not a line of her teams, or not the task's own line: 422, nothing changed.
    assert "'islamism' or 'right-wing'" in refused(base | {"line": "nowhere"})
    task = {"counsellor_id": doris.counsellor_id, "callback_request_id": request_id}
    assert "'islamism'" in refused(task | {"line": "right-wing"})
    refused(base | {"line": "x" * 41})
    assert fake.calls == []
    assert _calls(database) == []

    chosen = api_client.post("/api/v1/callbacks", json=base | {"line": "right-wing"})
    assert chosen.status_code == 201, chosen.text
    check_against_openapi(chosen, "/api/v1/callbacks", "post")
    assert chosen.json()["line"] == "right-wing"
    assert fake.calls[-1]["From"] == right_wing
    # Without `line`: the line of the appointment's latest call-back, once that one ended.
    leg = Leg(api_client, settings, fake.calls[-1])
    leg.sim.request(fake.calls[-1]["StatusCallback"], leg.params | {"CallStatus": "completed"})
    again = api_client.post("/api/v1/callbacks", json=base)
    assert again.status_code == 201, again.text
    assert (again.json()["line"], fake.calls[-1]["From"]) == ("right-wing", right_wing)
    # A task's own line may be named; a counsellor of one team is unchanged without it.
    assert api_client.post("/api/v1/callbacks", json=task | {"line": "islamism"}).status_code == 201
    own = _appointment(database, settings, anna.counsellor_id, later=3)
    plain = api_client.post(
        "/api/v1/callbacks", json={"counsellor_id": anna.counsellor_id, "appointment_id": own}
    )
    assert plain.status_code == 201, plain.text
    assert (plain.json()["line"], fake.calls[-1]["From"]) == ("islamism", ISLAMISM)
