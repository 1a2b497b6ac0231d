"""Helpers several test files share: a browser's client, settings whose Twilio is the fake on
loopback, Twilio's signed webhooks, counsellors on call, a free loopback port and the real app
served on it. (bench/ uses them too.)"""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import httpx2 as httpx
import uvicorn
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.datastructures import Secret
from starlette.testclient import TestClient
from starlette.types import ASGIApp
from twilio.request_validator import RequestValidator

from config.model import Accounts, HotlineConfig
from config.settings import Settings
from foundation.crypto import Box
from foundation.db import Database
from foundation.models import DispatchState, Recipient, Tier, User
from scheduling.counsellors import NewCounsellor, create_counsellor
from scheduling.shifts import NewShift, create_shift
from tests.fake_twilio import FakeTwilio, running
from web.app import create_app


def https_client(settings: Settings, database: Database, **extra: Any) -> TestClient:
    """A client on https (the __Host- cookies are Secure) that does not follow redirects."""
    return TestClient(
        create_app(settings, database=database),
        base_url="https://testserver",
        follow_redirects=False,
        **extra,
    )


def counsellor_of(database: Database, username: str) -> int:
    """The counsellor record of a user account."""
    with database.read() as session:
        user = session.scalars(select(User).where(User.username == username)).one()
        assert user.counsellor_id is not None
        return user.counsellor_id


TWILIO_SID, TWILIO_TOKEN = "AC" + "5" * 32, "live-token"


def one_step(settings: Settings) -> Settings:
    """`settings` whose accounts sign in with the password alone. Out of simulation the second
    factor would be required; the tests that sign in with live settings test something else
    (the requirement is tested in test_second_factor)."""
    config = settings.config.model_copy(update={"accounts": Accounts(second_factor=())})
    return replace(settings, config=config)


@contextmanager
def live_twilio(
    settings: Settings, sid: str = TWILIO_SID, token: str = TWILIO_TOKEN
) -> Iterator[tuple[Settings, FakeTwilio]]:
    """`settings` with Twilio credentials, REST calls going to a fake Twilio on loopback; the
    accounts sign in in one step (`one_step`)."""
    with running(sid, token) as fake:
        yield (
            replace(
                one_step(settings),
                twilio_account_sid=sid,
                twilio_auth_token=Secret(token),
                twilio_api_url=fake.url,
            ),
            fake,
        )


def post_signed(
    client: TestClient,
    settings: Settings,
    url: str,
    params: dict[str, str],
    *,
    token: str | None = None,
    path: str | None = None,
) -> httpx.Response:
    """POST as Twilio does: signed by Twilio's own RequestValidator over the full URL (with its
    query) and the parameters, with the service's webhook token or, to forge one, with `token`;
    to `path` (default: the path of `url`; another one replays the signature elsewhere)."""
    validator = RequestValidator(token or settings.webhook_tokens()[0])
    signature = validator.compute_signature(url, params)
    target = path or url.removeprefix(settings.public_url)
    return client.post(target, data=params, headers={"X-Twilio-Signature": signature})


@dataclass(frozen=True)
class OnCall:
    """Who `put_on_call` (and the `on_call` fixture) put on call: phones and counsellor ids;
    with `spare`, also a member of the team without a shift."""

    primary: str
    primary_id: int
    backup: str
    backup_id: int
    other: str = ""
    other_id: int = 0


def put_on_call(
    database: Database,
    config: HotlineConfig,
    start: datetime,
    end: datetime,
    team: str = "islamism",
    *,
    spare: bool = False,
) -> OnCall:
    """A new primary ("Primär Person") and backup ("Hintergrund Person") of `team`, on call
    from `start` to `end`; with `spare`, a third member ("Vertretung") who has no shift."""
    with database.write() as session:
        people = []
        for name, tier in (("Primär Person", Tier.PRIMARY), ("Hintergrund Person", Tier.BACKUP)):
            person = create_counsellor(
                session,
                config,
                NewCounsellor(name=name, phone=unique_mobile(), email=None, teams=(team,)),
                actor="tests",
            )
            create_shift(
                session, config, NewShift(team, person.id, tier, start, end), actor="tests"
            )
            people.append(person)
        primary, backup = people
        if not spare:
            return OnCall(primary.phone, primary.id, backup.phone, backup.id)
        other = create_counsellor(
            session,
            config,
            NewCounsellor(name="Vertretung", phone=unique_mobile(), email=None, teams=(team,)),
            actor="tests",
        )
        return OnCall(primary.phone, primary.id, backup.phone, backup.id, other.phone, other.id)


_mobile_numbers = iter(range(1000, 10_000))


def unique_mobile() -> str:
    """A mobile number no other test counsellor has."""
    return f"+49151{next(_mobile_numbers):08d}"


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on `host` that nothing listens on (just now)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def serving(app: ASGIApp, port: int) -> Iterator[None]:
    """`app` under uvicorn on 127.0.0.1:`port`, in a thread, until the block ends."""
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            log_level="warning",
            access_log=False,
            lifespan="on",
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert time.monotonic() < deadline, "the service did not start"
        time.sleep(0.05)
    try:
        yield
    finally:
        server.should_exit = True
        thread.join(10)


def at_once(database: Database, work: Callable[[Session], object], times: int = 4) -> list[object]:
    """`work` in `times` transactions started at the same moment (on PostgreSQL they truly run
    in parallel): what each returned, or the name of what it raised (a page's 500), sorted."""
    barrier, answers = threading.Barrier(times), []

    def run() -> None:
        barrier.wait()
        try:
            with database.write() as session:
                answers.append(work(session))
        except Exception as exc:
            answers.append(type(exc).__name__)

    threads = [threading.Thread(target=run) for _ in range(times)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sorted(answers, key=str)


def wait_for(
    condition: Callable[[], object],
    timeout: float = 30.0,
    describe: Callable[[], str] = lambda: "",
) -> float:
    """Poll `condition` until it is true, for at most `timeout` seconds; the seconds it took."""
    began = time.monotonic()
    while not condition():
        if time.monotonic() - began > timeout:
            raise AssertionError(f"timed out: {describe()}")
        time.sleep(0.02)
    return time.monotonic() - began


def booked_with_reminder(
    box: Box,
    *,
    appointment_id: int,
    counsellor_id: int,
    phone: str,
    start: datetime,
    due: datetime,
    offset_minutes: int,
) -> tuple[dict[str, object], dict[str, object]]:
    """The rows of a booked appointment of 30 minutes whose client (`phone`, sealed with `box`,
    agreed to SMS) has one reminder due at `due`: for inserting many at once (bench/reminders.py,
    tests/test_failover.py)."""
    appointment = {
        "id": appointment_id,
        "counsellor_id": counsellor_id,
        "client_pseudonym": f"K{appointment_id}",
        "client_phone_enc": box.seal(phone),
        "sms_consent": True,
        "start_at": start,
        "end_at": start + timedelta(minutes=30),
        "mode": "phone",
        "status": "booked",
        "sequence": 0,
    }
    reminder = {
        "appointment_id": appointment_id,
        "recipient": Recipient.CLIENT,
        "offset_minutes": offset_minutes,
        "appointment_start": start,
        "due_at": due,
        "state": DispatchState.PENDING,
        "attempts": 0,
    }
    return appointment, reminder


def selected(page: str, name: str) -> list[str]:
    """The values of the options selected in a page's form fields called `name`."""
    found = []
    for options in re.findall(rf'<select[^>]*name="{name}"[^>]*>(.*?)</select>', page, re.S):
        found += re.findall(r'<option value="([^"]*)" selected>', options)
    return found
