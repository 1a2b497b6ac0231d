"""Calls end to end: a Twilio-like walker follows the service's TwiML (app.simulator)."""

from __future__ import annotations

import dataclasses
import logging
import shutil
import threading
import time
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

import httpx2 as httpx
import pytest
import time_machine
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from starlette.testclient import TestClient
from twilio.request_validator import RequestValidator

from app.simulator import Behaviour, Simulator, TwimlError, parse
from config.model import SHIPPED, HotlineConfig, load_config
from config.settings import DEVELOPMENT_AUTH_TOKEN, Settings, SettingsError
from foundation import crypto, outbox
from foundation.db import Database, make_engine
from foundation.models import Base, Call, OutboxMessage, StandIn, Tier, Voicemail
from foundation.teams import team_by_slug
from hotline import calls as calls_module
from hotline.calls import call_values, open_call
from scheduling import shifts
from scheduling.counsellors import NewCounsellor, create_counsellor
from scheduling.shifts import NewShift, create_shift
from tests.conftest import add_counsellor, berlin
from tests.fake_twilio import running
from tests.helpers import OnCall as Rota
from tests.helpers import post_signed, put_on_call
from web.app import create_app
from web.twilio import webhook
from web.twilio.hotpath import Recorder
from web.twilio.signature import MAX_BODY, form, twilio_signature

ISLAMISM = "+497112794555"
RIGHT_WING = "+497112794544"
GENERAL = "+497112794556"
WEDNESDAY_NOON = berlin(2026, 12, 2, 12)


def transport(client: TestClient):  # type: ignore[no-untyped-def]
    def post(path: str, params: Mapping[str, str], headers: Mapping[str, str]) -> tuple[int, str]:
        response = client.post(path, data=dict(params), headers=dict(headers))
        assert response.headers.get("content-type", "").startswith(
            ("application/xml", "text/plain")
        ), response.headers
        return response.status_code, response.text

    return post


def simulator(client: TestClient, settings: Settings) -> Simulator:
    return Simulator(transport(client), settings.public_url, settings.webhook_tokens()[0])


def day_shifts(
    database: Database, config: HotlineConfig, team: str, start: datetime, end: datetime
) -> Rota:
    """A primary and a backup of `team` on call from `start` to `end`, and a colleague
    without a shift."""
    return put_on_call(database, config, start, end, team, spare=True)


@pytest.fixture
def rota(database: Database, config: HotlineConfig) -> Rota:
    # Made as if at noon on the day of the shift: what creating it queues (shift notices) must
    # not depend on the real date, which passed the shift's end on 2026-12-03.
    with time_machine.travel(WEDNESDAY_NOON, tick=False):
        return day_shifts(
            database, config, "islamism", berlin(2026, 12, 2, 9), berlin(2026, 12, 3, 9)
        )


@pytest.fixture
def sim(client: TestClient, settings: Settings) -> Iterator[Simulator]:
    with time_machine.travel(WEDNESDAY_NOON, tick=False):
        yield simulator(client, settings)


def the_call(database: Database) -> Call:
    with database.read() as session:
        return session.scalars(select(Call)).one()


# --- routing ----------------------------------------------------------------------------------


def test_primary_accepts(sim: Simulator, rota: Rota, database: Database) -> None:
    walk = sim.call(ISLAMISM)
    assert walk.connected_to == rota.primary
    assert walk.details("ring") == [rota.primary]
    assert walk.details("caller-id") == [ISLAMISM]  # the counsellor's number stays private
    assert "Ausstiegsberatung" in walk.details("say")[0]
    assert "Anruf über die Islamismus-Leitung" in walk.details("whisper-say")[0]
    assert walk.kinds()[-2:] == ["hangup", "ended"]  # no dangling call after the conversation
    call = the_call(database)
    assert call.outcome == "accepted"
    assert call.accepted_by_id == rota.primary_id
    assert call.state == "completed"
    assert call.ring_seconds is not None
    assert call.talk_seconds == 300
    assert call.line == "islamism"


def test_primary_mailbox_answers_then_backup_accepts(
    sim: Simulator, rota: Rota, database: Database
) -> None:
    walk = sim.call(ISLAMISM, behaviour=Behaviour(counsellors={rota.primary: "mailbox"}))
    assert walk.details("ring") == [rota.primary, rota.backup]
    assert walk.details("mailbox") == [rota.primary]
    assert walk.connected_to == rota.backup
    assert the_call(database).accepted_by_id == rota.backup_id


@pytest.mark.parametrize("failure", ["busy", "no-answer", "failed", "wrong-key"])
def test_each_failure_moves_to_the_next_tier(sim: Simulator, rota: Rota, failure: str) -> None:
    walk = sim.call(ISLAMISM, behaviour=Behaviour(counsellors={rota.primary: failure}))
    assert walk.connected_to == rota.backup


def test_everybody_fails_then_fallback_then_voicemail_and_sms(
    sim: Simulator, rota: Rota, database: Database, settings: Settings
) -> None:
    behaviour = Behaviour(default="no-answer", fallback="no-answer", voicemail_seconds=42)
    walk = sim.call(ISLAMISM, caller="+4917612345678", behaviour=behaviour)
    assert walk.details("ring") == [rota.primary, rota.backup]
    assert walk.details("fallback") == [GENERAL]
    assert walk.details("voicemail") == ["42"]
    assert walk.connected_to is None
    assert "Vielen Dank für Ihre Nachricht" in walk.said()
    with database.read() as session:
        (voicemail,) = session.scalars(select(Voicemail)).all()
        messages = outbox.recent(session, settings)
    assert voicemail.duration_seconds == 42
    assert voicemail.line == "islamism"
    assert voicemail.status == "new"
    (sms,) = messages
    assert sms.to == rota.primary
    assert sms.from_number == ISLAMISM
    assert sms.body.startswith("Neue Sprachnachricht auf der Leitung Islamismus-Leitung")
    assert "17612345678" not in sms.body  # nothing about the caller
    assert sms.status == "simulated"
    call = the_call(database)
    assert call.outcome == "voicemail"
    assert call.fallback_used


def test_fallback_answers(sim: Simulator, rota: Rota, database: Database) -> None:
    walk = sim.call(ISLAMISM, behaviour=Behaviour(default="busy"))
    assert walk.connected_to == GENERAL
    call = the_call(database)
    assert call.outcome == "fallback"
    assert call.fallback_used


def test_empty_rota_goes_straight_to_the_fallback_number(sim: Simulator) -> None:
    walk = sim.call(RIGHT_WING)
    assert walk.details("ring") == []
    assert walk.connected_to == GENERAL
    assert walk.details("caller-id") == [RIGHT_WING]


def test_stand_in_takes_the_call(
    sim: Simulator, rota: Rota, database: Database, config: HotlineConfig
) -> None:
    with database.write() as session:
        session.add(
            StandIn(
                team_id=team_by_slug(session, "islamism", config).id,
                absent_id=rota.primary_id,
                substitute_id=rota.other_id,
                start_at=berlin(2026, 12, 2, 10),
                end_at=berlin(2026, 12, 2, 14),
            )
        )
    walk = sim.call(ISLAMISM)
    assert walk.details("ring") == [rota.other]
    assert walk.connected_to == rota.other


