"""Who is in a conversation through a line (hotline.busy), read from the call records."""

from __future__ import annotations

from datetime import timedelta

from config.model import HotlineConfig
from foundation.db import Database
from foundation.models import Call, OutboundCall
from hotline import busy
from tests.conftest import add_counsellor, utc

NOW = utc(2026, 12, 2, 11)


def test_an_inbound_call_keeps_her_busy_until_it_ends(
    database: Database, config: HotlineConfig
) -> None:
    with database.write() as session:
        anna = add_counsellor(session, config, "islamism", name="Anna").id
        call = Call(call_sid="CA1", line="islamism", accepted_by_id=anna, answered_at=NOW)
        session.add(call)
    with database.read() as session:
        assert busy.busy(session, NOW) == {anna}
        assert busy.busy(session, NOW, among={anna + 1}) == set()
        assert busy.busy(session, NOW, among=()) == set()
        assert busy.busy(session, NOW + busy.TALK_AT_MOST) == set()  # a lost callback
    with database.write() as session:
        session.get(Call, call.id).talk_seconds = 120  # type: ignore[union-attr]  # Dial ended
    with database.read() as session:
        assert busy.busy(session, NOW) == set()


def test_a_call_back_keeps_her_busy_while_it_rings_and_talks(
    database: Database, config: HotlineConfig
) -> None:
    with database.write() as session:
        ben = add_counsellor(session, config, "islamism", name="Ben").id
        outbound = OutboundCall(
            kind="callback",
            target_id=1,
            line="islamism",
            counsellor_id=ben,
            actor="tests",
            status="ringing",
            created_at=NOW,
            updated_at=NOW,
        )
        session.add(outbound)
    with database.read() as session:
        assert busy.busy(session, NOW + timedelta(seconds=30)) == {ben}
        assert busy.busy(session, NOW + busy.RINGING_AT_MOST) == set()  # never answered
    with database.write() as session:
        session.get(OutboundCall, outbound.id).status = "in-progress"  # type: ignore[union-attr]
    with database.read() as session:
        assert busy.busy(session, NOW + timedelta(hours=1)) == {ben}
    with database.write() as session:
        session.get(OutboundCall, outbound.id).client_status = "completed"  # type: ignore[union-attr]
    with database.read() as session:
        assert busy.busy(session, NOW + timedelta(hours=1)) == set()
