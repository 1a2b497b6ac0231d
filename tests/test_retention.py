"""Retention that really deletes (issue 18, items 4 and 5): Twilio's copies of everything the
service sent or received are deleted there after `[retention] twilio_days`, with what exists
only at Twilio (answers of TwiML, a relay's failed first attempt, the legs of a call); what the
audit log says of it (counts, not content)."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from html import unescape

import httpx2 as httpx
import pytest
import time_machine
from sqlalchemy import select
from starlette.testclient import TestClient

from config.settings import Settings
from foundation import copies, outbox
from foundation.db import Database
from foundation.models import AuditEntry, Direction, TwilioCopy
from hotline.tasks import retention
from tests.conftest import berlin
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
        outbox.deliver(self.database, self.settings, self.client.app.state.provider, notice)

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
