"""`hotline backup PATH`: a consistent copy of the SQLite database, taken while the service runs.

SQLite's online backup API (`sqlite3.Connection.backup`) copies the database page by page. It
runs in one step (`pages=-1`), which is one read transaction: the copy is the database as of one
moment, committed transactions only, including those still in the write-ahead log and not yet
checkpointed. In WAL mode a reader neither waits for a writer nor blocks one, so the service
keeps answering calls meanwhile. (A backup in several steps would start again whenever another
connection writes, and might never finish under steady traffic.)

The copy is written to a temporary file beside PATH (mode 0600: it holds the encrypted client
data and keyed hashes), checked with `PRAGMA quick_check`, flushed to disk and only then renamed
to PATH, so PATH is either the previous file or a complete backup, never half of one.

PostgreSQL has its own tools (`pg_dump -Fc`, `pg_restore`; docs/operations.md#backups).
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
from contextlib import closing
from pathlib import Path

from sqlalchemy import make_url

from foundation.db import SQLITE_BUSY_TIMEOUT_MS


class BackupError(Exception):
    """The backup was not made; the message says why (for the operator)."""


class NotSQLite(BackupError):
    """The configured database is not SQLite: its own tools back it up."""


def sqlite_file(url: str) -> Path:
    """The file of a SQLite database URL; NotSQLite for another database."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        raise NotSQLite(
            f"hotline backup copies a SQLite database; this one is {parsed.get_backend_name()}: "
            "back it up with pg_dump -Fc (see docs/operations.md, Backups)"
        )
    if not parsed.database or parsed.database == ":memory:":
        raise BackupError("the database is in memory: there is no file to back up")
    return Path(parsed.database)


def backup(url: str, target: Path, *, force: bool = False) -> int:
    """Copy the SQLite database of `url` to `target`; returns the size of the copy in bytes.
    An existing `target` is replaced only with `force`."""
    source = sqlite_file(url)
    if not source.is_file():
        raise BackupError(f"no database at {source}")
    if target.exists() and not force:
        raise BackupError(f"{target} exists: choose another path, or replace it with --force")
    if target.exists() and target.resolve() == source.resolve():
        raise BackupError(f"{target} is the database itself")
    if not target.parent.is_dir():
        raise BackupError(f"no directory {target.parent}")
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    os.close(handle)
    try:
        _copy(source, Path(temporary))
        with open(temporary, "rb") as written:
            os.fsync(written.fileno())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target.stat().st_size


def _copy(source: Path, destination: Path) -> None:
    with (
        closing(sqlite3.connect(source, timeout=SQLITE_BUSY_TIMEOUT_MS / 1000)) as live,
        closing(sqlite3.connect(destination)) as copy,
    ):
        try:
            live.backup(copy)  # pages=-1: all at once, one snapshot (see the module's docstring)
        except sqlite3.DatabaseError as exc:
            raise BackupError(f"{source}: {exc}") from exc
        verdict = copy.execute("PRAGMA quick_check").fetchone()[0]
        if verdict != "ok":
            raise BackupError(f"the copy of {source} fails SQLite's check: {verdict}")
