"""Retention that really deletes (issue 18, items 4 and 5): Twilio's copies of everything the
service sent or received are deleted there after `[retention] twilio_days`, with what exists
only at Twilio (answers of TwiML, a relay's failed first attempt, the legs of a call); what the
audit log says of it (counts, not content)."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from html import unescape
from pathlib import Path

import httpx2 as httpx
import pytest
import time_machine
from sqlalchemy import select
from starlette.testclient import TestClient

from config.model import HotlineConfig
from config.settings import Settings
from foundation import access, copies, crypto, outbox
from foundation import reports as r
from foundation.access import Principal, TeamRef
from foundation.db import Database, checkpoint
from foundation.errors import Invalid, NotFound
from foundation.models import (
    AccessLogEntry,
    Appointment,
    AppointmentMode,
    AppointmentStatus,
    AuditEntry,
    Base,
    Call,
    CallbackRequest,
    Channel,
    Client,
    ClientCounsellor,
    ClientStatus,
    Conversation,
    ConversationMessage,
    ConversationState,
    Direction,
    DispatchState,
    OutboundCall,
    PlanNote,
    PlanStep,
    Reminder,
    Role,
    TaskStatus,
    TwilioCopy,
    Voicemail,
)
from foundation.teams import team_by_slug
from foundation.text import pseudonym_digest
from hotline import reports as hotline_reports
from hotline import twilio_copies
from hotline.tasks import retention
from scheduling import appointments, erasure, subject_requests
from scheduling import reports as scheduling_reports
from scheduling.clients import records
from tests.conftest import add_counsellor, berlin
from tests.fake_twilio import FakeTwilio
from tests.helpers import OnCall, live_twilio, post_signed, wait_for
from web.app import create_app

ISLAMISM = "+497112794555"
CLIENT = "+4917612345678"
NOON = berlin(2026, 12, 2, 12)  # a Wednesday: the line is open
EVENING = berlin(2026, 12, 2, 20)  # closed


def sid(prefix: str) -> str:
    return prefix + os.urandom(16).hex()


@dataclass
class Service:
    """The service with a fake Twilio behind it, and Twilio's side of the webhooks."""

    client: TestClient
    settings: Settings
    fake: FakeTwilio
    database: Database

    def post(self, url: str, params: dict[str, str]) -> httpx.Response:
        return post_signed(self.client, self.settings, url, params)

    def sms(self, sender: str, body: str) -> httpx.Response:
        """A message Twilio received (and keeps) and posts to the webhook; the TwiML answer
        it gets, if any, Twilio sends and reports to the answer's action URL."""
        message_sid = sid("SM")
        self.fake.received.add(message_sid)
        params = {"MessageSid": message_sid, "From": sender, "To": ISLAMISM, "Body": body}
        answer = self.post(self.settings.public_url + "/twilio/sms", params | {"NumMedia": "0"})
        assert answer.status_code == 200
        action = re.search(r'<Message action="([^"]+)"', answer.text)
        if action is not None:
            sent = sid("SM")
            self.fake.received.add(sent)  # Twilio keeps the answer it sent
            for status in ("sent", "delivered", "delivered"):  # callbacks come more than once
                reported = {"MessageSid": sent, "MessageStatus": status, "To": sender}
                assert self.post(unescape(action.group(1)), reported).status_code == 200
        return answer

    def call(self, caller: str) -> str:
        """An incoming call that a tier's Dial did not reach: Twilio keeps the call and the leg
        it dialled."""
        call_sid, leg = sid("CA"), sid("CA")
        self.fake.received_calls |= {call_sid, leg}
        params = {"CallSid": call_sid, "From": caller, "To": ISLAMISM, "CallStatus": "ringing"}
        answer = self.post(self.settings.public_url + "/twilio/voice", params)
        action = re.search(r'<Dial [^>]*action="([^"]+)"', answer.text)
        assert action is not None, answer.text
        dialed = params | {"DialCallSid": leg, "DialCallStatus": "no-answer"}
        assert self.post(unescape(action.group(1)), dialed).status_code == 200
        return call_sid

    def notice(self, to: str) -> None:
        """A notice to a counsellor through the outbox."""
        with self.database.write() as session:
            notice = outbox.queue(
                session,
                self.settings,
                to=to,
                body="Neue Sprachnachricht",
                from_number=ISLAMISM,
                purpose="voicemail",
            )
        provider = self.client.app.state.provider  # type: ignore[attr-defined]
        outbox.deliver(self.database, self.settings, provider, notice)

    def copies(self) -> list[TwilioCopy]:
        with self.database.read() as session:
            return list(session.scalars(select(TwilioCopy).order_by(TwilioCopy.id)))


