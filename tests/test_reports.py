"""Reports (issue 17): a known history, every figure, the protection of small counts (the
difference attack, the complementary one), the roll-up before deletion, and the API."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import func, select
from starlette.testclient import TestClient

from config.model import HotlineConfig
from config.settings import Settings
from foundation import apikeys, audit
from foundation import reports as r
from foundation.db import Database
from foundation.models import (
    Appointment,
    AppointmentMode,
    AppointmentStatus,
    Call,
    CallbackRequest,
    CallDay,
    Conversation,
    ConversationMessage,
    OutboundCall,
    Reminder,
    Shift,
    ShiftNotice,
    StandIn,
    Voicemail,
)
from foundation.report_tables import as_json, csv_text, tables
from foundation.teams import team_by_slug
from hotline import reports as hotline_reports
from hotline.tasks.retention import roll_up_calls
from scheduling.replies import ACTOR, REPLY_ACTION
from tests.conftest import add_counsellor, berlin, utc
from web import report_data

OCTOBER = r.between(date(2026, 10, 1), date(2026, 10, 31))
HIDDEN = r.HIDDEN


def _call(
    n: int,
    at: datetime,
    outcome: str,
    caller: str | None,
    *,
    tier: str | None = None,
    ring: int | None = None,
    talk: int | None = None,
    closed: str | None = None,
    relative: bool = False,
) -> Call:
    return Call(
        call_sid=f"CA{n:032d}",
        line="islamism",
        state="completed",
        outcome=outcome,
        caller_hash=caller,
        started_at=at,
        accepted_tier=tier,
        ring_seconds=ring,
        talk_seconds=talk,
        closed_reason=closed,
        from_relative=relative,
    )


def history(database: Database, config: HotlineConfig) -> None:
    """All calls within hours on working days (Monday to Friday, 09:00 to 16:00).
    September: 5 accepted calls of h1..h5 (tier not known, 20 ring and 200 talk seconds each).
    October (the clocks go back on the 25th):
    6 accepted at primary (h1..h6, two of them relatives), 5 at backup (h7..h11), 1 fallback
    (h1 again), 5 voicemails (h12..h16, all done), 5 hung up (h17..h21), 5 outside hours
    (h22..h26, all on Sunday the 25th at 03:30 CET, the hour after the repeated one), and a
    call still ringing. Appointments of the team: 5 held, 5 no-shows, 1 cancelled by SMS."""
    calls: list[Call] = []
    for i, day in enumerate((10, 11, 14, 15, 16)):  # working days, as all calls within hours
        at = berlin(2026, 9, day, 10)
        calls.append(_call(len(calls), at, "accepted", f"h{i + 1}", ring=20, talk=200))
    for i, day in enumerate((5, 6, 7, 8, 9, 13)):
        at = berlin(2026, 10, day, 10)
        calls.append(
            _call(
                len(calls),
                at,
                "accepted",
                f"h{i + 1}",
                tier="primary",
                ring=10 * (i + 1),
                talk=100,
                relative=i < 2,
            )
        )
    for i in range(5):
        at = berlin(2026, 10, 12 + i, 14)
        calls.append(
            _call(len(calls), at, "accepted", f"h{i + 7}", tier="backup", ring=5, talk=300)
        )
    calls.append(_call(len(calls), berlin(2026, 10, 20, 9), "fallback", "h1", ring=40))
    voicemail_calls = [
        _call(len(calls) + i, berlin(2026, 10, 21, 11), "voicemail", f"h{i + 12}") for i in range(5)
    ]
    calls += voicemail_calls
    for i in range(5):
        calls.append(_call(len(calls), berlin(2026, 10, 22, 12), "hung_up", f"h{i + 17}"))
    dst = utc(2026, 10, 25, 2, 30)  # 03:30 CET, after the repeated hour
    for i in range(5):
        calls.append(_call(len(calls), dst, "voicemail", f"h{i + 22}", closed="hours"))
    calls.append(_call(len(calls), berlin(2026, 10, 23, 12), "x", None))
    calls[-1].outcome = None  # in progress: not counted
    with database.write() as session:
        session.add_all(calls)
        session.flush()
        for i, call in enumerate(voicemail_calls):
            session.add(
                Voicemail(
                    call_id=call.id,
                    caller_hash=call.caller_hash,  # as hotline.calls.store_voicemail keeps it
                    line="islamism",
                    team_id=1,
                    recording_sid=f"RE{i:032d}",
                    status="done",
                    created_at=call.started_at,
                    done_at=call.started_at + timedelta(minutes=i + 1),
                )
            )
        counsellor = add_counsellor(session, config, "islamism", name="Anna")
        statuses = [AppointmentStatus.DONE] * 5 + [AppointmentStatus.NO_SHOW] * 5
        statuses.append(AppointmentStatus.CANCELLED)
        for i, status in enumerate(statuses):
            start = berlin(2026, 10, 1 + i, 9) + timedelta(hours=i % 3)
            appointment = Appointment(
                counsellor_id=counsellor.id,
                client_pseudonym=f"Klient {i}",
                start_at=start,
                end_at=start + timedelta(hours=1),
                mode=AppointmentMode.PHONE,
                status=status,
            )
            session.add(appointment)
            session.flush()
            if status is AppointmentStatus.CANCELLED:
                audit.record(session, ACTOR, REPLY_ACTION, "appointment", appointment.id)


def test_periods_follow_the_berlin_wall_clock_across_both_changes() -> None:
    march = r.between(date(2026, 3, 29), date(2026, 3, 29))
    assert march.end - march.start == timedelta(hours=23)
    october = r.between(date(2026, 10, 25), date(2026, 10, 25))
    assert october.end - october.start == timedelta(hours=25)
    assert OCTOBER.kind == "month"
    assert OCTOBER.previous() == r.between(date(2026, 9, 1), date(2026, 9, 30))
    assert r.of_kind("quarter", date(2026, 3, 29)).previous().first == date(2025, 10, 1)
    assert r.of_kind("week", date(2026, 3, 29)).first == date(2026, 3, 23)
    ranged = r.between(date(2026, 3, 20), date(2026, 4, 2))
    assert ranged.kind == "range"
    assert ranged.previous() == r.Period("range", date(2026, 3, 6), date(2026, 3, 19))
    year = r.between(date(2026, 1, 1), date(2026, 12, 31))
    assert [offset for _, offset in hotline_reports.offsets(year.start, year.end, year.tz)] == [
        3600,
        7200,
        3600,
    ]
    with pytest.raises(ValueError, match="five years"):
        r.between(date(2020, 1, 1), date(2026, 1, 1))
    with pytest.raises(ValueError, match="ends before"):
        r.between(date(2026, 2, 1), date(2026, 1, 1))


def test_suppression_rules() -> None:
    k = 5
    # Complementary: one hidden part would be total minus the rest; the smallest other goes too.
    total, parts = r.suppress_row(r.Raw(20, 20), [r.Raw(3, 3), r.Raw(10, 10), r.Raw(7, 7)], k)
    assert total == r.Cell(20)
    assert parts == [HIDDEN, r.Cell(10), HIDDEN]
    # No other visible part: the total goes.
    total, parts = r.suppress_row(r.Raw(3, 3), [r.Raw(3, 3), r.ZERO], k)
    assert total == HIDDEN
    assert parts == [HIDDEN, r.Cell(0)]
    # The difference attack: a change is hidden when either side is.
    change = r.compared(r.Raw(12, 12), r.Raw(3, 3), k)
    assert change.now == r.Cell(12)
    assert change.before == HIDDEN
    assert change.change == HIDDEN
    # Many calls of few people are still few people.
    assert r.suppress(r.Raw(40, 2), k) == HIDDEN
    assert r.percentile({1: 1, 2: 1, 3: 1, 4: 1}, 0.5) == 2.5
    assert r.timing(r.RawTiming({10: 4}, 4), k).median is None


def _figures(database: Database, config: HotlineConfig) -> r.Report:
    with database.read() as session:
        return report_data.build(session, config, "islamism", OCTOBER)


def test_a_known_history_every_figure_and_the_roll_up(
    database: Database, config: HotlineConfig, settings: Settings
) -> None:
    history(database, config)
    report = _figures(database, config)
    assert report.previous.first == date(2026, 9, 1)
    line = report.lines[0]
    assert line.slug == "islamism"
    calls = line.calls
    assert calls.total == r.Compared(r.Cell(27), r.Cell(5), r.Cell(22))
    assert calls.accepted == r.Compared(r.Cell(11), r.Cell(5), r.Cell(6))
    assert calls.accepted_primary.now == r.Cell(6)
    assert calls.accepted_backup.now == r.Cell(5)
    assert calls.accepted_unknown_tier.now == r.Cell(0)
    # September's 5 accepted calls have no tier: one hidden part (with the total shown)
    # would be the rest, but there is none other non-zero: nothing hidden, all five shown.
    assert calls.accepted_unknown_tier.before == r.Cell(5)
    # Fallback: one caller, hidden; a second part hidden with it, one that appears nowhere
    # else: the hung-up calls (the voicemails are counted again in the tasks table).
    assert calls.fallback == r.Compared(HIDDEN, r.Cell(0), HIDDEN)
    assert calls.voicemail == r.Compared(r.Cell(5), r.Cell(0), r.Cell(5))
    assert calls.abandoned == r.Compared(HIDDEN, r.Cell(0), HIDDEN)
    assert calls.outside_hours.now == r.Cell(5)
    assert calls.answered_share is None  # the fallback is hidden
    assert calls.answered_share_before == 1.0
    # Ring seconds of accepted calls: 5 5 5 5 5 10 20 30 40 50 60.
    assert line.ring.now == r.Timing(r.Cell(11), 10.0, 50.0)
    # The timings' events are the accepted calls, in both periods.
    assert line.ring.before == r.Timing(r.Cell(5), 20.0, 20.0)
    assert line.talk.now.median == 100.0
    assert line.talk.now.events == calls.accepted.now
    assert line.talk.before == r.Timing(r.Cell(5), 200.0, 200.0)
    assert line.callers.callers == r.Compared(r.Cell(26), r.Cell(5), r.Cell(21))
    assert line.callers.repeat.now == r.Cell(5)
    assert line.callers.first_time.now == r.Cell(21)
    assert line.callers.relatives == r.Compared(HIDDEN, r.Cell(0), HIDDEN)
    assert line.voicemails.count.now == r.Cell(5)
    assert line.voicemails.time_to_done.now.median == 180.0
    # The heat map: Sunday 03:00 (after the clocks went back) holds the 5 closed-line calls.
    assert line.heat.cells[6][3] == r.Cell(5)
    assert line.heat.cells[6][4] == r.Cell(0)
    assert line.heat.cells[0][10] == HIDDEN  # Monday 5 October 10:00, one caller
    appointments = report.appointments
    assert appointments.booked.now == r.Cell(11)
    assert appointments.cancelled_by_client.now == HIDDEN
    assert appointments.held.now == HIDDEN  # complementary to the one cancelled by SMS
    assert appointments.no_show.now == r.Cell(5)
    assert appointments.cancelled_by_staff.now == r.Cell(0)
    assert report.rota.gap_hours.now == 31 * 24 + 1  # nobody on call; October has 745 hours
    # Nothing identifying in any export.
    body = as_json(report)
    assert body["lines"]["islamism"]["calls"]["fallback"] == "<5"
    assert body["lines"]["islamism"]["calls"]["total"] == 27
    exported = "".join(csv_text(table) for table in tables(report))
    assert "h1" not in exported.replace("heat", "")
    assert "Klient" not in exported
    assert "calls.fallback,<5,0," in exported

    # The roll-up: past the retention every call is counted into days, then deleted, and the
    # report stays the same (but for first-time/repeat callers, which need the hashes).
    retention = config.model_copy(
        update={"retention": config.retention.model_copy(update={"calls_days": 30})}
    )
    rolled = roll_up_calls(
        database, dataclasses.replace(settings, config=retention), berlin(2026, 12, 5)
    )
    assert rolled == 33
    with database.read() as session:
        assert session.scalar(select(func.count()).select_from(Call)) == 0
        assert session.scalar(select(func.count()).select_from(CallDay)) > 0
        assert session.scalar(select(func.count()).select_from(Voicemail)) == 5
    after = _figures(database, config)
    again = after.lines[0]
    assert again.calls == calls
    assert again.ring == line.ring
    assert again.talk == line.talk
    assert again.voicemails == line.voicemails
    assert again.heat.cells[6][3] == r.Cell(5)
    assert again.callers.relatives == line.callers.relatives
    assert again.callers.callers.now == r.Cell(0)  # who called is gone with the detail
    assert after.detail_since == date(2026, 10, 26)  # after the newest rolled-up day
    assert after.notes


def test_the_api_answers_reports_and_refuses_bad_input(
    client: TestClient, database: Database, config: HotlineConfig
) -> None:
    history(database, config)
    with database.write() as session:
        _, own = apikeys.create_api_key(session, "own", actor="t", teams=["islamism"])
        _, other = apikeys.create_api_key(session, "other", actor="t", teams=["right-wing"])
    client.headers["Authorization"] = f"Bearer {own}"
    answer = client.get("/api/v1/reports?team=islamism&from=2026-10-01&to=2026-10-31")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["team"] == "islamism"
    assert body["from"] == "2026-10-01"
    assert body["to"] == "2026-10-31"
    assert body["previous"] == {"from": "2026-09-01", "to": "2026-09-30"}
    assert body["lines"]["islamism"]["calls"] == {
        "total": 27,
        "accepted": 11,
        "accepted_primary": 6,
        "accepted_backup": 5,
        "accepted_unknown_tier": 0,
        "fallback": "<5",
        "voicemail": 5,
        "abandoned": "<5",
        "outside_hours": 5,
        "answered_share": None,
    }
    assert body["lines"]["islamism"]["change"]["calls"]["fallback"] == "<5"
    for query in (
        "team=islamism&from=2026-10-31&to=2026-10-01",
        "team=islamism&from=2026-13-01&to=2026-10-01",
        "team=islamism&from=2020-01-01&to=2026-10-31",
        "team=islamism&to=2026-10-31",
    ):
        refused = client.get(f"/api/v1/reports?{query}")
        assert refused.status_code == 422, (query, refused.text)
    # A key of some teams: another team's report and an unknown team are the same 403.
    unknown = client.get("/api/v1/reports?team=nobody&from=2026-10-01&to=2026-10-31")
    assert unknown.status_code == 403
    client.headers["Authorization"] = f"Bearer {other}"
    forbidden = client.get("/api/v1/reports?team=islamism&from=2026-10-01&to=2026-10-31")
    assert forbidden.status_code == 403
    assert forbidden.json() == unknown.json()


MARCH = r.between(date(2026, 3, 1), date(2026, 3, 31))  # the clocks go forward on the 29th


def march(database: Database, config: HotlineConfig) -> None:
    """March 2026 on line islamism (nothing in February):

    - calls on Sunday the 29th: 5 at 01:30 CET, 5 at 03:30 CEST (the hour between is skipped);
    - 6 callback requests (distinct numbers), 5 done after 10, 20, 30, 40, 50 minutes;
      7 call-backs of them: 1 not placed, 6 placed, 5 of those reached the client;
    - 5 conversations opened, 6 messages in (one client writes twice), 5 out: the first
      reply after 1, 2, 3, 4, 5 minutes; one conversation of February without a reply;
    - 21 appointments of one counsellor: 6 held, 5 no-shows, 5 cancelled by the client by SMS,
      5 by staff; their client reminders sent (6), missed (5), uncertain (5), failed (5), and
      one pending (not counted);
    - the rota: a primary shift from 1 March 00:00 to 15 March 00:00 and from 15 March 10:00
      to 1 April 00:00 (a 10-hour gap), a stand-in for 6 hours of it, 3 notices sent and 1
      failed."""
    with database.write() as session:
        team = team_by_slug(session, "islamism", config).id
        anna = add_counsellor(session, config, "islamism", name="Anna")
        ben = add_counsellor(session, config, "islamism", name="Ben")
        for i in range(10):
            at = berlin(2026, 3, 29, 1 if i < 5 else 3, 30)
            session.add(_call(i, at, "accepted", f"m{i}", tier="primary", ring=10, talk=60))
        requests = []
        for i in range(6):
            at = berlin(2026, 3, 2 + i, 9)
            request = CallbackRequest(
                line="islamism",
                team_id=team,
                phone_enc=b"x",
                phone_hash=f"p{i}",
                client_hash=f"c{i}",
                time_window="morgens",
                status="done" if i < 5 else "new",
                created_at=at,
                done_at=at + timedelta(minutes=10 * (i + 1)) if i < 5 else None,
            )
            requests.append(request)
        session.add_all(requests)
        session.flush()
        for i, (status, client) in enumerate(
            [("not_placed", None), ("completed", "no-answer")] + [("completed", "completed")] * 5
        ):
            target = requests[i % 6]
            session.add(
                OutboundCall(
                    kind="callback",
                    target_id=target.id if i < 6 else requests[0].id,
                    line="islamism",
                    counsellor_id=anna.id,
                    actor="t",
                    status=status,
                    client_status=client,
                    created_at=berlin(2026, 3, 10, 9 + i),
                )
            )
        for i in range(6):
            opened = berlin(2026, 3, 3 + i, 20) if i < 5 else berlin(2026, 2, 20, 20)
            conversation = Conversation(
                line="islamism",
                team_id=team,
                code=f"K{i}",
                channel="sms",
                state="closed",
                created_at=opened,
            )
            session.add(conversation)
            session.flush()
            messages = [("in", opened)] + (
                [("in", opened + timedelta(seconds=30))] if i == 0 else []
            )
            if i < 5:
                messages.append(("out", opened + timedelta(minutes=i + 1)))
            for direction, at in messages:
                session.add(
                    ConversationMessage(
                        conversation_id=conversation.id,
                        direction=direction,
                        status="delivered",
                        created_at=at,
                    )
                )
        parts = (
            [(AppointmentStatus.DONE, "sent")] * 6
            + [(AppointmentStatus.NO_SHOW, "missed")] * 5
            + [(AppointmentStatus.CANCELLED, "uncertain")] * 5
            + [(AppointmentStatus.CANCELLED, "failed")] * 5
        )
        for i, (status, state) in enumerate(parts):
            start = berlin(2026, 3, 2 + i, 10)
            appointment = Appointment(
                counsellor_id=anna.id,
                client_pseudonym=f"Klient {i}",
                start_at=start,
                end_at=start + timedelta(hours=1),
                mode=AppointmentMode.PHONE,
                status=status,
            )
            session.add(appointment)
            session.flush()
            if state == "uncertain":  # the five cancelled by the client by SMS
                audit.record(session, ACTOR, REPLY_ACTION, "appointment", appointment.id)
            for recipient, minutes, reminder_state in (
                ("client", 1440, state),
                ("counsellor", 60, "pending" if i == 0 else None),
            ):
                if reminder_state is None:
                    continue
                session.add(
                    Reminder(
                        appointment_id=appointment.id,
                        recipient=recipient,
                        offset_minutes=minutes,
                        appointment_start=start,
                        due_at=start - timedelta(minutes=minutes),
                        state=reminder_state,
                    )
                )
        for start, end in (
            (berlin(2026, 3, 1, 0), berlin(2026, 3, 15, 0)),
            (berlin(2026, 3, 15, 10), berlin(2026, 4, 1, 0)),
        ):
            session.add(
                Shift(
                    team_id=team, counsellor_id=anna.id, tier="primary", start_at=start, end_at=end
                )
            )
        session.add(
            StandIn(
                team_id=team,
                absent_id=anna.id,
                substitute_id=ben.id,
                start_at=berlin(2026, 3, 20, 8),
                end_at=berlin(2026, 3, 20, 14),
            )
        )
        for i, state in enumerate(["sent"] * 3 + ["failed"]):
            due = berlin(2026, 3, 14 + i, 18)
            session.add(
                ShiftNotice(
                    dedupe_key=f"notice-{i}",
                    counsellor_id=anna.id,
                    team_id=team,
                    kind="upcoming",
                    channel="sms",
                    due_at=due,
                    state=state,
                    sent_at=due if state == "sent" else None,
                )
            )


def test_march_relay_call_backs_requests_rota_reminders_appointments_and_the_dst_hour(
    database: Database, config: HotlineConfig
) -> None:
    march(database, config)
    with database.read() as session:
        report = report_data.build(session, config, "islamism", MARCH)
    line = report.lines[0]
    # The heat map of Sunday 29 March: 01:00 and 03:00; 02:00 did not exist that day.
    sunday = line.heat.cells[6]
    assert (sunday[1], sunday[2], sunday[3]) == (r.Cell(5), r.Cell(0), r.Cell(5))
    assert sum(cell.value or 0 for row in line.heat.cells for cell in row) == 10
    assert line.calls.total == r.Compared(r.Cell(10), r.Cell(0), r.Cell(10))
    assert line.callers.available
    assert line.callers.first_time.now == r.Cell(10)
    requests = line.callback_requests
    assert requests.count == r.Compared(r.Cell(6), r.Cell(0), r.Cell(6))
    # 5 of 6 done: the one not done (one client) would be 6 - 5; the time until done is of
    # five clients, shown without its count.
    assert requests.done.now == HIDDEN
    assert requests.time_to_done.now == r.Timing(HIDDEN, 1800.0, 2760.0)
    # 5 of 6 placed call-backs reached the client: the one that did not is one client.
    assert line.call_backs == r.CallBackFigures(
        r.Compared(r.Cell(6), r.Cell(0), r.Cell(6)), r.Compared(HIDDEN, r.Cell(0), HIDDEN)
    )
    relay = line.relay
    assert relay.conversations == r.Compared(r.Cell(5), HIDDEN, HIDDEN)  # February: one
    assert relay.messages_in.now == r.Cell(6)
    assert relay.messages_out.now == r.Cell(5)
    assert relay.first_reply.now == r.Timing(r.Cell(5), 180.0, 276.0)
    appointments = report.appointments
    assert appointments.booked.now == r.Cell(21)
    assert appointments.held.now == r.Cell(6)
    assert appointments.no_show.now == r.Cell(5)
    assert appointments.cancelled_by_client.now == r.Cell(5)
    assert appointments.cancelled_by_staff.now == r.Cell(5)
    assert appointments.open.now == r.Cell(0)
    reminders = report.reminders
    assert (reminders.sent.now, reminders.missed.now) == (r.Cell(6), r.Cell(5))
    assert (reminders.uncertain.now, reminders.failed.now) == (r.Cell(5), r.Cell(5))
    assert reminders.sent.before == r.Cell(0)
    rota = report.rota
    assert rota.gap_hours == r.hours(10, 28 * 24)  # February had no rota at all
    assert rota.stand_in_hours == r.hours(6, 0)
    assert rota.notices_sent == r.hours(3, 0)
    assert report.notes == ()

    # With the caller hash off, first-time and repeat callers show nothing (here, in the API's
    # JSON and in the CSV), while the calls are still counted.
    lines = dict(config.lines)
    lines["islamism"] = lines["islamism"].model_copy(update={"caller_hash": False})
    no_hash = config.model_copy(update={"lines": lines})
    with database.read() as session:
        hidden = report_data.build(session, no_hash, "islamism", MARCH)
    callers = hidden.lines[0].callers
    assert not callers.available
    assert {callers.callers.now, callers.first_time.now, callers.repeat.now} == {HIDDEN}
    assert hidden.lines[0].calls == line.calls
    assert hidden.notes == ("line islamism: caller hash off, no first-time or repeat callers",)
    body = as_json(hidden)["lines"]["islamism"]
    assert body["callers"]["available"] is False
    assert {body["callers"][name] for name in ("callers", "first_time", "repeat")} == {"<5"}
    assert body["relay"]["first_reply"] == {"events": 5, "median": 180.0, "p90": 276.0}


HOSTILE = (
    "team=islamism&from=0001-01-01&to=0001-12-31",
    "team=islamism&from=9999-01-01&to=9999-12-31",
    "team=islamism&from=0001-01-01T00:00:00%2B01:00&to=2026-01-01",  # out of range in Berlin
    "team=islamism&from=2026-01-01&to=9999-12-31T23:59:59-01:00",
    "team=islamism&from=2000-01-01&to=2999-12-31",  # longer than five years
    "team=islamism&from=2026-10-01T00:00:00&to=2026-10-31",  # an instant without offset
    "team=islamism&from=2026-10-01&to=2026-10-31T10:00%2B99:00",
    "team=islamism&from=%00&to=2026-10-31",
    "team=..%2F..%2Fetc&from=2026-10-01&to=2026-10-31",
    "team=" + "x" * 5000 + "&from=2026-10-01&to=2026-10-31",
    "team=islamism&from=2026-10-01&to=" + "9" * 400,
)


def test_hostile_report_queries_are_refused_with_422(
    client: TestClient, database: Database
) -> None:
    with database.write() as session:
        _, key = apikeys.create_api_key(session, "all", actor="t")  # every team
    client.headers["Authorization"] = f"Bearer {key}"
    for query in HOSTILE:
        answer = client.get(f"/api/v1/reports?{query}")
        assert answer.status_code == 422, (query[:80], answer.text)
        assert answer.json()["error"] == "invalid"


def test_one_client_spelled_differently_is_one_person(
    database: Database, config: HotlineConfig
) -> None:
    """Pseudonyms are typed by hand: "Kranich", " kranich" and "KRANICH " are one client, so
    her five appointments and their reminders are from one person, and suppressed."""
    spellings = ["Kranich", " kranich", "KRANICH ", "kra nich", "Kranich\t"]
    with database.write() as session:
        anna = add_counsellor(session, config, "islamism", name="Anna")
        for i, pseudonym in enumerate(spellings):
            start = berlin(2026, 10, 5 + i, 10)
            appointment = Appointment(
                counsellor_id=anna.id,
                client_pseudonym=pseudonym,
                start_at=start,
                end_at=start + timedelta(hours=1),
                mode=AppointmentMode.PHONE,
                status=AppointmentStatus.DONE,
            )
            session.add(appointment)
            session.flush()
            session.add(
                Reminder(
                    appointment_id=appointment.id,
                    recipient="client",
                    offset_minutes=1440,
                    appointment_start=start,
                    due_at=start - timedelta(days=1),
                    state="sent",
                )
            )
    report = _figures(database, config)
    assert report.appointments.booked.now == HIDDEN
    assert report.appointments.held.now == HIDDEN
    assert report.reminders.sent.now == HIDDEN
