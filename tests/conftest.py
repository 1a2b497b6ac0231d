"""Shared fixtures.

Database tests take the `db_url` fixture (directly or through `database`, `client`, ...). It is
parametrised over SQLite (a fresh file per test) and, when HOTLINE_TEST_DATABASE_URL is set,
PostgreSQL (a fresh schema per test, dropped afterwards), so every such test runs on both.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import pytest
from argon2 import PasswordHasher
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from config.model import HotlineConfig, load_config
from config.settings import Settings
from foundation import apikeys, users
from foundation.db import Database, make_engine, scratch_schema
from foundation.models import Base, Counsellor
from foundation.teams import sync_teams
from hotline.relay import reply_pin
from scheduling.counsellors import NewCounsellor, create_counsellor
from tests import schemas
from tests.fake_twilio import FakeTwilio
from tests.helpers import OnCall, https_client, live_twilio, put_on_call, unique_mobile
from web.app import create_app

PG_URL = os.environ.get("HOTLINE_TEST_DATABASE_URL", "").strip()

# Passwords and reply PINs are hashed at argon2's recommended cost (`foundation.users`,
# `hotline.relay.reply_pin`): 0.1 to 0.5 s a hash or a check, and the tests create and sign in
# thousands of accounts, which was a fifth of the suite's time. The tests check what is stored
# and who gets in, not the cost, so in the test processes argon2id runs at its least cost (a
# hash still starts "$argon2id$"; a check reads the cost from the hash, so an account made here
# still signs in to a server started as a subprocess, which hashes at the real cost).
_CHEAP_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
users._hasher = _CHEAP_HASHER
users._DUMMY_HASH = _CHEAP_HASHER.hash("an unguessable dummy password, used only in the tests")
reply_pin._hasher = _CHEAP_HASHER
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "db_url" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.database)


@pytest.fixture(scope="session")
def config() -> HotlineConfig:
    return load_config(None)


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database: a new SQLite file, or a new PostgreSQL schema. For a test that takes
    `database`, one that already has the models' tables (`tests.schemas`: a copy of a template
    file, or an emptied schema from the process's pool)."""
    prepared = "database" in request.fixturenames
    if request.param == "sqlite":
        path = tmp_path / "hotline.sqlite3"
        yield schemas.sqlite_copy(path) if prepared else f"sqlite:///{path}"
        return
    if not PG_URL:
        pytest.skip("HOTLINE_TEST_DATABASE_URL is not set")
    with schemas.postgresql_schema(PG_URL) if prepared else scratch_schema(PG_URL, "t_") as url:
        yield url


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, db_url: str) -> str:
    """The environment of the `hotline` command run in process: the test database, the shipped
    configuration, no Twilio credentials (simulation mode)."""
    for name in ("HOTLINE_CONFIG", "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOTLINE_DATABASE_URL", db_url)
    return db_url


@pytest.fixture
def database(db_url: str, config: HotlineConfig) -> Iterator[Database]:
    """The schema created from the models (the migrations are checked against it separately)
    and the configured teams in place."""
    db = Database(make_engine(db_url))
    if db_url not in schemas.PREPARED:
        Base.metadata.create_all(db.engine)
    with db.write() as session:
        sync_teams(session, config)
    yield db
    db.dispose()


@pytest.fixture
def settings(db_url: str, config: HotlineConfig) -> Settings:
    return Settings(config=config, database_url=db_url)


@pytest.fixture
def client(settings: Settings, database: Database) -> Iterator[TestClient]:
    with TestClient(create_app(settings, database=database)) as test_client:
        yield test_client


@pytest.fixture
def browser(settings: Settings, database: Database) -> Iterator[TestClient]:
    """A client on https (the __Host- cookies are Secure) that does not follow redirects."""
    with https_client(settings, database) as test_client:
        yield test_client


@pytest.fixture
def live(settings: Settings) -> Iterator[tuple[Settings, FakeTwilio]]:
    """`settings` with Twilio credentials, REST calls going to a fake Twilio on loopback."""
    with live_twilio(settings) as pair:
        yield pair


@pytest.fixture
def on_call(database: Database, config: HotlineConfig) -> OnCall:
    """A primary and a backup counsellor of the islamism team on call all of 2 December 2026
    (Berlin time)."""
    return put_on_call(database, config, berlin(2026, 12, 2), berlin(2026, 12, 3))


@pytest.fixture
def api_key(database: Database) -> str:
    with database.write() as session:
        _, plain = apikeys.create_api_key(session, "tests", actor="tests")
    return plain


@pytest.fixture
def api(client: TestClient, api_key: str) -> TestClient:
    """The test client, authenticated."""
    client.headers["Authorization"] = f"Bearer {api_key}"
    return client


def add_counsellor(
    session: Session,
    config: HotlineConfig,
    *teams: str,
    name: str = "Test Person",
    **extra: str | None,
) -> Counsellor:
    """A counsellor with a unique mobile number, member of `teams`."""
    return create_counsellor(
        session,
        config,
        NewCounsellor(
            name=name,
            phone=extra.pop("phone", None) or unique_mobile(),
            email=extra.pop("email", None),
            teams=teams,
        ),
        actor="tests",
    )


def berlin(*args: int) -> datetime:
    """An aware Europe/Berlin datetime (fold 0)."""
    from zoneinfo import ZoneInfo

    return datetime(*args, tzinfo=ZoneInfo("Europe/Berlin"))  # type: ignore[misc]


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def quoted(value: datetime) -> str:
    """A datetime as a query-string value (the + of an offset must be escaped)."""
    return quote(value.isoformat())