@pytest.fixture
def service(settings: Settings, database: Database) -> Iterator[Service]:
    with (
        live_twilio(settings) as (live, fake),
        TestClient(create_app(live, database=database)) as client,
    ):
        yield Service(client, live, fake, database)


def audit_after(database: Database, action: str) -> list[dict[str, object]]:
    with database.read() as session:
        query = select(AuditEntry.after).where(AuditEntry.action == action)
        return [after or {} for after in session.scalars(query.order_by(AuditEntry.id))]


def test_twilio_keeps_nothing_the_service_sent_or_received_after_the_retention(
    service: Service, on_call: OnCall
) -> None:
    fake = service.fake
    with time_machine.travel(NOON, tick=False):
        service.sms(CLIENT, "Hallo, ich brauche Hilfe.")  # relayed to the primary
        wait_for(lambda: len(fake.messages) == 1, 10)
        first = fake.messages[0]
        # The primary's phone is off: the relay fails over to the backup. Its first attempt is
        # stored nowhere any more, but Twilio keeps it.
        for status in ("undelivered",):
            reported = {"MessageSid": first["Sid"], "MessageStatus": status}
            service.post(first["StatusCallback"], reported)
        wait_for(lambda: len(fake.messages) == 2, 10)
        # A reply without a code: the relay goes on, the counsellor is told so in TwiML.
        assert "Ohne Code" in service.sms(on_call.backup, "Ich bin da").text
        wait_for(lambda: len(fake.messages) == 3, 10)
        call_sid = service.call(CLIENT)
        service.notice(on_call.primary)
    with time_machine.travel(EVENING, tick=False):
        assert "erreichbar" in service.sms(CLIENT, "Ist jemand da?").text  # the hours, in TwiML
    held = fake.log()
    assert len(held) == 11  # 4 messages sent, 2 answers of TwiML, 3 received; a call, its leg
    # Every id is noted as it comes; the call's own from its record, once it is due.
    assert {copy.sid for copy in service.copies()} == held - {call_sid}

    retention.retention_job(service.database, service.settings, NOON + timedelta(days=29))
    assert fake.log() == held  # not yet

    retention.retention_job(service.database, service.settings, NOON + timedelta(days=31))
    assert fake.log() == set()
    assert service.copies() == []
    entries = audit_after(service.database, "delete_at_twilio")
    # The text relay's own retention took its five (hotline.conversations); these four exist
    # only at Twilio: the relay's failed first attempt, two answers of TwiML, the notice.
    assert sum(int(str(e.get("message", 0))) for e in entries) == 4
    assert sum(int(str(e.get("call", 0))) for e in entries) == 2
    written = json.dumps(entries)
    assert not any(s in written for s in held)  # counts, not ids
    assert CLIENT[3:] not in written


def test_what_twilio_cannot_delete_now_is_tried_again_later(
    service: Service, on_call: OnCall
) -> None:
    with time_machine.travel(NOON, tick=False):
        service.notice(on_call.primary)
    later = NOON + timedelta(days=31)
    service.fake.fail_next = 1
    retention.retention_job(service.database, service.settings, later)
    (waiting,) = service.copies()
    assert waiting.attempts == 1
    assert waiting.next_attempt_at == later + timedelta(hours=1)
    retention.retention_job(service.database, service.settings, later + timedelta(minutes=30))
    assert len(service.copies()) == 1  # not before its time
    retention.retention_job(service.database, service.settings, later + timedelta(hours=1))
    assert service.copies() == []
    assert service.fake.log() == set()


def test_ids_that_are_no_twilio_ids_are_not_kept(database: Database) -> None:
    with database.write() as session:
        assert not copies.record(session, "", Direction.IN, "incoming-sms")
        assert not copies.record(session, "SIM" + "0" * 30, Direction.OUT, "relay")
        assert not copies.record(session, "SM'; DROP TABLE x; --", Direction.IN, "incoming-sms")
        assert copies.record(session, "SM" + "a" * 32, Direction.IN, "incoming-sms")
        assert copies.record(session, "SM" + "a" * 32, Direction.IN, "incoming-sms")  # again
    with database.read() as session:
        assert session.scalars(select(TwilioCopy.sid)).all() == ["SM" + "a" * 32]


