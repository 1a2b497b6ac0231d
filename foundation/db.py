"""Engine and transactions. One transaction per use case: `with db.write() as session: ...`
(or `db.read()` for a use case that only reads)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Connection, Engine, create_engine, event, make_url, text
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).with_name("migrations")
SQLITE_BUSY_TIMEOUT_MS = 5000


PG_CONNECT_TIMEOUT = 3  # seconds: a call webhook must fail open well within Twilio's 15 s


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine; SQLite gets WAL, a busy timeout, enforced foreign keys and `secure_delete`
    on every connection. Error messages never quote SQL parameters (they can be phone
    numbers)."""
    kwargs.setdefault("hide_parameters", True)
    if url.startswith("sqlite"):
        kwargs.setdefault("connect_args", {}).setdefault("check_same_thread", False)
        engine = create_engine(url, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    if url.startswith("postgresql"):
        kwargs.setdefault("connect_args", {}).setdefault("connect_timeout", PG_CONNECT_TIMEOUT)
    return create_engine(url, **kwargs)


LOCK_KEY = 0x6B6F6E6578  # "konex": any constant, the same for every process


def one_at_a_time(connection: Connection) -> None:
    """On PostgreSQL, wait for and take the processes' advisory lock until this transaction
    ends: what processes starting together do on start (migrate, create the extension, mirror
    the teams, rezone the tallies) then happens in one of them after the other, each finding
    what the one before committed. Reentrant within a transaction. SQLite: nothing (its write
    transaction serialises them already)."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})


def ensure_btree_gist(connection: Connection, schema: str | None = None) -> None:
    """Make sure PostgreSQL's `btree_gist` extension (the appointments' exclusion constraint
    needs it) exists, creating it in `schema` (default: the first of the search path) if not.
    Safe when several processes run it at once (IF NOT EXISTS alone races: both see none, the
    second fails on the catalog's unique index)."""
    one_at_a_time(connection)
    where = f' SCHEMA "{schema}"' if schema else ""
    connection.exec_driver_sql(f"CREATE EXTENSION IF NOT EXISTS btree_gist{where}")


@contextmanager
def scratch_schema(base_url: str, prefix: str) -> Iterator[str]:
    """For tests and benchmarks: a new, empty schema `<prefix><random>` of the PostgreSQL
    database at `base_url`; yields a URL whose search path is that schema; drops it afterwards.
    `btree_gist` goes to `public` first: created inside the scratch schema it would be dropped
    with it, and with it the exclusion constraints of every other schema that uses it."""
    name = f"{prefix}{uuid.uuid4().hex[:16]}"
    admin = create_engine(base_url)
    try:
        with admin.begin() as connection:
            ensure_btree_gist(connection, "public")
            connection.exec_driver_sql(f'CREATE SCHEMA "{name}"')
        url = make_url(base_url).update_query_dict({"options": f"-csearch_path={name}"})
        try:
            yield url.render_as_string(hide_password=False)
        finally:
            with admin.begin() as connection:
                connection.exec_driver_sql(f'DROP SCHEMA "{name}" CASCADE')
    finally:
        admin.dispose()


def kept_schema(base_url: str, name: str) -> str:
    """For benchmarks: a URL whose search path is the schema `name` of the PostgreSQL database
    at `base_url`, created if missing and never dropped (for measuring again on the same
    data)."""
    if not name.isidentifier():
        raise ValueError(f"not a schema name: {name!r}")
    admin = create_engine(base_url)
    try:
        with admin.begin() as connection:
            ensure_btree_gist(connection, "public")
            connection.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "{name}"')
    finally:
        admin.dispose()
    url = make_url(base_url).update_query_dict({"options": f"-csearch_path={name}"})
    return url.render_as_string(hide_password=False)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # let the "begin" hook issue BEGIN itself
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.execute("PRAGMA synchronous = NORMAL")
    # Deleted rows are overwritten with zeros, not left in free pages for anyone who reads the
    # file: retention and erasure must really delete (docs/retention.md).
    cursor.execute("PRAGMA secure_delete = ON")
    cursor.close()


def _sqlite_begin(connection: Connection) -> None:
    # A write use case ("check, then insert") takes SQLite's write lock up front, so a second
    # writer waits (busy timeout) instead of failing when it upgrades from reading to writing.
    immediate = connection.get_execution_options().get("sqlite_immediate", False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


class Database:
    """The unit of work: `with db.write() as s:` commits on success, rolls back on error."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # SQLite has one writer at a time. Writers of this process queue on a lock (first come,
        # first served) instead of polling SQLite's busy timeout, whose growing sleeps let a
        # waiting writer lose to newer ones for seconds under a burst of calls. Other processes
        # still wait on the busy timeout.
        self._write_lock = threading.RLock() if engine.dialect.name == "sqlite" else None
        self._read = sessionmaker(engine, expire_on_commit=False)
        self._write = sessionmaker(
            engine.execution_options(sqlite_immediate=True), expire_on_commit=False
        )

    @contextmanager
    def read(self) -> Iterator[Session]:
        with self._read() as session:
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        if self._write_lock is None:
            with self._write.begin() as session:
                yield session
            return
        with self._write_lock, self._write.begin() as session:
            yield session

    def dispose(self) -> None:
        self.engine.dispose()


def alembic_config(url: str) -> AlembicConfig:
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def ensure_sqlite_directory(url: str) -> None:
    prefix = "sqlite:///"
    if url.startswith(prefix):
        path = url.removeprefix(prefix).split("?", 1)[0]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)


class SchemaTooNew(Exception):
    """The database's schema is at a revision this code does not know: newer code migrated it."""


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the schema up to date (Alembic). Several processes may start at once: on
    PostgreSQL the migrations run under an advisory lock (`migrations/env.py`), so one migrates
    and the others find the schema up to date. A schema newer than this code is refused
    (SchemaTooNew) before anything is changed."""
    ensure_sqlite_directory(url)
    config = alembic_config(url)
    _refuse_newer(url, config)
    command.upgrade(config, revision)


def _refuse_newer(url: str, config: AlembicConfig) -> None:
    from alembic.migration import MigrationContext
    from alembic.script import ScriptDirectory

    known = {script.revision for script in ScriptDirectory.from_config(config).walk_revisions()}
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            current = MigrationContext.configure(connection).get_current_heads()
    finally:
        engine.dispose()
    unknown = [rev for rev in current if rev not in known]
    if unknown:
        head = ScriptDirectory.from_config(config).get_current_head()
        raise SchemaTooNew(
            f"the database schema is at revision {', '.join(unknown)}, newer than this code "
            f"(which knows up to {head}): run the newer version of konex hotline, or upgrade "
            "this one"
        )


def checkpoint(engine: Engine) -> None:
    """On SQLite, copy the write-ahead log into the database file and empty it, so that what
    was deleted (and overwritten: `secure_delete`) lingers in neither file. Best effort: a
    reader still open keeps the log (the next checkpoint empties it). Nothing elsewhere."""
    if engine.dialect.name != "sqlite":
        return
    connection = engine.raw_connection()  # outside a transaction: the pragma needs none open
    try:
        cursor = connection.cursor()
        cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        cursor.close()
    finally:
        connection.close()


def ping(engine: Engine) -> None:
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))
