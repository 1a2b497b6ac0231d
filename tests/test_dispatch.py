"""The exactly-once engine (`scheduling.dispatch`) on its own: claim, send, record; missed
after the grace; a lapsed lease becomes uncertain; retries are capped; a broken row fails
without blocking the rows behind it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from config.model import HotlineConfig
from config.settings import Settings
from foundation.db import Database
from foundation.models import DispatchState, NoticeKind, Reminder, ShiftNotice
from foundation.outgoing import Channel, MaybeSent, NotSent, Outgoing
from scheduling import dispatch
from tests.conftest import add_counsellor, utc
from tests.fakes import RecordingProvider

NOW = utc(2026, 11, 26, 8)


class TextQueue:
    """Rows whose payload holds the text; "boom" in it is a bug in rendering."""

    name = "test notices"
    model: type[Reminder] | type[ShiftNotice] = ShiftNotice

    def grace(self, settings: Settings) -> timedelta:
        return timedelta(minutes=30)

    def render(self, session: Session, settings: Settings, row: Any) -> Outgoing | None:
        text = row.payload.get("text")
        if text == "boom":
            raise RuntimeError("a bug")
        return None if text is None else Outgoing(Channel.SMS, "+4915100000001", text, "test")


QUEUE = TextQueue()


@pytest.fixture
def counsellor(database: Database, config: HotlineConfig) -> int:
    with database.write() as session:
        return add_counsellor(session, config, "islamism").id


def add(database: Database, counsellor: int, text: str | None, due: datetime) -> int:
    with database.write() as session:
        row = ShiftNotice(
            dedupe_key=f"test:{text}:{due.isoformat()}",
            counsellor_id=counsellor,
            kind=NoticeKind.SWAP,
            channel=Channel.SMS,
            due_at=due,
            payload={} if text is None else {"text": text},
        )
        session.add(row)
        session.flush()
        return row.id


def states(database: Database) -> dict[int, DispatchState]:
    with database.read() as session:
        return {row.id: row.state for row in session.scalars(select(ShiftNotice))}


def run(
    database: Database, settings: Settings, send: RecordingProvider, at: datetime = NOW, **kw: Any
) -> dispatch.Round:
    clock: Callable[[], datetime] = lambda: at  # noqa: E731
    return dispatch.dispatch(database, settings, QUEUE, clock=clock, send=send.send, **kw)


def test_due_rows_are_sent_once_and_recorded(
    database: Database, settings: Settings, counsellor: int
) -> None:
    first = add(database, counsellor, "eins", NOW - timedelta(minutes=1))
    later = add(database, counsellor, "zwei", NOW + timedelta(minutes=1))
    send = RecordingProvider()
    done = run(database, settings, send)
    assert (done.sent, done.claimed, done.ids) == (1, 1, [first])
    assert run(database, settings, send).sent == 0  # nothing twice
    assert send.sent == ["eins"]
    with database.read() as session:
        row = session.get(ShiftNotice, first)
        assert row is not None
        assert (row.state, row.provider_sid, row.attempts) == (DispatchState.SENT, "ID1", 1)
        assert row.sent_at == NOW
        assert row.lease_until is None
    assert states(database)[later] is DispatchState.PENDING


def test_rows_later_than_the_grace_are_missed_not_sent(
    database: Database, settings: Settings, counsellor: int
) -> None:
    late = add(database, counsellor, "spät", NOW - timedelta(minutes=31))
    in_time = add(database, counsellor, "knapp", NOW - timedelta(minutes=29))
    send = RecordingProvider()
    done = run(database, settings, send)
    assert (done.missed, done.sent) == (1, 1)
    assert states(database) == {late: DispatchState.MISSED, in_time: DispatchState.SENT}
    assert send.sent == ["knapp"]


def test_a_row_with_nothing_to_say_is_cancelled(
    database: Database, settings: Settings, counsellor: int
) -> None:
    row = add(database, counsellor, None, NOW)
    assert run(database, settings, RecordingProvider()).cancelled == 1
    assert states(database) == {row: DispatchState.CANCELLED}


def test_a_render_bug_fails_its_row_and_the_others_go_out(
    database: Database, settings: Settings, counsellor: int
) -> None:
    broken = add(database, counsellor, "boom", NOW - timedelta(minutes=2))
    fine = add(database, counsellor, "gut", NOW - timedelta(minutes=1))
    send = RecordingProvider()
    done = run(database, settings, send)
    assert (done.failed, done.sent) == (1, 1)
    assert states(database) == {broken: DispatchState.FAILED, fine: DispatchState.SENT}


def test_maybe_sent_is_uncertain_and_never_sent_again(
    database: Database, settings: Settings, counsellor: int
) -> None:
    row = add(database, counsellor, "vielleicht", NOW)
    send = RecordingProvider(outcomes=[MaybeSent("timeout after the request went out")])
    assert run(database, settings, send).uncertain == 1
    for minutes in (0, 1, 10):
        run(database, settings, send, NOW + timedelta(minutes=minutes))
    assert states(database) == {row: DispatchState.UNCERTAIN}
    assert send.sent == []


def test_not_sent_is_retried_until_the_cap_then_failed(
    database: Database, settings: Settings, counsellor: int
) -> None:
    row = add(database, counsellor, "nochmal", NOW)
    network_down = [NotSent("cannot connect", retry=True) for _ in range(dispatch.MAX_ATTEMPTS)]
    send = RecordingProvider(outcomes=[NotSent("cannot connect", retry=True)])
    assert run(database, settings, send).retry == 1
    assert states(database) == {row: DispatchState.PENDING}
    assert run(database, settings, send).claimed == 0  # not before its backoff (2 s)
    assert run(database, settings, send, NOW + dispatch.BACKOFF).sent == 1  # then it goes out
    assert send.sent == ["nochmal"]

    stubborn = add(database, counsellor, "nie", NOW)
    send = RecordingProvider(outcomes=network_down)
    for step in range(dispatch.MAX_ATTEMPTS + 1):  # 3 minutes: longer than any backoff
        run(database, settings, send, NOW + timedelta(minutes=3 * step))
    assert states(database)[stubborn] is DispatchState.FAILED
    assert send.sent == []


def test_a_refusal_fails_at_once(database: Database, settings: Settings, counsellor: int) -> None:
    row = add(database, counsellor, "nein", NOW)
    send = RecordingProvider(outcomes=[NotSent("invalid number", retry=False)])
    assert run(database, settings, send).failed == 1
    assert states(database) == {row: DispatchState.FAILED}


def test_a_claim_whose_process_died_becomes_uncertain_when_the_lease_lapses(
    database: Database, settings: Settings, counsellor: int
) -> None:
    row = add(database, counsellor, "abgestürzt", NOW)
    with database.write() as session:  # a dispatcher claimed it, then its process died
        session.execute(
            update(ShiftNotice)
            .where(ShiftNotice.id == row)
            .values(state=DispatchState.SENDING, lease_until=NOW + dispatch.LEASE, attempts=1)
        )
    send = RecordingProvider()
    assert run(database, settings, send, NOW + dispatch.LEASE - timedelta(seconds=1)).expired == 0
    assert states(database) == {row: DispatchState.SENDING}
    assert run(database, settings, send, NOW + dispatch.LEASE + timedelta(seconds=1)).expired == 1
    assert states(database) == {row: DispatchState.UNCERTAIN}
    assert send.sent == []


def test_batches_follow_each_other_until_nothing_is_due(
    database: Database, settings: Settings, counsellor: int
) -> None:
    for i in range(7):
        add(database, counsellor, f"n{i}", NOW - timedelta(seconds=i))
    send = RecordingProvider()
    done = run(database, settings, send, batch=3)
    assert done.sent == 7
    assert sorted(send.sent) == [f"n{i}" for i in range(7)]
    assert set(states(database).values()) == {DispatchState.SENT}


# --- outcomes only over the claim; backoff (issue 5) -------------------------------------------


@pytest.mark.parametrize(
    "failure",
    [NotSent("rate limited", retry=True), NotSent("refused", retry=False), MaybeSent("timeout")],
    ids=["retry", "refused", "maybe"],
)
def test_an_outcome_never_overwrites_a_row_someone_else_moved_on(
    database: Database, settings: Settings, counsellor: int, failure: Exception
) -> None:
    row = add(database, counsellor, "eins", NOW)

    class Meanwhile(RecordingProvider):
        def send(self, message: Outgoing) -> str:
            with database.write() as session:  # meanwhile, another writer finished the row
                session.execute(update(ShiftNotice).values(state=DispatchState.CANCELLED))
            raise failure

    run(database, settings, Meanwhile())
    assert states(database) == {row: DispatchState.CANCELLED}


def test_retries_back_off_but_never_past_the_grace() -> None:
    latest = NOW + timedelta(seconds=30)
    waits = [dispatch.backoff(attempts, NOW, latest) - NOW for attempts in range(1, 6)]
    assert waits == [timedelta(seconds=s) for s in (2, 4, 8, 16, 30)]


def test_a_retryable_refusal_ends_the_round_and_the_batch_waits(
    database: Database, settings: Settings, counsellor: int
) -> None:
    rows = [add(database, counsellor, f"r{i}", NOW - timedelta(seconds=10 - i)) for i in range(10)]
    send = RecordingProvider(outcomes=[NotSent("429 Too Many Requests", retry=True)])
    done = run(database, settings, send, batch=4)
    # One batch only; what had not been handed over when the 429 came was not tried.
    assert (done.claimed, done.retry, done.failed) == (4, 1, 0)
    assert done.retry + done.deferred + done.sent == 4
    with database.read() as session:
        waiting = session.scalars(
            select(ShiftNotice).where(ShiftNotice.state == DispatchState.PENDING)
        ).all()
    tried = {row.id: (row.attempts, row.next_attempt_at) for row in waiting if row.attempts}
    assert list(tried.values()) == [(1, NOW + dispatch.BACKOFF)]
    deferred = [row for row in waiting if row.id in rows[:4] and not row.attempts]
    assert all(row.next_attempt_at == NOW + dispatch.BACKOFF for row in deferred)
    assert len(deferred) == done.deferred
    # The claimed rows wait their backoff; the next run sends the others, and then those.
    run(database, settings, send)
    assert set(states(database).values()) == {DispatchState.SENT, DispatchState.PENDING}
    run(database, settings, send, NOW + dispatch.BACKOFF)
    assert set(states(database).values()) == {DispatchState.SENT}
    assert sorted(send.sent) == sorted(f"r{i}" for i in range(10))