def test_in_simulation_mode_nothing_is_asked_of_twilio(
    database: Database, settings: Settings
) -> None:
    assert settings.simulation
    with database.write() as session:
        copies.record(session, "SM" + "b" * 32, Direction.IN, "incoming-sms", NOON)
    retention.retention_job(database, settings, NOON + timedelta(days=31))
    with database.read() as session:
        assert session.scalars(select(TwilioCopy)).all() == []
    (entry,) = audit_after(database, "delete_at_twilio")
    assert entry == {"message": 1, "simulated": True}


# --- clients and appointments -------------------------------------------------------------------

ENDED = berlin(2025, 4, 1, 10)
SESSION = berlin(2025, 3, 10, 14)  # in March 2025: the reports' period


@dataclass
class Seeded:
    """A client with one of everything linked, and what must not outlive it."""

    client_id: int
    team_id: int
    pseudonym: str
    phone: str
    phone_hash: str
    secrets: tuple[str, ...]  # plan text, place, message bodies, names: never after
    sids: set[str]


def seed_client(
    database: Database,
    settings: Settings,
    fake: FakeTwilio | None,
    counsellor_id: int,
    *,
    n: int = 1,
    at: datetime = SESSION,
    ended_at: datetime | None = ENDED,
) -> Seeded:
    """Client n of the islamism team with a done appointment, a conversation of two
    messages, a done voicemail of a call, a call-back, a plan step and a note; its Twilio ids
    held by `fake`."""
    box = crypto.box(settings)
    pseudonym, phone = f"Nordstern-Falke-{n}", f"+49176123450{n:02d}"
    phone_hash = crypto.keyed_hash(settings, "caller", phone)
    plan_text, place = f"Ausstiegsplan-Geheimnis-{n}", f"Cafe-Treffpunkt-{n}"
    bodies = (f"Nachricht-vom-Klienten-{n}", f"Antwort-an-Klienten-{n}")
    sids = {sid("SM"), sid("SM"), sid("CA"), sid("CA"), "RE" + os.urandom(16).hex()}
    ordered = sorted(sids)
    call_sid, back_sid = [s for s in ordered if s.startswith("CA")]
    message_in, message_out = [s for s in ordered if s.startswith("SM")]
    (recording,) = [s for s in ordered if s.startswith("RE")]
    if fake is not None:
        fake.received |= {message_in, message_out}
        fake.received_calls |= {call_sid, back_sid}
        fake.recordings[recording] = b"audio"
    with database.write() as session:
        team = team_by_slug(session, "islamism", settings.config)
        client = Client(
            team_id=team.id,
            pseudonym=pseudonym,
            phone_enc=box.seal(phone),
            phone_hash=phone_hash,
            status=ClientStatus.ENDED if ended_at else ClientStatus.IN_COUNSELLING,
            status_changed_at=ended_at or at,
            ended_at=ended_at,
            created_at=at - timedelta(days=30),
        )
        session.add(client)
        session.flush()
        session.add(ClientCounsellor(client_id=client.id, counsellor_id=counsellor_id))
        step = PlanStep(client_id=client.id, title_enc=box.seal(plan_text), notes_enc=None)
        session.add(step)
        session.flush()
        session.add(
            PlanNote(
                client_id=client.id, step_id=step.id, text_enc=box.seal(plan_text), author="tests"
            )
        )
        booked = appointments.book(
            session,
            settings,
            appointments.NewAppointment(
                counsellor_id,
                appointments.Client(pseudonym, phone, True),
                at,
                at + timedelta(hours=1),
                AppointmentMode.IN_PERSON,
                location=place,
            ),
            actor="tests",
            now=at + timedelta(hours=2),
        )
        booked.client_id = client.id
        appointments.mark(
            session,
            settings,
            booked.id,
            AppointmentStatus.DONE,
            actor="tests",
            now=at + timedelta(hours=2),
        )
        conversation = Conversation(
            line="islamism",
            team_id=team.id,
            code=f"K{n}",
            channel=Channel.SMS,
            client_enc=box.seal(phone),
            client_hash=crypto.keyed_hash(settings, "relay", f"sms:{phone}"),
            state=ConversationState.CLOSED,
            created_at=at,
            last_activity_at=at,
            closed_at=at + timedelta(days=1),
            client_id=client.id,
        )
        session.add(conversation)
        session.flush()
        for direction, body, message_sid, minutes in (
            (Direction.IN, bodies[0], message_in, 0),
            (Direction.OUT, bodies[1], message_out, 5),
        ):
            session.add(
                ConversationMessage(
                    conversation_id=conversation.id,
                    direction=direction,
                    body_enc=box.seal(body),
                    received_sid=message_sid if direction is Direction.IN else None,
                    provider_sid=message_sid if direction is Direction.OUT else None,
                    status="sent",
                    created_at=at + timedelta(minutes=minutes),
                )
            )
        call = Call(
            call_sid=call_sid,
            line="islamism",
            team_id=team.id,
            state="completed",
            outcome="voicemail",
            caller_hash=phone_hash,
            started_at=at - timedelta(days=1),
        )
        session.add(call)
        session.flush()
        voicemail = Voicemail(
            call_id=call.id,
            caller_hash=phone_hash,
            line="islamism",
            team_id=team.id,
            recording_sid=recording,
            duration_seconds=20,
            status=TaskStatus.DONE,
            created_at=at - timedelta(days=1),
            done_at=at - timedelta(hours=20),
            caller_phone_enc=box.seal(phone),
            client_id=client.id,
        )
        session.add(voicemail)
        session.flush()
        session.add(
            OutboundCall(
                kind="voicemail",
                target_id=voicemail.id,
                line="islamism",
                counsellor_id=counsellor_id,
                actor="tests",
                call_sid=back_sid,
                status="completed",
                client_status="completed",
                created_at=at - timedelta(hours=20),
                client_id=client.id,
            )
        )
        return Seeded(
            client.id,
            team.id,
            pseudonym,
            phone,
            phone_hash,
            (plan_text, place, *bodies),
            sids,
        )


