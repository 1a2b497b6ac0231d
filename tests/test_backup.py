"""Backups that restore: `hotline backup` (SQLite's online backup API) while a writer holds the
database, and on PostgreSQL the documented `pg_dump -Fc` / `pg_restore` round trip. Either way
the restored copy is read back through the service's own code, encrypted columns included, and
without the encryption key it stays unreadable."""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, make_url
from starlette.testclient import TestClient

from app.cli import main
from config.settings import Settings
from foundation import outbox
from foundation.crypto import DecryptionError
from foundation.db import Database, make_engine
from tests.conftest import PG_URL, add_counsellor
from web.app import create_app

KEY = "backup-test-encryption-key-not-a-real-one"
NAMES = ("Anna Berg", "Jonas Keller", "Mira Öztürk")
BODY = "Termin morgen 10 Uhr, Rückfragen unter dieser Nummer"


def written(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """Run `hotline ARGV` in process (it must succeed) and return its output."""
    assert main(list(argv)) == 0, capsys.readouterr().err
    return capsys.readouterr().out


def fill(capsys: pytest.CaptureFixture[str]) -> str:
    """Counsellors, an API key (returned) and an encrypted outbox message, all written through
    the service's own code into the configured database."""
    key = written(capsys, "apikey", "create", "--name", "backup-check").splitlines()[-1]
    settings = Settings.from_environ()
    database = Database(make_engine(settings.database_url))
    try:
        with database.write() as session:
            for name in NAMES:
                add_counsellor(session, settings.config, "islamism", name=name)
            outbox.queue(
                session,
                settings,
                to="+4915112345678",
                body=BODY,
                from_number="+497112794555",
                purpose="backup-check",
            )
    finally:
        database.dispose()
    return key


def read_back(key: str) -> tuple[list[str], list[str]]:
    """What the configured database holds, read as the service reads it: the API's counsellors
    (the key's hash must match) and the decrypted outbox messages of the check."""
    settings = Settings.from_environ()
    assert main(["db", "upgrade"]) == 0  # a restored schema is at head: nothing to do
    database = Database(make_engine(settings.database_url))
    try:
        with TestClient(create_app(settings, database=database)) as client:
            response = client.get("/api/v1/counsellors", headers={"Authorization": f"Bearer {key}"})
            assert response.status_code == 200, response.text
            counsellors = sorted(item["name"] for item in response.json()["items"])
        with database.read() as session:
            bodies = [
                m.body for m in outbox.recent(session, settings) if m.purpose == "backup-check"
            ]
        return counsellors, bodies
    finally:
        database.dispose()


@pytest.fixture
def keyed(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HOTLINE_CONFIG", "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "HOTLINE_MODE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOTLINE_ENCRYPTION_KEY", KEY)


def test_sqlite_backup_while_a_writer_holds_the_database_restores(
    keyed: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    live = tmp_path / "live.sqlite3"
    monkeypatch.setenv("HOTLINE_DATABASE_URL", f"sqlite:///{live}")
    written(capsys, "db", "upgrade")
    # Another process's connection, open throughout: the last connection to close would
    # checkpoint the write-ahead log into the file, and the backup must not depend on that.
    writer = sqlite3.connect(live, isolation_level=None)
    writer.execute("SELECT count(*) FROM alembic_version")  # now it is open (WAL shared memory)
    try:
        key = fill(capsys)
        assert (tmp_path / "live.sqlite3-wal").stat().st_size > 0  # committed, not checkpointed
        writer.execute("BEGIN IMMEDIATE")  # the write lock, held during the backup
        writer.execute("UPDATE outbox_messages SET purpose = 'uncommitted'")

        copy = tmp_path / "backups" / "hotline.sqlite3"
        copy.parent.mkdir()
        started = time.monotonic()
        out = written(capsys, "backup", str(copy))
        assert time.monotonic() - started < 4  # never waited for the writer (busy timeout 5 s)
        assert f"to {copy}" in out
        assert copy.stat().st_mode & 0o077 == 0  # client data: for the owner only
        assert [p.name for p in copy.parent.iterdir()] == [copy.name]  # no temporary left

        # An existing file is kept unless --force says otherwise.
        before = copy.read_bytes()
        assert main(["backup", str(copy)]) == 1
        assert "exists" in capsys.readouterr().err
        assert copy.read_bytes() == before
        writer.execute("COMMIT")

        monkeypatch.setenv("HOTLINE_DATABASE_URL", f"sqlite:///{copy}")
        counsellors, bodies = read_back(key)
        assert counsellors == sorted(NAMES)
        assert bodies == [BODY]  # as of the backup: the writer's open transaction is not in it

        monkeypatch.setenv("HOTLINE_DATABASE_URL", f"sqlite:///{live}")
        written(capsys, "backup", "--force", str(copy))
        monkeypatch.setenv("HOTLINE_DATABASE_URL", f"sqlite:///{copy}")
        assert read_back(key)[1] == []  # now it has the committed update
    finally:
        writer.close()

    monkeypatch.setenv("HOTLINE_ENCRYPTION_KEY", "another-key")
    with pytest.raises(DecryptionError):
        read_back(key)


def test_backup_refuses_postgresql_and_a_missing_database(
    keyed: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Port 1: were it to connect, it would fail otherwise.
    monkeypatch.setenv("HOTLINE_DATABASE_URL", "postgresql+psycopg://hotline@127.0.0.1:1/hotline")
    assert main(["backup", str(tmp_path / "copy")]) == 2
    assert "pg_dump -Fc" in capsys.readouterr().err
    monkeypatch.setenv("HOTLINE_DATABASE_URL", f"sqlite:///{tmp_path / 'none.sqlite3'}")
    assert main(["backup", str(tmp_path / "copy")]) == 1
    assert "no database at" in capsys.readouterr().err
    assert sorted(tmp_path.iterdir()) == []  # neither a database nor a copy was created


# --- PostgreSQL -------------------------------------------------------------------------------

PG_DUMP, PG_RESTORE = shutil.which("pg_dump"), shutil.which("pg_restore")


@contextlib.contextmanager
def new_database() -> Iterator[str]:
    """A URL of a new, empty PostgreSQL database on the test server, dropped afterwards."""
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    name = f"t_backup_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
        try:
            yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as connection:
                connection.exec_driver_sql(f'DROP DATABASE "{name}" WITH (FORCE)')
    finally:
        admin.dispose()


def libpq(url: str) -> str:
    """The SQLAlchemy URL as pg_dump and pg_restore take it."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def tool(*argv: str) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr


@pytest.mark.postgresql
@pytest.mark.skipif(not PG_URL, reason="HOTLINE_TEST_DATABASE_URL is not set")
@pytest.mark.skipif(not (PG_DUMP and PG_RESTORE), reason="pg_dump and pg_restore are not installed")
def test_postgresql_dump_restores_into_a_new_database(
    keyed: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """docs/operations.md's procedure, as written: `pg_dump -Fc` of the whole database,
    `createdb`, `pg_restore --no-owner` into it (here CREATE DATABASE; the same thing)."""
    assert PG_DUMP
    assert PG_RESTORE
    with new_database() as source, new_database() as target:
        monkeypatch.setenv("HOTLINE_DATABASE_URL", source)
        key = fill(capsys)
        dump = tmp_path / "hotline.dump"
        tool(PG_DUMP, "-Fc", "-f", str(dump), libpq(source))
        tool(PG_RESTORE, "--no-owner", "--exit-on-error", "-d", libpq(target), str(dump))

        monkeypatch.setenv("HOTLINE_DATABASE_URL", target)
        counsellors, bodies = read_back(key)
        assert counsellors == sorted(NAMES)
        assert bodies == [BODY]  # the same HOTLINE_ENCRYPTION_KEY opens the restored values