def test_second_call_is_its_own_record(sim: Simulator, rota: Rota, database: Database) -> None:
    sim.call(ISLAMISM)
    sim.call(ISLAMISM, behaviour=Behaviour(default="no-answer", fallback="answer"))
    with database.read() as session:
        outcomes = sorted(c.outcome or "" for c in session.scalars(select(Call)))
    assert outcomes == ["accepted", "fallback"]


# --- hours, holidays, DST -----------------------------------------------------------------------


def test_outside_hours_hears_the_hours_and_can_leave_a_message(
    client: TestClient, settings: Settings, rota: Rota, database: Database
) -> None:
    with time_machine.travel(berlin(2026, 12, 2, 19, 30), tick=False):
        walk = simulator(client, settings).call(ISLAMISM)
    said = walk.said()
    assert "außerhalb unserer Sprechzeiten" in said
    assert "montags bis donnerstags von 9 bis 18 Uhr und freitags von 9 bis 16 Uhr" in said
    assert "1 1 0" in said
    assert walk.details("ring") == []
    assert walk.details("voicemail") == ["30"]
    with database.read() as session:
        assert len(session.scalars(select(Voicemail)).all()) == 1


def test_epiphany_is_a_holiday_in_baden_wuerttemberg(
    client: TestClient, settings: Settings, database: Database, config: HotlineConfig
) -> None:
    day_shifts(database, config, "islamism", berlin(2026, 1, 6, 9), berlin(2026, 1, 7, 9))
    with time_machine.travel(berlin(2026, 1, 6, 11), tick=False):  # a Tuesday
        walk = simulator(client, settings).call(ISLAMISM)
    assert "Feiertag" in walk.said()
    assert walk.details("ring") == []


ALWAYS_OPEN = "\n".join(
    f'{day} = "00:00-24:00"' for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
)


def always_open() -> str:
    """The shipped configuration with the islamism line open around the clock."""
    text = SHIPPED.read_text(encoding="utf-8")
    head, rest = text.split("[lines.islamism.hours]\n", 1)
    _, tail = rest.split("\n\n", 1)
    head = head.replace("closed_on_holidays = true", "closed_on_holidays = false", 1)
    return f"{head}[lines.islamism.hours]\n{ALWAYS_OPEN}\n\n{tail}"


@pytest.mark.parametrize(
    ("first_day", "moments"),
    [
        # 2026-03-29: clocks jump 02:00 -> 03:00; Saturday's 24-hour shift lasts 23 real hours.
        (
            berlin(2026, 3, 28, 9),
            [(berlin(2026, 3, 29, 1, 30), 0), (berlin(2026, 3, 29, 3, 30), 0),
             (berlin(2026, 3, 29, 8, 59), 0), (berlin(2026, 3, 29, 9, 1), 1)],
        ),
        # 2026-10-25: clocks go back 03:00 -> 02:00; Saturday's shift lasts 25 real hours.
        (
            berlin(2026, 10, 24, 9),
            [(berlin(2026, 10, 25, 2, 30), 0), (berlin(2026, 10, 25, 2, 30).replace(fold=1), 0),
             (berlin(2026, 10, 25, 8, 59), 0), (berlin(2026, 10, 25, 9, 1), 1)],
        ),
    ],
)  # fmt: skip
def test_handoff_at_nine_local_across_dst(
    tmp_path: Path,
    db_url: str,
    database: Database,
    first_day: datetime,
    moments: list[tuple[datetime, int]],
) -> None:
    """Daily 09:00 handoffs laid out in local time: on the day of each change the handoff
    still happens at 09:00 Berlin time, and the night's odd hour is covered."""
    from scheduling.rota import local_span

    client, settings = app_with(tmp_path, db_url, database, always_open())
    config = settings.config
    with client:
        with database.write() as session:
            people = [add_counsellor(session, config, "islamism", name=f"P{i}") for i in range(2)]
            for day in range(2):
                start, end = local_span(
                    first_day.date() + timedelta(days=day),
                    first_day.time(),
                    1,
                    config.organisation.zone,
                )
                create_shift(
                    session,
                    config,
                    NewShift("islamism", people[day].id, Tier.PRIMARY, start, end),
                    actor="tests",
                )
            phones = [p.phone for p in people]
        for at, expected in moments:
            with time_machine.travel(at, tick=False):
                walk = simulator(client, settings).call(ISLAMISM)
            assert walk.connected_to == phones[expected], (at, walk.events)


def test_a_dst_shift_really_lasts_23_hours(database: Database, config: HotlineConfig) -> None:
    rota = day_shifts(database, config, "islamism", berlin(2026, 3, 28, 9), berlin(2026, 3, 29, 9))
    assert rota  # the shift was accepted
    with database.read() as session:
        from foundation.models import Shift

        lengths = {s.end_at - s.start_at for s in session.scalars(select(Shift))}
    assert lengths == {timedelta(hours=23)}


# --- configuration-driven behaviour -------------------------------------------------------------


def app_with(
    tmp_path: Path, db_url: str, database: Database, text: str
) -> tuple[TestClient, Settings]:
    path = tmp_path / "hotline.toml"
    path.write_text(text, encoding="utf-8")
    settings = Settings(config=load_config(path), database_url=db_url)
    return TestClient(create_app(settings, database=database)), settings


def test_a_third_line_routes_to_its_team(tmp_path: Path, db_url: str, database: Database) -> None:
    from tests.test_config import LEFT_WING

    client, settings = app_with(
        tmp_path, db_url, database, SHIPPED.read_text(encoding="utf-8") + LEFT_WING
    )
    with client:
        rota = day_shifts(
            database, settings.config, "left-wing", berlin(2026, 12, 2, 9), berlin(2026, 12, 3, 9)
        )
        with time_machine.travel(berlin(2026, 12, 2, 10, 30), tick=False):  # Wed 09-12 open
            walk = simulator(client, settings).call("+497112794533")
    assert walk.connected_to == rota.primary
    assert walk.details("caller-id") == ["+497112794533"]
    assert "Anruf über die Leitung Linksextremismus" in walk.details("whisper-say")[0]


def test_ring_all_rings_every_tier_at_once(tmp_path: Path, db_url: str, database: Database) -> None:
    text = SHIPPED.read_text(encoding="utf-8").replace(
        'strategy = "sequential"', 'strategy = "ring_all"', 1
    )
    client, settings = app_with(tmp_path, db_url, database, text)
    with client:
        rota = day_shifts(
            database, settings.config, "islamism", berlin(2026, 12, 2, 9), berlin(2026, 12, 3, 9)
        )
        with time_machine.travel(WEDNESDAY_NOON, tick=False):
            walk = simulator(client, settings).call(
                ISLAMISM, behaviour=Behaviour(counsellors={rota.primary: "no-answer"})
            )
    assert walk.details("ring") == [f"{rota.primary},{rota.backup}"]
    assert walk.connected_to == rota.backup