def everything(database: Database) -> list[tuple[str, str, object]]:
    """Every value of every row of every table: (table, column, value)."""
    found = []
    with database.read() as session:
        for table in Base.metadata.sorted_tables:
            for row in session.execute(select(table)).mappings():
                found += [(table.name, column, value) for column, value in row.items()]
    return found


def assert_gone(database: Database, db_url: str, *seeded: Seeded) -> None:
    """Nothing of these clients is left: no row names their id as client, no value holds
    their pseudonym, number or its hash, nor (opened) their plan, place or messages; and on
    SQLite the file holds none of the words in clear."""
    for table in Base.metadata.sorted_tables:
        if "client_id" in table.c:
            with database.read() as session:
                ids = [s.client_id for s in seeded]
                assert (
                    session.scalars(
                        select(table.c.client_id).where(table.c.client_id.in_(ids))
                    ).all()
                    == []
                ), table.name
    values = everything(database)
    for client in seeded:
        words = (client.pseudonym, client.phone, client.phone[3:], client.phone_hash,
                 pseudonym_digest(client.pseudonym))  # fmt: skip
        for name, column, value in values:
            text = (
                value.decode("latin-1")
                if isinstance(value, bytes)
                else json.dumps(value, default=str)
            )
            for word in words:
                assert word not in text, (name, column)
    with database.read() as session:
        assert session.scalars(select(Client.id)).all() == []
    if db_url.startswith("sqlite"):
        checkpoint(database.engine)
        path = Path(db_url.removeprefix("sqlite:///"))
        for file in (path, path.with_name(path.name + "-wal")):
            if file.exists():
                data = file.read_bytes()
                for client in seeded:
                    for word in (
                        client.pseudonym,
                        client.phone,
                        client.phone_hash,
                        *client.secrets,
                    ):
                        assert word.encode() not in data, (file.name, word)


def report(database: Database, settings: Settings) -> object:
    """The team's report of March 2025, k = 2 (so that two clients show exactly)."""
    period = r.of_kind("month", SESSION.date())
    with database.read() as session:
        return (
            scheduling_reports.appointment_figures(session, settings.config, "islamism", period, 2),
            hotline_reports.line_figures(session, settings.config, "islamism", period, 2)[0],
        )


