"""Signals that something changed, reaching every process of the service at once.

A process that keeps something built from the database in memory (the first answer of a call to a
line: `web.twilio.hotpath`) must drop it when the rows it was built from change, whichever process
changed them. A `Signal` names those rows by their models and counts their changes in a version
number; whoever keeps something compares the version it was built at with the current one.

* In the process that makes a change, any flush of a session touching the signal's models bumps
  the version at once (SQLAlchemy's `after_flush`, once `Signal.watch` has been called).
* On PostgreSQL the same flush also sends `NOTIFY <channel>` in its transaction. PostgreSQL
  delivers a notification when that transaction commits, and only then: a rolled-back change
  signals nothing, and a listener never reads the rows before they are committed. Every web
  process runs a `Listener` (its own connection, `LISTEN <channel>`) that bumps the version when a
  notification of another process arrives (about its own schema: the payload names the schema
  and the sending process). A lost connection (PostgreSQL restarted, a network failure) is
  opened again with growing pauses, and every connection after the first attempt bumps the
  version, since what was sent while nobody listened is lost (the web app waits for the first
  before it serves). Whatever keeps something still lets it expire after a while: the
  safety net should a notification be lost some other way.
* SQLite: one process serves a SQLite database (`hotline serve --workers` refuses more than
  one), so there is nobody to tell.

Hand-written on psycopg rather than a library: LISTEN is one statement, and the loop around it
(reconnect, bump) is what this service needs and no more.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import re
import uuid
from typing import Any

from sqlalchemy import Engine, event, text
from sqlalchemy.orm import Session

from foundation.models import Absence, Counsellor, Shift, StandIn

log = logging.getLogger(__name__)
RETRY_FIRST = 0.1  # seconds before the first attempt to listen again
RETRY_MAX = 5.0  # the longest pause between two attempts
CONNECT_TIMEOUT = 3  # seconds
# A connection whose peer vanished without a word is noticed within about 11 s (TCP keepalive).
KEEPALIVE = {"keepalives": 1, "keepalives_idle": 5, "keepalives_interval": 2, "keepalives_count": 3}
_CHANNEL = re.compile(r"[a-z_][a-z0-9_]{0,62}")


class Signal:
    """The changes of `models`, counted in `version`, sent to other processes on `channel`."""

    def __init__(self, channel: str, models: tuple[type[Any], ...]) -> None:
        if not _CHANNEL.fullmatch(channel):
            raise ValueError(f"not a channel name: {channel!r}")
        self.channel = channel
        self.models = models
        self._counter = itertools.count()
        self.version = next(self._counter)
        self._nonce = uuid.uuid4().hex[:12]

    def bump(self) -> None:
        """Something changed: whatever was built before is out of date. (Safe from any thread:
        one step of an `itertools.count` is atomic.)"""
        self.version = next(self._counter)

    def watch(self) -> None:
        """Bump at every flush of any session of this process that touches the models, and send
        the notification in its transaction on PostgreSQL (idempotent; called when a process is
        put together, never at import)."""
        if not event.contains(Session, "after_flush", self._flushed):
            event.listen(Session, "after_flush", self._flushed)

    @property
    def sender(self) -> str:
        """This process, as its notifications name it (the pid: a forked child is another)."""
        return f"{self._nonce}.{os.getpid()}"

    def _flushed(self, session: Session, _context: Any) -> None:
        touched = itertools.chain(session.new, session.dirty, session.deleted)
        if not any(isinstance(obj, self.models) for obj in touched):
            return
        self.bump()
        connection = session.connection()
        if connection.dialect.name == "postgresql":
            # Delivered on commit; PostgreSQL folds the same notification sent twice in one
            # transaction into one. Channels are per database: the payload names the schema,
            # so deployments sharing a database in schemas of their own do not hear each other.
            connection.execute(_NOTIFY, {"channel": self.channel, "sender": self.sender})

    def concerns(self, payload: str, schema: str) -> bool:
        """Whether a notification is about the schema `schema` and from another process (this
        process bumped at its own flush)."""
        where, _, sender = payload.rpartition(" ")
        return where == schema and sender != self.sender


_NOTIFY = text("SELECT pg_notify(:channel, coalesce(current_schema(), '') || ' ' || :sender)")


# Who is on call: shifts, stand-ins, absences, and the counsellors themselves (a phone number
# changed, a counsellor deactivated).
ROTA = Signal("hotline_rota", (Shift, StandIn, Absence, Counsellor))


class Listener:
    """Bumps `signal` whenever another process commits a change (PostgreSQL only): `run` on the
    event loop until cancelled. `listening` is set once it first listens; `backend_pid` is the
    listening connection's server process while it listens, else None."""

    def __init__(self, engine: Engine, signal: Signal) -> None:
        if engine.dialect.name != "postgresql":
            raise ValueError("LISTEN needs PostgreSQL")
        _, params = engine.dialect.create_connect_args(engine.url)
        params.pop("context", None)  # the engine's adapters; LISTEN needs none
        self._params = {**params, "connect_timeout": CONNECT_TIMEOUT, **KEEPALIVE}
        self.signal = signal
        self.listening = asyncio.Event()
        self.backend_pid: int | None = None

    async def run(self) -> None:
        import psycopg

        pause, first = RETRY_FIRST, True
        while True:
            again, first = not first, False
            try:
                connection = await psycopg.AsyncConnection.connect(**self._params, autocommit=True)
                try:
                    await connection.execute(f"LISTEN {self.signal.channel}")
                    row = await (await connection.execute("SELECT current_schema()")).fetchone()
                    schema = (row[0] if row else None) or ""
                    if again:  # what was sent while nobody listened is lost
                        self.signal.bump()
                    self.backend_pid = connection.info.backend_pid
                    self.listening.set()
                    pause = RETRY_FIRST
                    async for notification in connection.notifies():
                        if self.signal.concerns(notification.payload, schema):
                            self.signal.bump()
                finally:
                    # Not `async with`: on cancellation its rollback would be cancelled too
                    # and leave the connection open; close() itself never waits.
                    await connection.close()
            except (psycopg.Error, OSError) as exc:
                log.warning(
                    "not listening for %s changes (%s): again in %.1f s",
                    self.signal.channel,
                    type(exc).__name__,
                    pause,
                )
            finally:
                self.backend_pid = None
            await asyncio.sleep(pause)
            pause = min(pause * 2, RETRY_MAX)