def test_screening_can_be_switched_off(tmp_path: Path, db_url: str, database: Database) -> None:
    text = SHIPPED.read_text(encoding="utf-8").replace("screening = true", "screening = false", 1)
    client, settings = app_with(tmp_path, db_url, database, text)
    with client:
        rota = day_shifts(
            database, settings.config, "islamism", berlin(2026, 12, 2, 9), berlin(2026, 12, 3, 9)
        )
        with time_machine.travel(WEDNESDAY_NOON, tick=False):
            walk = simulator(client, settings).call(ISLAMISM)
    assert walk.details("whisper") == []
    assert walk.connected_to == rota.primary
    assert the_call(database).outcome == "accepted"


def test_relatives_menu_tags_the_call_and_routes_to_its_tiers(
    tmp_path: Path, db_url: str, database: Database
) -> None:
    text = SHIPPED.read_text(encoding="utf-8").replace(
        "recording = false",
        'recording = false\nrelatives_menu = true\nrelatives_tiers = ["backup", "primary"]',
        1,
    )
    client, settings = app_with(tmp_path, db_url, database, text)
    with client:
        rota = day_shifts(
            database, settings.config, "islamism", berlin(2026, 12, 2, 9), berlin(2026, 12, 3, 9)
        )
        with time_machine.travel(WEDNESDAY_NOON, tick=False):
            relative = simulator(client, settings).call(
                ISLAMISM, behaviour=Behaviour(menu_digits="2"), call_sid="CA" + "1" * 32
            )
            other = simulator(client, settings).call(ISLAMISM, call_sid="CA" + "2" * 32)
    assert "Angehörige" in relative.said()
    assert relative.details("ring")[0] == rota.backup
    assert other.details("ring")[0] == rota.primary
    with database.read() as session:
        flags = {c.call_sid: c.from_relative for c in session.scalars(select(Call))}
    assert flags == {"CA" + "1" * 32: True, "CA" + "2" * 32: False}


def test_unknown_number_goes_to_the_general_number(sim: Simulator, database: Database) -> None:
    walk = sim.call("+497111234567")
    assert walk.connected_to == GENERAL
    with database.read() as session:
        assert session.scalars(select(Call)).all() == []


# --- fail open --------------------------------------------------------------------------------


def break_database(app_db: Database, db_url: str, client: TestClient, settings: Settings) -> None:
    """Make the database unreachable under the running app."""
    if db_url.startswith("sqlite"):
        app_db.engine.dispose()
        path = Path(db_url.removeprefix("sqlite:///"))
        for suffix in ("", "-wal", "-shm"):
            candidate = path.with_name(path.name + suffix)
            if candidate.exists():
                candidate.rename(candidate.with_name(candidate.name + ".gone"))
        path.mkdir()  # a directory where the file was: SQLite cannot open it
    else:
        client.app.state.db = Database(  # type: ignore[attr-defined]
            make_engine("postgresql+psycopg://postgres@127.0.0.1:1/test")
        )


def restore_database(db_url: str) -> None:
    if db_url.startswith("sqlite"):
        path = Path(db_url.removeprefix("sqlite:///"))
        if path.is_dir():
            shutil.rmtree(path)