def test_a_client_goes_entirely_when_the_case_ended_longer_ago_than_the_retention(
    database: Database, live: tuple[Settings, FakeTwilio], db_url: str
) -> None:
    settings, fake = live
    with database.write() as session:
        counsellor_id = add_counsellor(session, settings.config, "islamism").id
    seeded = [seed_client(database, settings, fake, counsellor_id, n=n) for n in (1, 2)]
    before = report(database, settings)
    held = fake.log()
    assert held >= seeded[0].sids | seeded[1].sids

    due = ENDED + timedelta(days=730)
    assert erasure.retention_job(database, settings, due - timedelta(hours=1)).clients == 0
    with database.read() as session:
        assert len(session.scalars(select(Client.id)).all()) == 2

    assert erasure.retention_job(database, settings, due + timedelta(hours=1)).clients == 2
    assert report(database, settings) == before  # the counts stay
    # (The calls' own retention rolls them up now, which keeps no caller figures.)
    retention.retention_job(database, settings, due + timedelta(hours=1))  # Twilio's copies
    assert fake.log() == set()
    assert_gone(database, db_url, *seeded)

    with database.read() as session:
        entries = session.scalars(
            select(AuditEntry).where(AuditEntry.entity == "client", AuditEntry.action == "delete")
        ).all()
    assert sorted(e.entity_id or 0 for e in entries) == [s.client_id for s in seeded]
    after = entries[0].after or {}
    assert after["plan_steps"] == 1
    assert after["plan_notes"] == 1
    assert len(after["appointments"]) == 1
    assert after["messages"] == 2
    assert {e.actor for e in entries} == {"system:retention"}


def test_a_team_keeps_cases_as_long_as_it_says(
    database: Database, settings: Settings, config: HotlineConfig
) -> None:
    teams = dict(config.teams)
    teams["islamism"] = teams["islamism"].model_copy(update={"case_retention_days": 30})
    shorter = replace(settings, config=config.model_copy(update={"teams": teams}))
    with database.write() as session:
        counsellor_id = add_counsellor(session, config, "islamism").id
    seed_client(database, shorter, None, counsellor_id)
    assert erasure.retention_job(database, shorter, ENDED + timedelta(days=29)).clients == 0
    assert erasure.retention_job(database, shorter, ENDED + timedelta(days=31)).clients == 1


def test_a_case_not_ended_is_kept(database: Database, settings: Settings) -> None:
    with database.write() as session:
        counsellor_id = add_counsellor(session, settings.config, "islamism").id
    seed_client(database, settings, None, counsellor_id, ended_at=None)
    assert erasure.retention_job(database, settings, ENDED + timedelta(days=3650)).clients == 0


def test_appointments_without_a_client_lose_their_client_data_after_the_last_of_theirs(
    database: Database, settings: Settings, db_url: str
) -> None:
    with database.write() as session:
        counsellor_id = add_counsellor(session, settings.config, "islamism").id
    first, last = SESSION, SESSION + timedelta(days=100)
    for n, pseudonym, start in (
        (1, "Amsel-Winterlich", first),
        (2, "Amsel-Winterlich", last),
        (3, "Drossel-Sommerlich", first + timedelta(hours=2)),
    ):
        with database.write() as session:
            appointments.book(
                session,
                settings,
                appointments.NewAppointment(
                    counsellor_id,
                    appointments.Client(pseudonym, f"+4917612345{n:03d}", True),
                    start,
                    start + timedelta(hours=1),
                    AppointmentMode.VIDEO,
                    video_link=f"https://video.example/raum-geheim-{n}",
                ),
                actor="tests",
                now=start + timedelta(hours=2),
            )
    before = report(database, settings)
    # Past the first appointment's retention, not the last's: Amsel stays whole, Drossel goes.
    assert erasure.retention_job(database, settings, first + timedelta(days=731)).appointments == 1
    with database.read() as session:
        rows = session.scalars(select(Appointment).order_by(Appointment.id)).all()
    assert [a.client_pseudonym for a in rows[:2]] == ["Amsel-Winterlich"] * 2
    gone = rows[2]
    assert gone.client_pseudonym.startswith("(gelöscht ")
    assert (gone.client_phone_enc, gone.video_link, gone.sms_consent) == (None, None, False)
    assert gone.client_deleted_at == first + timedelta(days=731)
    assert erasure.retention_job(database, settings, last + timedelta(days=731)).appointments == 2
    with database.read() as session:
        pseudonyms = session.scalars(
            select(Appointment.client_pseudonym).order_by(Appointment.id)
        ).all()
    assert pseudonyms[0] == pseudonyms[1] != pseudonyms[2]  # one stand-in per pseudonym
    assert report(database, settings) == before
    text = json.dumps([str(v) for _, _, v in everything(database)])
    assert "Amsel" not in text
    assert "raum-geheim" not in text
    assert erasure.retention_job(database, settings, last + timedelta(days=900)).appointments == 0


