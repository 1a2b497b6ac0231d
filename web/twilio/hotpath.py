"""The hot path of an incoming call: answer from memory, write the record in batches.

Most calls to a line within a few seconds get the same answer (the same people to ring), so the
first call's TwiML is kept as a snapshot and later calls are answered from it on the event loop,
without a worker thread or the database. A snapshot is dropped

* at the rota's next change (a handoff, a stand-in starting or ending),
* when shifts, stand-ins, absences or counsellors change: at once when this process changes
  them (any flush touching them), and on PostgreSQL as soon as another process commits such a
  change (`foundation.signals.ROTA`: NOTIFY on commit, the app's `Listener` hears it),
* after SNAPSHOT_TTL it is refreshed in the background (served meanwhile, for at most
  STALE_LIMIT): the safety net should a notification be lost;
* and it is not used while somebody it would ring is in another conversation (`BusyWatch`: who
  is busy is read from the database every BUSY_REFRESH, so a call taken through another process
  is known here within about that long; one taken through this process at once). A snapshot
  is only kept when nobody on call was busy: whoever was skipped may be free for the next call.

Call records of such answers are queued and inserted in batches every FLUSH_INTERVAL (one
transaction, `INSERT … ON CONFLICT DO NOTHING`, on PostgreSQL through COPY:
`hotline.calls.open_calls`); every later step of a call flushes the queue first, so it always
finds its record. A crash can lose at most the queue of the last interval: the records, never
the routing.

Why here, in the web layer beside the voice webhook, and not in `hotline`: what it keeps is a
rendered HTTP answer (the body of POST /twilio/voice), and it works on the event loop (anyio
events for single-flight refreshes, the app's task group for the flusher), which is the
webhook's business. It decides nothing: who to ring comes from `hotline.voice_calls`, the rows
it writes from `hotline.calls`. Only `web.twilio.webhook` and `web.twilio.voice` use it.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta
from typing import Any

import anyio
from starlette.responses import Response

from foundation.clock import utcnow
from foundation.db import Database
from foundation.signals import ROTA
from hotline import busy, calls

log = logging.getLogger(__name__)
SNAPSHOT_TTL = timedelta(seconds=5)
STALE_LIMIT = timedelta(seconds=30)
# Also on PostgreSQL: 0.2 s batches cost no less CPU per call and showed a longer tail
# (bench/README.md#voice).
FLUSH_INTERVAL = 0.05  # seconds
MAX_QUEUE = 10_000
BUSY_REFRESH = 0.5  # seconds between two reads of who is in a conversation


def rota_version() -> int:
    """Counts the rota's changes made here and, on PostgreSQL, those other processes committed
    (`foundation.signals.ROTA`, with the app's `Listener`)."""
    return ROTA.version


class Kept(Response):
    """A snapshot's answer to one call: the status, body and headers of the route's response
    it was kept from (`kept`), rendered then and not again. The headers are a copy (a layer on
    the way out may add to them); `kept` lets the fast lane recognise the answer it has sent
    before (`web.twilio.fastlane`)."""

    def __init__(self, kept: Response) -> None:
        self.kept = kept
        self.status_code = kept.status_code
        self.media_type = kept.media_type
        self.background = None
        self.body = kept.body
        self.raw_headers = list(kept.raw_headers)


# the answer, team id, fresh until, valid until, rota version, the counsellors it rings
_Entry = tuple[Response, int, datetime, datetime, int, frozenset[int]]


class Snapshots:
    """Rendered first answers per line.

    An entry is fresh for SNAPSHOT_TTL; after that it is served stale while one background
    refresh runs, but never past the rota's next change, a change of the rota (`rota_version`),
    or STALE_LIMIT.
    """

    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}
        self.refreshing: dict[str, anyio.Event] = {}  # line -> set when its refresh is done

    def get(self, line: str, now: datetime) -> tuple[Response, int, bool, frozenset[int]] | None:
        """(the route's response kept, team id, stale, the counsellors it rings) or None: never
        send the response itself, but its copy (`Kept`)."""
        entry = self._entries.get(line)
        if entry is None:
            return None
        response, team_id, fresh_until, valid_until, version, ringing = entry
        if now >= valid_until or version != rota_version():
            self._entries.pop(line, None)
            return None
        return response, team_id, now >= fresh_until, ringing

    def put(
        self,
        line: str,
        response: Response,
        team_id: int,
        *,
        now: datetime,
        next_change: datetime | None,
        version: int,
        ringing: frozenset[int] = frozenset(),
    ) -> None:
        valid_until = now + STALE_LIMIT
        if next_change is not None:
            valid_until = min(valid_until, next_change)
        fresh_until = now + SNAPSHOT_TTL
        kept = Kept(response)  # a copy, before anything on the way out adds to its headers
        self._entries[line] = (kept, team_id, fresh_until, valid_until, version, ringing)


class BusyWatch:
    """Who is in a conversation through a line (`hotline.busy`), as last read from the
    database, and whom this process saw take a call since. Read every BUSY_REFRESH; when the
    database cannot be read, the last answer stands (the snapshot keeps routing callers)."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self.busy: frozenset[int] = frozenset()

    def took_call(self, counsellor_id: int) -> None:
        """She pressed 1 on this process: busy from now on, before the next read."""
        self.busy = self.busy | {counsellor_id}

    def refresh(self) -> None:
        try:
            with self._db.read() as session:
                self.busy = busy.busy(session, utcnow())
        except Exception as exc:
            log.error("who is busy not read (%s)", type(exc).__name__)

    async def run(self) -> None:
        """Read every BUSY_REFRESH until cancelled (SQLite on the event loop, as `Recorder`
        does; a network database in a worker thread)."""
        inline = self._db.engine.dialect.name == "sqlite"
        while True:
            if inline:
                self.refresh()
            else:
                await anyio.to_thread.run_sync(self.refresh)
            await anyio.sleep(BUSY_REFRESH)


class Recorder:
    """Call records queued by the hot path, inserted in batches."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._pending: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        # Held from taking a batch until it is committed: a step's flush waits for a batch the
        # flusher took a moment before, so the step finds its record.
        self._writing = threading.Lock()

    def add(self, values: dict[str, Any]) -> bool:
        with self._lock:
            if len(self._pending) >= MAX_QUEUE:
                return False  # the database is not keeping up: take the slow path instead
            self._pending.append(values)
            return True

    def flush(self, *, wait: bool = True) -> None:
        """Write what is queued, and whatever another flush is writing at the moment, before
        returning; with `wait=False`, nothing while another flush is writing (the event loop
        must not block on it)."""
        if not self._writing.acquire(blocking=wait):
            return
        try:
            with self._lock:
                batch, self._pending = self._pending, []
            if not batch:
                return
            try:
                with self._db.write() as session:
                    calls.open_calls(session, batch)
            except Exception as exc:
                log.error("%d call records not written (%s)", len(batch), type(exc).__name__)
        finally:
            self._writing.release()

    async def run(self) -> None:
        """Flush every FLUSH_INTERVAL until cancelled, then once more.

        SQLite is flushed on the event loop itself: one in-process batch insert takes about a
        millisecond, while a worker thread would wait for the GIL behind the busy event loop
        and fall ever further behind. A network database is flushed in a worker thread.
        """
        inline = self._db.engine.dialect.name == "sqlite"
        try:
            while True:
                await anyio.sleep(FLUSH_INTERVAL)
                if self._pending:
                    if inline:
                        self.flush(wait=False)
                    else:
                        await anyio.to_thread.run_sync(self.flush)
        finally:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(self.flush)