@pytest.mark.parametrize("moment", ["before the call", "mid-call"])
def test_database_down_still_connects_the_caller(
    client: TestClient,
    settings: Settings,
    database: Database,
    db_url: str,
    rota: Rota,
    moment: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    sim = simulator(client, settings)
    if moment == "before the call":
        break_database(database, db_url, client, settings)
    else:
        # The first request is answered normally; the database goes away while it rings.
        original = sim._post
        calls = 0

        def breaking(path: str, params: Mapping[str, str], headers: Mapping[str, str]):  # type: ignore[no-untyped-def]
            nonlocal calls
            calls += 1
            if calls == 2:
                break_database(database, db_url, client, settings)
            return original(path, params, headers)

        sim._post = breaking
    try:
        with time_machine.travel(WEDNESDAY_NOON, tick=False):
            walk = sim.call(
                ISLAMISM,
                caller="+4917612345678",
                behaviour=Behaviour(counsellors={rota.primary: "no-answer"}),
            )
    finally:
        restore_database(db_url)
    assert walk.connected_to in (GENERAL, rota.backup)
    if moment == "before the call":
        assert walk.connected_to == GENERAL
        assert walk.details("caller-id") == [ISLAMISM]
    assert "answering from memory" in caplog.text
    assert "17612345678" not in caplog.text


def test_fallback_url_rings_who_is_on_call(sim: Simulator, rota: Rota, database: Database) -> None:
    # On the other host (docs/operations.md#two-hosts), after the voice URL failed: the call is
    # routed as /twilio/voice routes it, and recorded once (a retry of the primary changes
    # nothing).
    params = {"CallSid": "CA" + "8" * 32, "To": ISLAMISM, "From": "+4917612345678"}
    for _ in range(2):
        root = parse(sim.request(sim.url("/twilio/fallback"), params | {"ErrorCode": "11200"}))
        numbers = [number.text for number in root.iter("Number")]
        assert numbers == [rota.primary]
    assert the_call(database).line == "islamism"


def test_a_fallback_host_with_the_voice_hosts_public_url_answers_from_memory(
    rota: Rota, database: Database, settings: Settings
) -> None:
    # One environment file for all hosts: the fallback host's HOTLINE_PUBLIC_URL is the failing
    # voice URL's, so a routed call's later steps would go there; the fallback number instead.
    shared = dataclasses.replace(
        settings,
        public_url="https://a.hotline.example",
        fallback_public_url="https://b.hotline.example",
    )
    call = {"CallSid": "CA" + "7" * 32, "To": ISLAMISM, "From": "+4917612345678"}
    with (
        TestClient(create_app(shared, database=database)) as client,
        time_machine.travel(WEDNESDAY_NOON, tick=False),
    ):
        for base, rings, not_rung in (
            ("https://b.hotline.example", GENERAL, rota.primary),
            (shared.public_url, rota.primary, GENERAL),
        ):
            answer = post_signed(
                client, shared, base + "/twilio/fallback", call, path="/twilio/fallback"
            )
            assert rings in answer.text, base
            assert not_rung not in answer.text, base


def test_fallback_url_needs_no_database(client: TestClient, settings: Settings) -> None:
    class NoDatabase:
        def __getattr__(self, name: str) -> object:
            raise RuntimeError(f"the database is gone ({name})")

    client.app.state.db = NoDatabase()  # type: ignore[attr-defined]
    sim = simulator(client, settings)
    params = {"CallSid": "CA" + "9" * 32, "To": ISLAMISM, "From": "anonymous", "ErrorCode": "11200"}
    with time_machine.travel(WEDNESDAY_NOON, tick=False):  # within service hours
        root = parse(sim.request(sim.url("/twilio/fallback"), params))
    dial = root.find("Dial")
    assert dial is not None
    assert dial.text == GENERAL
    assert dial.attrib["callerId"] == ISLAMISM


def test_a_bug_in_routing_falls_back(
    sim: Simulator, rota: Rota, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(*_args: object, **_kwargs: object) -> None:
        raise ZeroDivisionError

    monkeypatch.setattr(shifts, "on_call", boom)
    walk = sim.call(ISLAMISM)
    assert walk.connected_to == GENERAL


def test_a_slow_step_falls_back_within_the_budget(
    sim: Simulator, rota: Rota, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(webhook, "BUDGET_SECONDS", 0.3)
    original = shifts.on_call

    finished = threading.Event()

    def slow(*args, **kwargs):  # type: ignore[no-untyped-def]
        time.sleep(1.0)
        try:
            return original(*args, **kwargs)
        finally:
            finished.set()

    monkeypatch.setattr(shifts, "on_call", slow)
    started = time.perf_counter()
    walk = sim.call(ISLAMISM)
    assert walk.connected_to == GENERAL
    assert time.perf_counter() - started < 1.0  # answered before the slow step even finished
    assert finished.wait(5)  # the abandoned worker ends on its own
    deadline = time.monotonic() + 5  # and gives its connection back before the test ends
    while database.engine.pool.checkedout() and time.monotonic() < deadline:  # type: ignore[attr-defined]
        time.sleep(0.01)


# --- signatures -------------------------------------------------------------------------------


def test_twilio_signature_known_vector() -> None:
    validator = RequestValidator("12345")
    params = {
        "CallSid": "CA1234567890ABCDE",
        "Caller": "+12349013030",
        "Digits": "1234",
        "From": "+12349013030",
        "To": "+18005551212",
    }
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    assert validator.compute_signature(url, params) == "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
    sim = Simulator(lambda *_: (200, "<Response/>"), "https://mycompany.com", "12345")
    assert sim.sign(url, params) == "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
    assert twilio_signature("12345", url, params) == "0/KCTR6DLpKmkAf8muzZqo1nDgQ="


def status_of(
    client: TestClient,
    settings: Settings,
    signed: str,
    path: str,
    params: dict[str, str],
    token: str,
) -> int:
    """The status of a POST to `path`, signed as Twilio would for the URL `signed`."""
    return post_signed(client, settings, signed, params, token=token, path=path).status_code


def test_forged_and_replayed_requests_are_refused(
    client: TestClient, settings: Settings, database: Database, rota: Rota
) -> None:
    params = {"CallSid": "CA" + "3" * 32, "To": ISLAMISM, "From": "+4917612345678"}
    base = settings.public_url
    assert client.post("/twilio/voice", data=params).status_code == 403  # unsigned
    assert (
        status_of(client, settings, f"{base}/twilio/voice", "/twilio/voice", params, "wrong") == 403
    )
    # A genuine signature replayed against another URL, or with other parameters.
    assert (
        status_of(
            client,
            settings,
            f"{base}/twilio/status",
            "/twilio/voice",
            params,
            DEVELOPMENT_AUTH_TOKEN,
        )
        == 403
    )
    signature = RequestValidator(DEVELOPMENT_AUTH_TOKEN).compute_signature(
        f"{base}/twilio/voice", params
    )
    tampered = params | {"To": RIGHT_WING}
    response = client.post(
        "/twilio/voice", data=tampered, headers={"X-Twilio-Signature": signature}
    )
    assert response.status_code == 403
    # Forwarded headers do not change the URL that is checked.
    response = client.post(
        "/twilio/voice",
        data=params,
        headers={
            "X-Twilio-Signature": RequestValidator(DEVELOPMENT_AUTH_TOKEN).compute_signature(
                "https://evil.example/twilio/voice", params
            ),
            "X-Forwarded-Host": "evil.example",
            "X-Forwarded-Proto": "https",
        },
    )
    assert response.status_code == 403
    with database.read() as session:
        assert session.scalars(select(Call)).all() == []  # nothing was touched


def test_replayed_webhooks_keep_one_record(
    client: TestClient, settings: Settings, database: Database, rota: Rota
) -> None:
    sim = simulator(client, settings)
    with time_machine.travel(WEDNESDAY_NOON, tick=False):
        walk = sim.call(ISLAMISM, call_sid="CA" + "4" * 32)
        # Twilio retries and replays: the same requests again change nothing.
        for path, params in walk.requests:
            sim.request(sim.url(path.split("?")[0]) + _query(path), params)
    call = the_call(database)
    assert call.accepted_by_id == rota.primary_id
    assert call.state == "completed"
    # A replayed key press after the call ended connects nobody.
    answer = next(
        path for path, _ in walk.requests if path.startswith("/twilio/voice/screen/answer")
    )
    body = sim.request(sim.url("") + answer, {"CallSid": "CA" + "5" * 32, "Digits": "1"})
    assert parse(body).find("Hangup") is not None


def _query(path: str) -> str:
    return "?" + path.split("?", 1)[1] if "?" in path else ""


def test_status_callbacks_only_move_forward(
    client: TestClient, settings: Settings, database: Database, rota: Rota
) -> None:
    sim = simulator(client, settings)
    sid = "CA" + "6" * 32
    with time_machine.travel(WEDNESDAY_NOON, tick=False):
        sim.call(ISLAMISM, call_sid=sid)
        for status in ("ringing", "in-progress", "completed", "ringing"):
            sim.request(sim.url("/twilio/status"), {"CallSid": sid, "CallStatus": status})
    assert the_call(database).state == "completed"
    assert the_call(database).outcome == "accepted"


def test_oversized_request_is_refused(client: TestClient) -> None:
    response = client.post(
        "/twilio/voice",
        content=b"Body=" + b"x" * 40_000,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 413


def test_token_rotation_accepts_both_tokens(
    config: HotlineConfig, database: Database, db_url: str
) -> None:
    from starlette.datastructures import Secret

    settings = Settings(
        config=config,
        database_url=db_url,
        twilio_account_sid="AC" + "0" * 32,
        twilio_auth_token=Secret("new-token"),
        twilio_auth_token_secondary=Secret("old-token"),
    )
    params = {"CallSid": "CA" + "7" * 32, "To": "+497111234567", "From": "anonymous"}
    url = f"{settings.public_url}/twilio/fallback"
    with TestClient(create_app(settings, database=database)) as client:
        for token, status in (
            ("new-token", 200),
            ("old-token", 200),
            (DEVELOPMENT_AUTH_TOKEN, 403),
        ):
            assert status_of(client, settings, url, "/twilio/fallback", params, token) == status, (
                token
            )


def test_production_refuses_to_start_without_secrets() -> None:
    with pytest.raises(SettingsError, match="TWILIO_AUTH_TOKEN"):
        Settings.from_environ({"HOTLINE_MODE": "production"})
    with pytest.raises(SettingsError, match="HOTLINE_MODE"):
        Settings.from_environ({"HOTLINE_MODE": "staging"})


# --- privacy ----------------------------------------------------------------------------------


def test_caller_number_is_never_stored_in_clear(
    sim: Simulator,
    rota: Rota,
    database: Database,
    settings: Settings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    sim.call(ISLAMISM, caller="+49 176 12345678", call_sid="CA" + "8" * 32)
    sim.call(ISLAMISM, caller="+4917612345678", call_sid="CA" + "9" * 32)
    anonymous = sim.call(ISLAMISM, caller="anonymous", call_sid="CA" + "a" * 32)
    assert anonymous.connected_to == rota.primary  # withheld numbers are callers like any other
    sim.call(ISLAMISM, caller="+266696687", call_sid="CA" + "b" * 32)
    with database.read() as session:
        hashes = [c.caller_hash for c in session.scalars(select(Call).order_by(Call.call_sid))]
    assert hashes[0] == hashes[1] == crypto.keyed_hash(settings, "caller", "+4917612345678")
    assert hashes[2] is None
    assert hashes[3] is None
    assert all("12345678" not in (h or "") for h in hashes)
    assert "12345678" not in caplog.text


def test_repeat_caller_hash_can_be_switched_off(
    tmp_path: Path, db_url: str, database: Database
) -> None:
    text = SHIPPED.read_text(encoding="utf-8").replace(
        "recording = false", "recording = false\ncaller_hash = false", 1
    )
    client, settings = app_with(tmp_path, db_url, database, text)
    with client, time_machine.travel(WEDNESDAY_NOON, tick=False):
        simulator(client, settings).call(ISLAMISM, caller="+4917612345678")
    assert the_call(database).caller_hash is None


def test_no_recording_verb_unless_voicemail(sim: Simulator, rota: Rota) -> None:
    walk = sim.call(ISLAMISM)
    assert "record" not in walk.kinds()  # an accepted call is never recorded


# --- SMS through Twilio's REST API (a fake on loopback) ----------------------------------------


def test_voicemail_sms_is_sent_through_twilio(
    config: HotlineConfig, database: Database, db_url: str, rota: Rota
) -> None:
    from starlette.datastructures import Secret

    sid, token = "AC" + "1" * 32, "live-token"
    with running(sid, token) as fake:
        settings = Settings(
            config=config,
            database_url=db_url,
            twilio_account_sid=sid,
            twilio_auth_token=Secret(token),
            twilio_api_url=fake.url,
        )
        with (
            TestClient(create_app(settings, database=database)) as client,
            time_machine.travel(WEDNESDAY_NOON, tick=False),
        ):
            simulator(client, settings).call(
                ISLAMISM, behaviour=Behaviour(default="no-answer", fallback="no-answer")
            )
    (sent,) = fake.messages
    assert sent["To"] == rota.primary
    assert sent["From"] == ISLAMISM
    assert sent["Body"].startswith("Neue Sprachnachricht")
    with database.read() as session:
        stored = session.scalars(select(OutboxMessage)).one()
    assert stored.status == "sent"
    assert stored.provider_sid == sent["Sid"]
    assert rota.primary.encode() not in stored.to_enc  # encrypted at rest


@pytest.mark.parametrize(
    ("answer", "recorded"),
    [("refused", "failed"), ("server error", "uncertain")],
    ids=["refused", "may-have-been-sent"],
)
def test_failed_sms_is_recorded_not_raised(
    config: HotlineConfig, database: Database, db_url: str, rota: Rota, answer: str, recorded: str
) -> None:
    """Twilio refuses the SMS (a 4xx: certainly not sent) or answers 500 (it may have gone
    out): either is recorded as such, never raised at the caller."""
    from starlette.datastructures import Secret

    sid, token = "AC" + "2" * 32, "live-token"
    with running(sid, token) as fake:
        if answer == "refused":
            fake.rate_limit_next = 1
        else:
            fake.fail_next = 1
        settings = Settings(
            config=config,
            database_url=db_url,
            twilio_account_sid=sid,
            twilio_auth_token=Secret(token),
            twilio_api_url=fake.url,
        )
        with (
            TestClient(create_app(settings, database=database)) as client,
            time_machine.travel(WEDNESDAY_NOON, tick=False),
        ):
            walk = simulator(client, settings).call(
                ISLAMISM, behaviour=Behaviour(default="no-answer", fallback="no-answer")
            )
    assert "Vielen Dank für Ihre Nachricht" in walk.said()
    with database.read() as session:
        assert session.scalars(select(OutboxMessage)).one().status == recorded


# --- the walker itself ------------------------------------------------------------------------


def test_walker_rejects_attributes_twilio_does_not_know() -> None:
    with pytest.raises(TwimlError, match="ringtone"):
        parse('<Response><Dial ringtone="de">+49</Dial></Response>')
    with pytest.raises(TwimlError, match="Speak"):
        parse("<Response><Speak>Hallo</Speak></Response>")


def test_every_twiml_document_is_valid_for_all_lines(
    client: TestClient, settings: Settings, rota: Rota
) -> None:
    """Walk every path once per line; the walker checks every verb and attribute."""
    behaviours = [
        Behaviour(),
        Behaviour(default="mailbox", fallback="no-answer"),
        Behaviour(default="busy", fallback="busy", voicemail_seconds=0),
    ]
    for number in (ISLAMISM, RIGHT_WING):
        for behaviour in behaviours:
            with time_machine.travel(WEDNESDAY_NOON, tick=False):
                simulator(client, settings).call(number, behaviour=behaviour)


def test_models_are_untouched_by_base(database: Database) -> None:
    assert Base.metadata.tables["calls"].c.caller_hash is not None


# --- the hot path (web.twilio.hotpath) --------------------------------------------------------


def test_later_calls_are_answered_from_the_snapshot(
    sim: Simulator, rota: Rota, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = sim.call(ISLAMISM)
    asked: list[object] = []
    original = shifts.on_call

    def counting(*args, **kwargs):  # type: ignore[no-untyped-def]
        asked.append(args)
        return original(*args, **kwargs)

    monkeypatch.setattr(shifts, "on_call", counting)
    calls_made = [sim.call(ISLAMISM) for _ in range(5)]
    assert all(walk.connected_to == rota.primary for walk in calls_made)
    assert first.connected_to == rota.primary
    assert asked == []  # nobody asked the rota: the snapshot answered
    with database.read() as session:
        records = session.scalars(select(Call)).all()
    assert len(records) == 6
    assert {c.outcome for c in records} == {"accepted"}
    assert {c.accepted_by_id for c in records} == {rota.primary_id}


def test_a_rota_change_in_this_process_drops_the_snapshot(
    sim: Simulator, rota: Rota, database: Database, config: HotlineConfig
) -> None:
    assert sim.call(ISLAMISM).connected_to == rota.primary
    with database.write() as session:
        session.add(
            StandIn(
                team_id=team_by_slug(session, "islamism", config).id,
                absent_id=rota.primary_id,
                substitute_id=rota.other_id,
                start_at=berlin(2026, 12, 2, 10),
                end_at=berlin(2026, 12, 2, 14),
            )
        )
    assert sim.call(ISLAMISM).connected_to == rota.other


def test_the_snapshot_ends_at_the_next_handoff(
    client: TestClient, settings: Settings, database: Database, config: HotlineConfig
) -> None:
    first = day_shifts(
        database, config, "islamism", berlin(2026, 12, 2, 9), berlin(2026, 12, 2, 15)
    )
    second = day_shifts(
        database, config, "islamism", berlin(2026, 12, 2, 15), berlin(2026, 12, 3, 9)
    )
    with time_machine.travel(berlin(2026, 12, 2, 14, 59, 58), tick=False):
        assert simulator(client, settings).call(ISLAMISM).connected_to == first.primary
    with time_machine.travel(berlin(2026, 12, 2, 15, 0, 0), tick=False):
        assert simulator(client, settings).call(ISLAMISM).connected_to == second.primary


def test_retried_first_webhook_keeps_one_record(
    sim: Simulator, rota: Rota, database: Database
) -> None:
    sim.call(ISLAMISM)  # warms the snapshot
    params = {"CallSid": "CA" + "c" * 32, "To": ISLAMISM, "From": "+4917612345678"}
    for _ in range(3):  # Twilio retries the same webhook
        sim.request(sim.url("/twilio/voice"), params)
    sim.request(sim.url("/twilio/status"), params | {"CallStatus": "completed"})
    with database.read() as session:
        assert len(session.scalars(select(Call).where(Call.call_sid == "CA" + "c" * 32)).all()) == 1


def test_the_hot_paths_batches_record_each_call_once(database: Database) -> None:
    """The recorder's batches (on PostgreSQL through COPY and a temporary table): every call
    once with the values queued, a retry in the same batch or a call recorded before changes
    nothing, and so on with a second batch (on PostgreSQL the temporary table exists then)."""
    at = berlin(2026, 12, 2, 11)
    recorder = Recorder(database)

    def queue(sid: str) -> None:
        values = call_values(call_sid=sid, line="islamism", team_id=None, caller_hash=sid, at=at)
        assert recorder.add(values)

    with database.write() as session:
        open_call(session, call_sid="CA-known", line="office", team=None, caller_hash=None, at=at)
    for i in range(10):
        queue(f"CA-{i}")
    queue("CA-3")  # Twilio retried the webhook
    queue("CA-known")
    recorder.flush()
    for i in range(10, 20):
        queue(f"CA-{i}")
    recorder.flush()
    with database.read() as session:
        rows = session.scalars(select(Call).order_by(Call.id)).all()
    assert [c.call_sid for c in rows] == ["CA-known"] + [f"CA-{i}" for i in range(20)]
    assert rows[0].line == "office"  # not overwritten
    assert {(c.line, c.state, c.started_at, c.from_relative) for c in rows[1:]} == {
        ("islamism", "in-progress", at, False)
    }
    assert [c.caller_hash for c in rows[1:]] == [f"CA-{i}" for i in range(20)]


def test_a_steps_flush_returns_once_the_batch_being_written_is_committed(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The flusher took the queue and is writing it when the call's next step flushes: the step
    must not go on before that batch is committed, or it finds no record (seen under load: a
    call without its outcome). A flush on the event loop (`wait=False`) does not wait."""
    recorder = Recorder(database)
    writing, release = threading.Event(), threading.Event()
    real = calls_module.open_calls

    def slow(session, rows):  # type: ignore[no-untyped-def]
        writing.set()
        assert release.wait(10)
        real(session, rows)

    monkeypatch.setattr(calls_module, "open_calls", slow)
    at = berlin(2026, 12, 2, 11)
    recorder.add(
        call_values(call_sid="CA-w", line="islamism", team_id=None, caller_hash=None, at=at)
    )
    flusher = threading.Thread(target=recorder.flush)
    flusher.start()
    assert writing.wait(10)
    recorder.flush(wait=False)  # returns at once, the other flush is writing
    threading.Timer(0.05, release.set).start()
    recorder.flush()  # the step's
    with database.read() as session:
        assert session.scalars(select(Call.call_sid)).all() == ["CA-w"]
    flusher.join(10)


@settings(max_examples=200, deadline=None, database=None)
@given(
    token=st.text(min_size=1, max_size=40),
    path=st.text(alphabet="abcdefghijklmnopqrstuvwxyz/?=&0123456789", max_size=40),
    params=st.dictionaries(st.text(max_size=12), st.text(max_size=30), max_size=8),
)
def test_own_signature_equals_twilios(token: str, path: str, params: dict[str, str]) -> None:
    url = f"https://hotline.example.org/{path}"
    expected = RequestValidator(token).compute_signature(url, params)
    assert twilio_signature(token, url, params) == expected


# --- the fast lane (web.twilio.fastlane) -------------------------------------------------------

FORM_PIECES = st.sampled_from(
    ["a", "B", "=", "&", "+", "%", "%2B", "%2b", "%20", "%zz", "%e2%82%ac", "%e2%82", "é", "0"]
)


@settings(max_examples=300, deadline=None, database=None)
@given(body=st.lists(FORM_PIECES, max_size=30).map("".join))
def test_the_form_is_parsed_as_parse_qsl_parses_it(body: str) -> None:
    raw = body.encode()
    assert form(raw) == dict(parse_qsl(body, keep_blank_values=True))


def test_a_form_that_is_not_utf8_has_no_parameters() -> None:
    assert form(b"From=%2B49&To=\xff") == {}


def incoming_params(sid: str) -> dict[str, str]:
    return {"CallSid": sid, "From": "+4915199990000", "To": ISLAMISM, "CallStatus": "ringing"}


def spy_on_the_route(client: TestClient) -> list[str]:
    """The paths of the requests the fast lane hands on to Starlette's route, from now on."""
    lane = client.app.lane  # type: ignore[attr-defined]
    routed: list[str] = []
    route = lane.route

    async def counting(scope, receive, send):  # type: ignore[no-untyped-def]
        routed.append(scope["path"])
        await route(scope, receive, send)

    lane.route = counting
    return routed


def test_the_fast_lane_answers_a_call_as_the_route_does(sim: Simulator, client: TestClient) -> None:
    """Once the snapshot is there, the lane answers without Starlette's route, and the answer
    (status, headers, body) is the route's, counted the same way in the metrics."""
    settings: Settings = client.app.state.settings  # type: ignore[attr-defined]
    app = client.app
    lane = app.lane  # type: ignore[attr-defined]
    routed = spy_on_the_route(client)
    url = settings.public_url + "/twilio/voice"
    first = post_signed(client, settings, url, incoming_params("CA" + "1" * 32))
    assert routed == ["/twilio/voice"]  # no snapshot yet: the route answered and kept it
    by_lane = post_signed(client, settings, url, incoming_params("CA" + "2" * 32))
    assert routed == ["/twilio/voice"]  # the lane answered
    app.lane = None  # type: ignore[attr-defined]
    by_route = post_signed(client, settings, url, incoming_params("CA" + "3" * 32))
    app.lane = lane  # type: ignore[attr-defined]
    for response in (first, by_lane):
        assert response.status_code == by_route.status_code == 200
        assert response.text == by_route.text
        assert response.headers.multi_items() == by_route.headers.multi_items()
    assert "content-security-policy" in by_lane.headers
    text = client.get("/metrics").text
    assert (
        'hotline_http_requests_total{method="POST",route="/twilio/voice",status="200"} 3.0' in text
    )
    assert 'hotline_http_request_duration_seconds_count{route="/twilio/voice"} 3.0' in text
    with client.app.state.db.read() as session:  # type: ignore[attr-defined]
        client.app.state.recorder.flush()  # type: ignore[attr-defined]
        sids = set(session.scalars(select(Call.call_sid)))
    assert {"CA" + "1" * 32, "CA" + "2" * 32, "CA" + "3" * 32} <= sids


def test_the_fast_lane_answers_each_snapshot_with_the_routes_headers(
    sim: Simulator, client: TestClient, rota: Rota, database: Database, config: HotlineConfig
) -> None:
    """The lane merges a snapshot's headers with the edge's once and sends them again: every
    answer from a snapshot, and from the one a rota change puts in its place, is the route's
    (status, headers, body)."""
    settings: Settings = client.app.state.settings  # type: ignore[attr-defined]
    app = client.app
    lane = app.lane  # type: ignore[attr-defined]
    routed = spy_on_the_route(client)
    url = settings.public_url + "/twilio/voice"
    sids = (f"CA{n:032d}" for n in range(100))

    def by_lane_and_by_route() -> tuple[list[httpx.Response], httpx.Response]:
        post_signed(client, settings, url, incoming_params(next(sids)))  # the route keeps it
        answers = [post_signed(client, settings, url, incoming_params(next(sids))) for _ in "ab"]
        app.lane = None  # type: ignore[attr-defined]
        by_route = post_signed(client, settings, url, incoming_params(next(sids)))
        app.lane = lane  # type: ignore[attr-defined]
        return answers, by_route

    before, route_before = by_lane_and_by_route()
    assert routed == ["/twilio/voice"]
    swiss = "+41791234567"  # shorter than the primary's: another content-length
    with database.write() as session:  # the primary is away: the snapshot is dropped
        substitute = create_counsellor(
            session,
            config,
            NewCounsellor(name="Aushilfe", phone=swiss, email=None, teams=("islamism",)),
            actor="tests",
        )
        session.add(
            StandIn(
                team_id=team_by_slug(session, "islamism", config).id,
                absent_id=rota.primary_id,
                substitute_id=substitute.id,
                start_at=berlin(2026, 12, 2, 10),
                end_at=berlin(2026, 12, 2, 14),
            )
        )
    after, route_after = by_lane_and_by_route()
    assert routed == ["/twilio/voice"] * 2  # the new snapshot kept by the route, then the lane
    for answers, by_route in ((before, route_before), (after, route_after)):
        for answer in answers:
            assert answer.status_code == by_route.status_code == 200
            assert answer.content == by_route.content
            assert answer.headers.multi_items() == by_route.headers.multi_items()
            assert answer.headers["content-length"] == str(len(answer.content))
    assert f">{rota.primary}</Number>" in before[0].text
    assert f">{swiss}</Number>" in after[0].text
    assert len(after[0].content) != len(before[0].content)


def test_the_fast_lane_stops_at_the_minute_the_line_closes(
    client: TestClient, settings: Settings, rota: Rota
) -> None:
    """Whether the line is open is kept for the minute: the lane answers at 17:59:59.9, the
    caller hears the hours at 18:00:00 (Wednesday's closing), and back at 17:59:58 (a clock
    set back) the lane answers again."""
    routed = spy_on_the_route(client)
    url = settings.public_url + "/twilio/voice"
    sids = (f"CA{n:032d}" for n in range(100))

    def call_at(at: datetime) -> str:
        with time_machine.travel(at, tick=False):
            response = post_signed(client, settings, url, incoming_params(next(sids)))
        assert response.status_code == 200
        return response.text

    assert f">{rota.primary}</Number>" in call_at(berlin(2026, 12, 2, 17, 59, 50))  # kept
    assert routed == ["/twilio/voice"]
    just_before = berlin(2026, 12, 2, 17, 59, 59) + timedelta(milliseconds=900)
    assert f">{rota.primary}</Number>" in call_at(just_before)
    assert routed == ["/twilio/voice"]  # the lane answered
    closed = call_at(berlin(2026, 12, 2, 18))
    assert "außerhalb unserer Sprechzeiten" in closed
    assert "<Number" not in closed
    assert routed == ["/twilio/voice"] * 2
    assert f">{rota.primary}</Number>" in call_at(berlin(2026, 12, 2, 17, 59, 58))
    assert routed == ["/twilio/voice"] * 2  # the lane, from the snapshot of 17:59:50


def test_the_fast_lane_stops_at_midnight_before_a_holiday(
    tmp_path: Path, db_url: str, database: Database
) -> None:
    """A line open around the clock but closed on holidays: the lane answers at 23:59:59.9 on
    Christmas Eve, at midnight the caller hears that it is a holiday."""
    text = always_open().replace("closed_on_holidays = false", "closed_on_holidays = true", 1)
    app_client, settings = app_with(tmp_path, db_url, database, text)
    with app_client as client:
        rota = day_shifts(
            database, settings.config, "islamism", berlin(2026, 12, 24, 9), berlin(2026, 12, 25, 9)
        )
        routed = spy_on_the_route(client)
        url = settings.public_url + "/twilio/voice"
        answers = []
        for n, at in enumerate(
            [
                berlin(2026, 12, 24, 23, 59, 50),  # the route keeps the snapshot
                berlin(2026, 12, 24, 23, 59, 59) + timedelta(milliseconds=900),  # the lane
                berlin(2026, 12, 25, 0),  # the holiday: the route
            ]
        ):
            with time_machine.travel(at, tick=False):
                answers.append(post_signed(client, settings, url, incoming_params(f"CA{n:032d}")))
    assert [a.status_code for a in answers] == [200] * 3
    assert all(f">{rota.primary}</Number>" in a.text for a in answers[:2])
    assert "Feiertag" in answers[2].text
    assert "<Number" not in answers[2].text
    assert routed == ["/twilio/voice"] * 2


def asgi_post(
    client: TestClient, headers: list[tuple[bytes, bytes]], chunks: list[bytes]
) -> tuple[int, dict[str, str], bytes]:
    """POST /twilio/voice straight to the app (in the client's event loop), the body in
    `chunks` messages, as a server would send a large or slow one."""
    messages = [
        {"type": "http.request", "body": chunk, "more_body": i < len(chunks) - 1}
        for i, chunk in enumerate(chunks)
    ]
    sent: list[dict[str, object]] = []
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/twilio/voice",
        "raw_path": b"/twilio/voice",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"content-type", b"application/x-www-form-urlencoded"), *headers],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
        "state": {},
    }

    async def receive() -> dict[str, object]:
        if messages:
            return messages.pop(0)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    assert client.portal is not None
    client.portal.call(client.app, scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")  # type: ignore[misc]
    names = {k.decode(): v.decode() for k, v in start["headers"]}  # type: ignore[attr-defined]
    return start["status"], names, body  # type: ignore[return-value]


def test_the_fast_lane_hands_on_what_it_does_not_answer_with_the_body_it_read(
    sim: Simulator, client: TestClient, rota: Rota, caplog: pytest.LogCaptureFixture
) -> None:
    """A body in several messages: answered from the snapshot when there is one; else (no
    snapshot yet, a bad signature) the route reads the same messages and answers as always."""
    settings: Settings = client.app.state.settings  # type: ignore[attr-defined]
    url = settings.public_url + "/twilio/voice"

    def signed(sid: str, token: str | None = None) -> tuple[list[tuple[bytes, bytes]], bytes]:
        params = incoming_params(sid)
        validator = RequestValidator(token or settings.webhook_tokens()[0])
        signature = validator.compute_signature(url, params).encode()
        body = urlencode(params).encode()
        return [(b"x-twilio-signature", signature), (b"content-length", b"%d" % len(body))], body

    routed = spy_on_the_route(client)
    for sid in ("CA" + "4" * 32, "CA" + "5" * 32):  # the route (no snapshot), then the lane
        headers, body = signed(sid)
        status, names, answer = asgi_post(client, headers, [body[:10], body[10:30], body[30:]])
        assert status == 200, answer
        assert f">{rota.primary}</Number>".encode() in answer
        assert names["x-frame-options"] == "DENY"
    assert routed == ["/twilio/voice"]
    headers, body = signed("CA" + "6" * 32, token="forged")
    with caplog.at_level(logging.WARNING):
        status, names, answer = asgi_post(client, headers, [body[:5], body[5:]])
    assert (status, answer) == (403, b"invalid signature")
    assert names["x-frame-options"] == "DENY"
    assert "invalid signature" in caplog.text
    headers, body = signed("CA" + "7" * 32)
    status, _, _ = asgi_post(client, headers, [body, b"&" + b"x" * MAX_BODY])
    assert status == 413
    assert routed == ["/twilio/voice"] * 3


# --- busy counsellors ------------------------------------------------------------------------


def take_call(client: TestClient, settings: Settings, call_sid: str, counsellor_id: int) -> None:
    """Another caller's call, taken by `counsellor_id` (she pressed 1) and still going on: the
    service's own webhooks, signed as Twilio signs them."""
    base = settings.public_url
    params = {"CallSid": call_sid, "To": ISLAMISM, "From": "+4917600000001"}
    assert post_signed(client, settings, f"{base}/twilio/voice", params).status_code == 200
    answer = (
        f"{base}/twilio/voice/screen/answer?line=islamism&parent={call_sid}&cid={counsellor_id}"
    )
    leg = {"CallSid": "CA" + "f" * 32, "ParentCallSid": call_sid, "Digits": "1"}
    assert post_signed(client, settings, answer, leg).status_code == 200


def end_call(client: TestClient, settings: Settings, call_sid: str) -> None:
    """Twilio's status callback: the call is over."""
    params = {"CallSid": call_sid, "CallStatus": "completed", "CallDuration": "300"}
    url = f"{settings.public_url}/twilio/status"
    assert post_signed(client, settings, url, params).status_code == 200


OTHER_CALL = "CA" + "b" * 32


def test_a_counsellor_in_a_call_is_skipped_for_the_next_tier(
    client: TestClient, settings: Settings, sim: Simulator, rota: Rota, database: Database
) -> None:
    take_call(client, settings, OTHER_CALL, rota.primary_id)
    walk = sim.call(ISLAMISM)
    assert walk.details("ring") == [rota.backup]  # no whisper to the primary: backup at once
    assert walk.connected_to == rota.backup
    with database.read() as session:
        call = session.scalars(select(Call).where(Call.call_sid != OTHER_CALL)).one()
    assert call.busy_skipped == [rota.primary_id]  # the record says why
    assert call.accepted_by_id == rota.backup_id


def test_everyone_busy_hears_so_and_goes_on_to_the_fallback(
    client: TestClient, settings: Settings, sim: Simulator, rota: Rota, database: Database
) -> None:
    take_call(client, settings, OTHER_CALL, rota.primary_id)
    take_call(client, settings, "CA" + "c" * 32, rota.backup_id)
    walk = sim.call(ISLAMISM)
    assert walk.details("ring") == []
    assert "sind gerade im Gespräch" in walk.said()
    assert walk.connected_to == GENERAL
    # Nobody at the fallback either: voicemail, as the line is configured.
    again = sim.call(ISLAMISM, behaviour=Behaviour(fallback="no-answer"), call_sid="CA" + "d" * 32)
    assert "sind gerade im Gespräch" in again.said()
    assert "nach dem Signalton" in again.said()


def test_the_busy_state_clears_when_the_call_ends(
    client: TestClient, settings: Settings, sim: Simulator, rota: Rota
) -> None:
    take_call(client, settings, OTHER_CALL, rota.primary_id)
    assert sim.call(ISLAMISM).details("ring") == [rota.backup]
    end_call(client, settings, OTHER_CALL)
    walk = sim.call(ISLAMISM, call_sid="CA" + "e" * 32)
    assert walk.details("ring") == [rota.primary]


def test_a_lost_status_callback_blocks_her_no_longer_than_a_call_can_last(
    client: TestClient, settings: Settings, rota: Rota
) -> None:
    with time_machine.travel(WEDNESDAY_NOON - timedelta(hours=4, minutes=30), tick=False):
        take_call(client, settings, OTHER_CALL, rota.primary_id)  # never reported over
    with time_machine.travel(WEDNESDAY_NOON - timedelta(hours=1), tick=False):
        assert simulator(client, settings).call(ISLAMISM).details("ring") == [rota.backup]
    with time_machine.travel(WEDNESDAY_NOON, tick=False):  # 4.5 h later: past Twilio's 4 h
        walk = simulator(client, settings).call(ISLAMISM, call_sid="CA" + "e" * 32)
    assert walk.details("ring") == [rota.primary]


def test_a_call_back_through_the_line_keeps_her_busy(
    client: TestClient, settings: Settings, sim: Simulator, rota: Rota, database: Database
) -> None:
    from foundation.models import OutboundCall

    with database.write() as session:
        session.add(
            OutboundCall(
                kind="callback",
                target_id=1,
                line="islamism",
                counsellor_id=rota.primary_id,
                actor="tests",
                status="in-progress",
                created_at=WEDNESDAY_NOON - timedelta(minutes=3),
                updated_at=WEDNESDAY_NOON - timedelta(minutes=3),
            )
        )
    assert sim.call(ISLAMISM).details("ring") == [rota.backup]
    with database.write() as session:
        session.scalars(select(OutboundCall)).one().client_status = "completed"
    assert sim.call(ISLAMISM, call_sid="CA" + "e" * 32).details("ring") == [rota.primary]


def test_a_call_taken_through_another_process_reaches_the_snapshot_within_a_second(
    settings: Settings, database: Database, rota: Rota
) -> None:
    """Two processes of the service (two apps on one database): the one answering calls from
    its snapshot learns within about a second that the primary took a call elsewhere."""
    with (
        time_machine.travel(WEDNESDAY_NOON, tick=True),
        TestClient(create_app(settings, database=database)) as here,
        TestClient(create_app(settings, database=database)) as elsewhere,
    ):
        assert simulator(here, settings).call(ISLAMISM).details("ring") == [rota.primary]
        take_call(elsewhere, settings, OTHER_CALL, rota.primary_id)
        deadline = time.monotonic() + 1.5
        rung: list[str] = []
        for number in range(100):  # bounded: at most 1.5 s of calls
            walk = simulator(here, settings).call(ISLAMISM, call_sid=f"CA{number:032d}")
            rung = walk.details("ring")[:1]
            if rung == [rota.backup] or time.monotonic() > deadline:
                break
        assert rung == [rota.backup]