# --- data-subject requests ----------------------------------------------------------------------


def staff(team_id: int, counsellor_id: int, slug: str = "islamism") -> Principal:
    return Principal(
        "user:9 berat",
        Role.COUNSELLOR,
        user_id=9,
        counsellor_id=counsellor_id,
        member_teams=frozenset({TeamRef(team_id, slug)}),
    )


def test_the_export_holds_everything_held_about_the_client(
    database: Database, settings: Settings
) -> None:
    with database.write() as session:
        counsellor_id = add_counsellor(session, settings.config, "islamism", name="Anna B").id
    seeded = seed_client(database, settings, None, counsellor_id, ended_at=None)
    with database.write() as session:
        session.add(
            CallbackRequest(
                line="islamism",
                team_id=seeded.team_id,
                name_enc=crypto.box(settings).seal("Vorname-Geheim"),
                phone_enc=crypto.box(settings).seal(seeded.phone),
                phone_hash="p" * 64,
                client_hash="c" * 64,
                time_window="morgens",
                message_enc=crypto.box(settings).seal("Bitte abends anrufen"),
                client_id=seeded.client_id,
            )
        )
    by = staff(seeded.team_id, counsellor_id)
    with database.write() as session:
        done = subject_requests.export(session, settings, seeded.client_id, by=by, now=NOON)
        subject_requests.log_export(session, by, done)
    document = done.document
    assert document["exported_at"] == "2026-12-02T12:00:00+01:00"
    client = document["client"]
    assert (client["pseudonym"], client["phone"], client["team"]) == (
        seeded.pseudonym,
        seeded.phone,
        "islamism",
    )
    assert client["counsellors"] == ["Anna B"]
    plan_text, place, message_in, message_out = seeded.secrets
    assert [s["title"] for s in document["plan"]["steps"]] == [plan_text]
    assert [n["text"] for n in document["plan"]["notes"]] == [plan_text]
    (appointment,) = document["appointments"]
    assert (appointment["location"], appointment["status"], appointment["phone"]) == (
        place,
        "done",
        seeded.phone,
    )
    assert appointment["start"] == "2025-03-10T14:00:00+01:00"
    (conversation,) = document["conversations"]
    assert [m["body"] for m in conversation["messages"]] == [message_in, message_out]
    assert conversation["address"] == seeded.phone
    (voicemail,) = document["voicemails"]
    assert (voicemail["caller_phone"], voicemail["recording"]) == (seeded.phone, "at_twilio")
    (request,) = document["callback_requests"]
    assert (request["name"], request["message"]) == ("Vorname-Geheim", "Bitte abends anrufen")
    (call_back,) = document["call_backs"]
    assert call_back["counsellor"] == "Anna B"
    json.dumps(document)  # plain JSON
    with database.read() as session:
        logged = session.scalars(select(AccessLogEntry.kind)).all()
    assert sorted(logged) == sorted(
        [
            "client_export",
            "client",
            "appointment",
            "conversation",
            "voicemail",
            "callback_request",
            "outbound_call",
        ]
    )


def test_erasure_now_leaves_nothing_of_the_client_here_or_at_twilio(
    database: Database, live: tuple[Settings, FakeTwilio], db_url: str
) -> None:
    settings, fake = live
    with database.write() as session:
        counsellor_id = add_counsellor(session, settings.config, "islamism").id
    now = NOON
    seeded = seed_client(
        database, settings, fake, counsellor_id, at=now - timedelta(days=3), ended_at=None
    )
    with database.write() as session:
        future = appointments.book(
            session,
            settings,
            appointments.NewAppointment(
                counsellor_id,
                appointments.Client(seeded.pseudonym, seeded.phone, True),
                now + timedelta(days=7),
                now + timedelta(days=7, hours=1),
                AppointmentMode.PHONE,
            ),
            actor="tests",
            now=now,
        )
        future.client_id = seeded.client_id
        future_id = future.id
        session.add(
            CallbackRequest(
                line="islamism",
                team_id=seeded.team_id,
                phone_enc=crypto.box(settings).seal(seeded.phone),
                phone_hash="p" * 64,
                client_hash="c" * 64,
                time_window="morgens",
                client_id=seeded.client_id,
            )
        )
    by = staff(seeded.team_id, counsellor_id)
    with database.write() as session, pytest.raises(Invalid):
        subject_requests.erase(session, settings, seeded.client_id, by=by, confirm="Falke")
    with database.read() as session:
        assert session.get(Client, seeded.client_id) is not None  # nothing changed
    with database.write() as session:
        erased = subject_requests.erase(
            session, settings, seeded.client_id, by=by, confirm=f"  {seeded.pseudonym} ", now=now
        )
    assert erased.counts["twilio_copies"] == 5
    twilio_copies.delete_copies(database, settings, now)
    assert fake.log() == set()
    assert_gone(database, db_url, seeded)
    with database.read() as session:
        cancelled = session.get(Appointment, future_id)
        assert cancelled is not None
        assert cancelled.status is AppointmentStatus.CANCELLED
        pending = session.scalars(
            select(Reminder).where(
                Reminder.appointment_id == future_id, Reminder.state == DispatchState.PENDING
            )
        ).all()
        assert pending == []
        (entry,) = session.scalars(select(AuditEntry).where(AuditEntry.action == "erase")).all()
        assert session.scalars(select(CallbackRequest)).all() == []
    assert entry.actor == by.actor
    assert entry.entity_id == seeded.client_id
    after = entry.after or {}
    assert len(after["appointments"]) == 2
    assert len(after["callback_requests"]) == 1


@pytest.mark.parametrize("who", ["admin", "other team", "read-only key"])
def test_a_request_for_a_client_not_yours_is_refused_and_changes_nothing(
    database: Database, settings: Settings, who: str
) -> None:
    with database.write() as session:
        counsellor_id = add_counsellor(session, settings.config, "islamism").id
        other = team_by_slug(session, "right-wing", settings.config)
        key = team_by_slug(session, "islamism", settings.config)
    seeded = seed_client(database, settings, None, counsellor_id, ended_at=None)
    by = {
        "admin": Principal("user:1 chef", Role.ADMIN, user_id=1),
        "other team": staff(other.id, counsellor_id, "right-wing"),
        "read-only key": access.for_api_key(3, "lesen", [key], read_only=True),
    }[who]
    before = everything(database)
    if who != "read-only key":
        with database.write() as session, pytest.raises(NotFound):
            subject_requests.export(session, settings, seeded.client_id, by=by)
    with database.write() as session, pytest.raises((NotFound, records.ReadOnly)):
        subject_requests.erase(session, settings, seeded.client_id, by=by)
    assert everything(database) == before


def test_a_call_rolled_up_before_twilio_forgets_it_is_still_deleted_there(
    database: Database, live: tuple[Settings, FakeTwilio], config: HotlineConfig
) -> None:
    """Twilio's copies kept longer than the call records: the CallSid is listed before the
    roll-up deletes the record, and Twilio's call goes when its own time comes."""
    settings, fake = live
    longer = config.model_copy(
        update={
            "retention": config.retention.model_copy(update={"calls_days": 30, "twilio_days": 60})
        }
    )
    settings = replace(settings, config=longer)
    call_sid = sid("CA")
    fake.received_calls.add(call_sid)
    with database.write() as session:
        session.add(Call(call_sid=call_sid, line="islamism", state="completed", started_at=SESSION))
    retention.retention_job(database, settings, SESSION + timedelta(days=40))
    with database.read() as session:
        assert session.scalars(select(Call)).all() == []  # rolled up
        (listed,) = session.scalars(select(TwilioCopy)).all()
    assert listed.sid == call_sid
    assert fake.log() == {call_sid}
    retention.retention_job(database, settings, SESSION + timedelta(days=61))
    assert fake.log() == set()
