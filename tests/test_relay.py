"""The text relay (issue 7, item 1): SMS and WhatsApp between clients and the on-call counsellor
through the line's number, end to end with signed webhooks and a Twilio-compatible fake REST
server on loopback; codes, the out-of-hours answer, failover to the backup, retention, privacy
(encrypted at rest, nothing in the logs) and the web page."""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import httpx2 as httpx
import pytest
import time_machine
from sqlalchemy import select, text
from starlette.testclient import TestClient

from config.model import SHIPPED, ConfigError, HotlineConfig, Relay, load_config
from config.settings import Settings
from foundation import access, crypto, outbox
from foundation.db import Database
from foundation.models import (
    AuditEntry,
    Channel,
    Conversation,
    ConversationMessage,
    ConversationState,
    Counsellor,
    Direction,
    Role,
    Tier,
)
from hotline import conversations
from hotline.relay import client_message, flood_limit, parsing, reply_pin, states
from hotline.relay.incoming import Answer, Incoming
from hotline.tasks import retention
from scheduling.shifts import Rota
from tests.conftest import add_counsellor, berlin
from tests.fake_twilio import FakeTwilio
from tests.helpers import OnCall, https_client, live_twilio, post_signed, wait_for
from tests.test_auth import PASSWORD, csrf_of, make_user, sign_in
from tests.test_i18n import choose
from tests.test_i18n_pages import no_german
from web.app import create_app

ISLAMISM = "+497112794555"
GENERAL = "+497112794556"
CLIENT = "+4917612345678"
OTHER_CLIENT = "+4917687654321"
NOON = berlin(2026, 12, 2, 12)  # a Wednesday: the line is open 09:00-18:00
EVENING = berlin(2026, 12, 2, 20)
# Words an answer to a client must never contain: a phone may be shared.
TELLING = ("konex", "Extremismus", "Ausstieg", "Islam", "Rechts", "Beratung", "Team", "Leitung")


@dataclass
class Line:
    """The service with a fake Twilio behind it, and Twilio's side of the webhooks."""

    client: TestClient
    settings: Settings
    fake: FakeTwilio
    database: Database

    def post(self, url: str, params: dict[str, str]) -> httpx.Response:
        """POST as Twilio does: signed over the full URL (with its query) and the parameters."""
        return post_signed(self.client, self.settings, url, params)

    def sms(
        self, sender: str, body: str, *, to: str = ISLAMISM, sid: str = "", **extra: str
    ) -> httpx.Response:
        params = {
            "MessageSid": sid or "SM" + os.urandom(16).hex(),
            "From": sender,
            "To": to,
            "Body": body,
            "NumMedia": "0",
            **extra,
        }
        return self.post(self.settings.public_url + "/twilio/sms", params)

    def status(self, sent: dict[str, str], status: str) -> httpx.Response:
        """Twilio's status callback for a message the service sent."""
        params = {"MessageSid": sent["Sid"], "MessageStatus": status, "SmsStatus": status}
        return self.post(sent["StatusCallback"], params)

    def sent(self, count: int) -> list[dict[str, str]]:
        wait_for(lambda: len(self.fake.messages) >= count, 10)
        return self.fake.messages


@pytest.fixture
def line(settings: Settings, database: Database) -> Iterator[Line]:
    with (
        live_twilio(settings) as (live, fake),
        TestClient(create_app(live, database=database)) as client,
    ):
        yield Line(client, live, fake, database)


@pytest.fixture
def noon() -> Iterator[time_machine.Coordinates]:
    with time_machine.travel(NOON, tick=False) as traveller:
        yield traveller


def rows(database: Database) -> list[ConversationMessage]:
    with database.read() as session:
        query = select(ConversationMessage).order_by(ConversationMessage.id)
        return list(session.scalars(query))


def conversations_of(database: Database) -> list[Conversation]:
    with database.read() as session:
        return list(session.scalars(select(Conversation).order_by(Conversation.id)))


def settled(line: Line, count: int) -> list[ConversationMessage]:
    """The message rows once `count` of them are no longer being sent."""
    pending = (states.QUEUED, states.SENDING)
    wait_for(lambda: sum(r.status not in pending for r in rows(line.database)) >= count, 10)
    return rows(line.database)


# --- codes --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "code", "rest"),
    [
        ("K7 Hallo", "K7", "Hallo"),
        ("k7: Hallo", "K7", "Hallo"),
        ("[K7] Hallo", "K7", "Hallo"),
        ("[ k12 ]Hallo", "K12", "Hallo"),
        ("#K7 Hallo", "K7", "Hallo"),
        ("  #k07 - Hallo", "K7", "Hallo"),
        ("K7", "K7", ""),
        ("Kein Code", None, "Kein Code"),
        ("K7x Hallo", None, "K7x Hallo"),
        ("Hallo K7", None, "Hallo K7"),
    ],
)
def test_a_leading_code_picks_the_conversation(body: str, code: str | None, rest: str) -> None:
    assert parsing.parse_code(body) == (code, rest)


# --- both ways ----------------------------------------------------------------------------------


def test_a_client_sms_reaches_the_primary_and_the_reply_the_client(
    line: Line, on_call: OnCall, noon: time_machine.Coordinates
) -> None:
    answer = line.sms(CLIENT, "Hallo, ich brauche Hilfe.")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/xml")
    assert "<Message" not in answer.text
    (relayed,) = line.sent(1)
    assert relayed["To"] == on_call.primary
    assert relayed["From"] == ISLAMISM
    assert relayed["Body"] == "[K1] Hallo, ich brauche Hilfe."
    assert CLIENT[3:] not in str(relayed)  # the counsellor never sees the client's number
    callback = urlsplit(relayed["StatusCallback"])
    assert callback.path == "/twilio/sms/status"
    assert dict(parse_qsl(callback.query))["leg"] == "primary"

    answer = line.sms(on_call.primary, "K1 Wir sind für Sie da. Wann passt es Ihnen?")
    assert "<Message" not in answer.text  # with a code: no notice
    reply = line.sent(2)[1]
    assert (reply["To"], reply["From"]) == (CLIENT, ISLAMISM)
    assert reply["Body"] == "Wir sind für Sie da. Wann passt es Ihnen?"
    assert on_call.primary[3:] not in str(reply)  # nor the client the counsellor's

    (conversation,) = conversations_of(line.database)
    assert (conversation.code, conversation.channel, conversation.state) == (
        "K1",
        Channel.SMS,
        ConversationState.OPEN,
    )
    incoming, outgoing = settled(line, 2)
    assert (incoming.direction, incoming.counsellor_id, incoming.tier) == (
        Direction.IN,
        on_call.primary_id,
        Tier.PRIMARY,
    )
    assert (outgoing.direction, outgoing.counsellor_id) == (Direction.OUT, on_call.primary_id)
    assert [r.status for r in (incoming, outgoing)] == [states.SENT, states.SENT]
    assert [r.provider_sid for r in (incoming, outgoing)] == [m["Sid"] for m in line.fake.messages]

    # The client writes again: the same conversation, the same code.
    line.sms(CLIENT, "Morgen um 10?")
    assert line.sent(3)[2]["Body"] == "[K1] Morgen um 10?"
    assert len(conversations_of(line.database)) == 1


def test_whatsapp_both_ways(line: Line, on_call: OnCall, noon: time_machine.Coordinates) -> None:
    line.sms("whatsapp:" + CLIENT, "Hallo über WhatsApp", to="whatsapp:" + ISLAMISM)
    relayed = line.sent(1)[0]
    assert (relayed["To"], relayed["From"]) == (on_call.primary, ISLAMISM)  # an SMS to her
    assert relayed["Body"] == "[K1] Hallo über WhatsApp"
    line.sms(on_call.primary, "[K1] Gern, schreiben Sie mir.")
    reply = line.sent(2)[1]
    assert reply["To"] == "whatsapp:" + CLIENT
    assert reply["From"] == "whatsapp:" + ISLAMISM
    assert reply["Body"] == "Gern, schreiben Sie mir."
    (conversation,) = conversations_of(line.database)
    assert conversation.channel == Channel.WHATSAPP
    # The same number by SMS is another conversation (replies must go back the same way).
    line.sms(CLIENT, "Und per SMS")
    assert line.sent(3)[2]["Body"] == "[K2] Und per SMS"


def test_a_message_delivered_twice_is_relayed_once(
    line: Line, on_call: OnCall, noon: time_machine.Coordinates
) -> None:
    sid = "SM" + "a" * 32
    line.sms(CLIENT, "Einmal bitte", sid=sid)
    line.sms(CLIENT, "Einmal bitte", sid=sid)
    line.sms(on_call.primary, "K1 Antwort", sid="SM" + "b" * 32)
    line.sms(on_call.primary, "K1 Antwort", sid="SM" + "b" * 32)
    line.sent(2)
    assert len(settled(line, 2)) == 2
    assert [m["Body"] for m in line.fake.messages] == ["[K1] Einmal bitte", "Antwort"]


# --- codes in replies ---------------------------------------------------------------------------


def test_codes_pick_the_conversation_and_no_code_goes_to_the_most_recent_with_a_notice(
    line: Line, on_call: OnCall, noon: time_machine.Coordinates
) -> None:
    line.sms(CLIENT, "Ich bin A")
    line.sms(OTHER_CLIENT, "Ich bin B")
    assert [m["Body"] for m in line.sent(2)] == ["[K1] Ich bin A", "[K2] Ich bin B"]

    assert "<Message" not in line.sms(on_call.primary, "#k1 An A").text
    assert "<Message" not in line.sms(on_call.primary, "[K2] An B").text
    assert [(m["To"], m["Body"]) for m in line.sent(4)[2:]] == [
        (CLIENT, "An A"),
        (OTHER_CLIENT, "An B"),
    ]

    # No code: the conversation last relayed to her (B's), and she is told.
    answer = line.sms(on_call.primary, "Ohne Code")
    assert ">Ohne Code an K2 gesendet." in answer.text
    assert (line.sent(5)[4]["To"], line.fake.messages[4]["Body"]) == (OTHER_CLIENT, "Ohne Code")

    line.sms(CLIENT, "Noch eine Frage")  # now A's was relayed last
    line.sent(6)
    assert "Ohne Code an K1 gesendet." in line.sms(on_call.primary, "Gern").text
    assert (line.sent(7)[6]["To"], line.fake.messages[6]["Body"]) == (CLIENT, "Gern")


def test_an_unknown_or_closed_code_is_explained_and_changes_nothing(
    line: Line, on_call: OnCall, noon: time_machine.Coordinates
) -> None:
    answer = line.sms(on_call.primary, "Hallo?")
    assert (
        ">Ihnen wurde kein offenes Gespräch weitergeleitet: nichts gesendet. "
        "Es gibt kein offenes Gespräch.</Message>" in answer.text
    )
    line.sms(CLIENT, "Ich bin A")
    line.sent(1)
    answer = line.sms(on_call.primary, "K9 Hallo")
    assert ">Kein offenes Gespräch K9: nichts gesendet. Offen: K1.</Message>" in answer.text
    # The backup was never relayed anything: without a code, nothing goes.
    answer = line.sms(on_call.backup, "Hallo")
    assert "kein offenes Gespräch weitergeleitet" in answer.text
    assert "Offen: K1." in answer.text
    assert "Leere Nachricht" in line.sms(on_call.primary, "K1").text
    with line.database.write() as session:
        conversation = session.scalars(select(Conversation)).one()
        conversation.state = ConversationState.CLOSED
        conversation.closed_at = NOON
    answer = line.sms(on_call.primary, "K1 Noch da?")
    assert "Gespräch K1 ist geschlossen: nichts gesendet." in answer.text
    assert len(line.fake.messages) == 1
    assert [r.direction for r in rows(line.database)] == [Direction.IN]


def test_a_counsellor_of_another_team_writes_as_a_client(
    line: Line, on_call: OnCall, config: HotlineConfig, noon: time_machine.Coordinates
) -> None:
    with line.database.write() as session:
        stranger = add_counsellor(session, config, "right-wing", name="Andere Person").phone
    line.sms(stranger, "K1 Hallo")
    assert line.sent(1)[0]["Body"] == "[K1] K1 Hallo"


# --- hours --------------------------------------------------------------------------------------


@pytest.mark.parametrize("moment", [EVENING, berlin(2026, 12, 25, 12)], ids=["evening", "holiday"])
def test_outside_hours_the_client_gets_the_hours_and_nothing_is_relayed(
    line: Line, on_call: OnCall, moment: object
) -> None:
    with time_machine.travel(moment, tick=False):
        answer = line.sms(CLIENT, "Ist jemand da?")
        again = line.sms(CLIENT, "Hallo?")
    assert answer.status_code == 200
    expected = (
        "Vielen Dank für Ihre Nachricht. Wir sind montags bis donnerstags von 9 bis 18 Uhr und "
        "freitags von 9 bis 16 Uhr erreichbar und antworten Ihnen dann. In einem Notfall wählen "
        "Sie bitte 110."
    )
    assert f">{expected}</Message>" in answer.text
    for word in TELLING:
        assert word.casefold() not in expected.casefold(), word
    assert "<Message" not in again.text  # once a night, not once a message
    assert line.fake.messages == []
    stored = rows(line.database)
    assert [(r.direction, r.status) for r in stored] == [
        (Direction.IN, states.HELD),
        (Direction.OUT, states.AUTO),
        (Direction.IN, states.HELD),
    ]
    assert all(r.counsellor_id is None for r in stored)
    assert len(conversations_of(line.database)) == 1  # stored for the team


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            "Merhaba, oğlum için yardım lazım",
            "Mesajınız için teşekkür ederiz. Bize şu saatlerde ulaşabilirsiniz: Pazartesi, Salı, "
            "Çarşamba ve Perşembe 09:00–18:00 ve Cuma 09:00–16:00. O zaman size yanıt vereceğiz. "
            "Acil bir durumda lütfen 110'u arayın.",
        ),
        (
            "Hello, I need help for my son",
            "Thank you for your message. You can reach us at these times: Monday, Tuesday, "
            "Wednesday and Thursday 09:00–18:00 and Friday 09:00–16:00. We will reply to you then. "
            "In an emergency, please call 110.",
        ),
        ("مرحبا، أحتاج إلى مساعدة", "شكرًا على رسالتك."),
        ("ok?", "Vielen Dank für Ihre Nachricht. Wir sind montags bis donnerstags"),
    ],
    ids=["turkish", "english", "arabic", "unrecognised"],
)
def test_the_out_of_hours_reply_is_in_the_clients_language(
    line: Line, on_call: OnCall, body: str, expected: str
) -> None:
    with time_machine.travel(EVENING, tick=False):
        answer = line.sms(CLIENT, body)
    # The reply carries an action (its status callback notes Twilio's copy for retention).
    assert re.search(r"<Message\b[^>]*>" + re.escape(expected), answer.text), answer.text
    for word in TELLING:
        assert word.casefold() not in answer.text.casefold(), word
    assert line.fake.messages == []


def test_the_out_of_hours_reply_comes_from_the_configuration(
    database: Database, settings: Settings, config: HotlineConfig, tmp_path: Path
) -> None:
    shipped = SHIPPED.read_text(encoding="utf-8")
    path = tmp_path / "hotline.toml"
    path.write_text(shipped.replace("Wir sind {hours}", "Wir sind {stunden}"), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"relay\.out_of_hours_reply: unknown placeholder"):
        load_config(path)
    own = config.model_copy(update={"relay": Relay(out_of_hours_reply="Erreichbar {hours}.")})
    with database.write() as session:
        answer = client_message.from_client(
            session,
            replace(settings, config=own),
            Incoming("islamism", CLIENT, "Hallo", "SM" + "e" * 32),
            EVENING,
            Rota(own),
        )
    assert answer == Answer(
        text="Erreichbar montags bis donnerstags von 9 bis 18 Uhr und freitags von 9 bis 16 Uhr."
    )


def test_nobody_on_call_stores_without_relaying(line: Line, noon: time_machine.Coordinates) -> None:
    answer = line.sms(CLIENT, "Hallo")
    assert answer.status_code == 200
    assert "<Message" not in answer.text
    assert [r.status for r in rows(line.database)] == [states.UNROUTED]
    assert line.fake.messages == []


# --- delivery and failover ----------------------------------------------------------------------


def test_undelivered_to_the_primary_goes_to_the_backup_exactly_once(
    line: Line, on_call: OnCall, noon: time_machine.Coordinates
) -> None:
    line.sms(CLIENT, "Bitte melden")
    first = line.sent(1)[0]
    settled(line, 1)
    assert line.status(first, "sent").status_code == 200
    assert line.status(first, "undelivered").status_code == 200
    second = line.sent(2)[1]
    assert (second["To"], second["From"], second["Body"]) == (
        on_call.backup,
        ISLAMISM,
        "[K1] Bitte melden",
    )
    assert dict(parse_qsl(urlsplit(second["StatusCallback"]).query))["leg"] == "backup"
    # Twilio repeats the callback, and a late one about the primary arrives: nothing more.
    for status in ("undelivered", "failed", "sent", "delivered"):
        assert line.status(first, status).status_code == 200
    (row,) = settled(line, 1)
    assert len(line.fake.messages) == 2
    assert (row.counsellor_id, row.tier, row.status) == (
        on_call.backup_id,
        Tier.BACKUP,
        states.SENT,
    )
    assert row.failed_over_at is not None
    assert row.provider_sid == second["Sid"]
    # The backup's own callbacks move it on; a failure there does not go round again.
    line.status(second, "delivered")
    line.status(second, "sent")
    assert rows(line.database)[0].status == states.DELIVERED
    # Without a code, the backup's reply goes to this conversation now.
    assert "Ohne Code an K1 gesendet." in line.sms(on_call.backup, "Ich bin da").text
    assert line.sent(3)[2]["To"] == CLIENT


def test_a_failed_reply_to_the_client_is_shown_not_rerouted(
    line: Line, on_call: OnCall, noon: time_machine.Coordinates
) -> None:
    line.sms(CLIENT, "Hallo")
    line.sent(1)
    line.sms(on_call.primary, "K1 Antwort")
    reply = line.sent(2)[1]
    settled(line, 2)
    line.status(reply, "failed")
    line.status(reply, "failed")
    assert [r.status for r in rows(line.database)] == [states.SENT, states.FAILED]
    assert len(line.fake.messages) == 2


def test_a_twilio_error_leaves_the_message_uncertain_never_doubled(
    line: Line, on_call: OnCall, noon: time_machine.Coordinates
) -> None:
    line.fake.fail_next = 1  # a 500: Twilio may have taken it
    line.sms(CLIENT, "Hallo")
    (row,) = settled(line, 1)
    assert row.status == states.UNCERTAIN
    assert line.fake.messages == []


# --- signatures and failures --------------------------------------------------------------------


def test_unsigned_or_forged_requests_are_refused(
    line: Line, on_call: OnCall, noon: time_machine.Coordinates
) -> None:
    params = {"MessageSid": "SM" + "c" * 32, "From": CLIENT, "To": ISLAMISM, "Body": "Hallo"}
    assert line.client.post("/twilio/sms", data=params).status_code == 403
    url = line.settings.public_url + "/twilio/sms"
    assert post_signed(line.client, line.settings, url, params, token="wrong").status_code == 403
    status = {"MessageSid": "SM" + "c" * 32, "MessageStatus": "undelivered"}
    assert line.client.post("/twilio/sms/status?m=1&leg=primary", data=status).status_code == 403
    assert rows(line.database) == []
    assert line.fake.messages == []


def test_a_broken_database_still_answers_empty_twiml(
    line: Line, on_call: OnCall, noon: time_machine.Coordinates
) -> None:
    line.sms(CLIENT, "Hallo")
    sent = line.sent(1)[0]
    settled(line, 1)
    with line.database.write() as session:
        session.execute(text("DROP TABLE conversation_messages"))
    for answer in (
        line.sms(CLIENT, "Noch einmal"),
        line.sms(on_call.primary, "K1 Antwort"),
        line.status(sent, "undelivered"),
    ):
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("application/xml")
        assert "<Response" in answer.text
        assert "<Message" not in answer.text
    assert len(line.fake.messages) == 1


# --- privacy ------------------------------------------------------------------------------------


def test_bodies_and_numbers_are_encrypted_at_rest(
    line: Line, on_call: OnCall, noon: time_machine.Coordinates
) -> None:
    line.sms(CLIENT, "Mein Geheimnis")
    line.sms(on_call.primary, "K1 Ihre Antwort")
    line.sent(2)
    stored = settled(line, 2)
    (conversation,) = conversations_of(line.database)
    box = crypto.box(line.settings)
    assert conversation.client_enc is not None
    assert CLIENT.encode() not in conversation.client_enc
    assert CLIENT[3:].encode() not in conversation.client_enc
    assert box.open(conversation.client_enc) == CLIENT
    assert conversation.client_hash is not None
    assert CLIENT[3:] not in conversation.client_hash
    for row, plain in zip(stored, ("Mein Geheimnis", "Ihre Antwort"), strict=True):
        assert row.body_enc is not None
        assert plain.encode() not in row.body_enc
        assert box.open(row.body_enc) == plain
    with line.database.read() as session:
        audit = " ".join(f"{e.before}{e.after}" for e in session.scalars(select(AuditEntry)))
    assert "Geheimnis" not in audit
    assert CLIENT[3:] not in audit


def test_numbers_and_bodies_never_reach_the_log(
    line: Line, on_call: OnCall, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("DEBUG"):
        with time_machine.travel(NOON, tick=False):
            line.sms(CLIENT, "Mein Geheimnis")
            first = line.sent(1)[0]
            settled(line, 1)
            line.status(first, "undelivered")
            line.sms(on_call.backup, "Streng vertraulich")
            line.sms(on_call.primary, "K9 Unbekannt vertraulich")
            line.sent(3)
            settled(line, 2)
        with time_machine.travel(EVENING, tick=False):
            line.sms(OTHER_CLIENT, "Nachts geheim")
    assert "relay" in caplog.text  # it does log, by id
    for secret in (
        CLIENT,
        CLIENT[3:],
        OTHER_CLIENT[3:],
        on_call.primary[3:],
        on_call.backup[3:],
        "Geheimnis",
        "vertraulich",
        "geheim",
    ):
        assert secret not in caplog.text, secret


# --- retention ----------------------------------------------------------------------------------


def test_retention_deletes_old_bodies_and_closed_conversations_numbers(
    line: Line, on_call: OnCall
) -> None:
    old = NOON - timedelta(days=40)
    with time_machine.travel(NOON, tick=False):
        line.sms(CLIENT, "Alt und geschlossen")
        line.sms(OTHER_CLIENT, "Alt und offen")
        line.sent(2)
        settled(line, 2)
    with line.database.write() as session:
        for row in session.scalars(select(ConversationMessage)):
            row.created_at = old
        for conversation in session.scalars(select(Conversation)):
            if conversation.code == "K1":
                conversation.state, conversation.closed_at = ConversationState.CLOSED, old
    with time_machine.travel(NOON, tick=False):
        line.sms(OTHER_CLIENT, "Neu")
        line.sent(3)
        settled(line, 3)
        retention.retention_job(line.database, line.settings)
        retention.retention_job(line.database, line.settings)  # idempotent
    closed, still_open = conversations_of(line.database)
    assert (closed.client_enc, closed.client_hash) == (None, None)
    assert still_open.client_enc is not None  # open: the reply must still find the client
    assert [r.body_enc is None for r in rows(line.database)] == [True, True, False]
    with line.database.read() as session:
        (entry,) = session.scalars(select(AuditEntry).where(AuditEntry.action == "purge"))
    assert (entry.actor, entry.entity) == ("system:retention", "conversation")
    assert entry.after == {"closed": 0, "bodies": 2, "addresses": 1, "outbox": 0}


def test_retention_also_clears_the_simulation_outbox(
    client: TestClient, settings: Settings, database: Database, on_call: OnCall
) -> None:
    params = {"MessageSid": "SM" + "d" * 32, "From": CLIENT, "To": ISLAMISM, "Body": "Hallo"}
    url = settings.public_url + "/twilio/sms"
    with time_machine.travel(NOON, tick=False):
        assert post_signed(client, settings, url, params).status_code == 200
    with database.read() as session:
        (copy,) = outbox.recent(session, settings)
    assert (copy.purpose, copy.to, copy.body) == ("relay", on_call.primary, "[K1] Hallo")
    retention.retention_job(database, settings, NOON + timedelta(days=31))
    with database.read() as session:
        assert outbox.recent(session, settings) == []
        assert session.scalars(select(ConversationMessage.body_enc)).one() is None


# --- the web page -------------------------------------------------------------------------------


@pytest.fixture
def browser(line: Line) -> Iterator[TestClient]:
    with TestClient(
        line.client.app, base_url="https://testserver", follow_redirects=False
    ) as browser:
        yield browser


def test_the_team_sees_its_conversations_and_replies_from_the_page(
    line: Line, on_call: OnCall, browser: TestClient, noon: time_machine.Coordinates
) -> None:
    config = line.settings.config
    make_user(line.database, config, "koordination", Role.COORDINATOR, "islamism")
    line.sms(CLIENT, "Hallo <script>alert(1)</script>")
    line.sent(1)
    settled(line, 1)
    (conversation,) = conversations_of(line.database)
    sign_in(browser, "koordination")
    listing = browser.get("/conversations")
    assert listing.status_code == 200
    assert f'href="/conversations/{conversation.id}"' in listing.text
    assert "K1" in listing.text
    assert "SMS" in listing.text
    assert "Hallo" not in listing.text  # the list shows no content
    assert 'href="/conversations"' in browser.get("/").text  # linked from the navigation
    assert "1 offenes Gespräch" in browser.get("/").text

    page = browser.get(f"/conversations/{conversation.id}")
    assert page.status_code == 200
    assert "Hallo &lt;script&gt;alert(1)&lt;/script&gt;" in page.text  # escaped
    assert "•••678" in page.text  # masked
    assert CLIENT[3:] not in page.text
    assert "weitergeleitet an Primär Person" in page.text

    csrf = csrf_of(page.text)
    url = f"/conversations/{conversation.id}"
    assert browser.post(f"{url}/reply", data={"body": "Ohne Token"}).status_code == 403
    empty = browser.post(f"{url}/reply", data={"body": "  ", "csrf": csrf})
    assert empty.status_code == 422
    assert "Bitte schreiben Sie eine Nachricht." in empty.text
    too_long = browser.post(f"{url}/reply", data={"body": "x" * 1601, "csrf": csrf})
    assert too_long.status_code == 422
    assert len(line.fake.messages) == 1
    done = browser.post(f"{url}/reply", data={"body": "Antwort aus dem Portal", "csrf": csrf})
    assert (done.status_code, done.headers["location"]) == (303, url)
    sent = line.sent(2)[1]
    assert (sent["To"], sent["From"], sent["Body"]) == (CLIENT, ISLAMISM, "Antwort aus dem Portal")
    assert "Antwort von koordination" in browser.get(url).text

    closed = browser.post(f"{url}/state", data={"action": "close", "csrf": csrf})
    assert closed.status_code == 303
    refused = browser.post(f"{url}/reply", data={"body": "Noch etwas", "csrf": csrf})
    assert refused.status_code == 409
    assert "Das Gespräch ist geschlossen." in refused.text
    assert "Noch etwas" in refused.text  # the draft is kept
    # The client writes again: a new conversation, a new code (K1 rests a while).
    line.sms(CLIENT, "Hallo nochmal")
    assert line.sent(3)[2]["Body"] == "[K2] Hallo nochmal"
    reopen = browser.post(f"{url}/state", data={"action": "reopen", "csrf": csrf})
    assert reopen.status_code == 409
    assert "schon ein offenes Gespräch (K2)" in reopen.text
    with line.database.read() as session:
        actions = session.scalars(
            select(AuditEntry.action).where(AuditEntry.entity == "conversation")
        ).all()
    assert actions == ["reply", "close"]


def test_the_conversation_pages_in_english_have_no_german_left(
    line: Line, on_call: OnCall, browser: TestClient, noon: time_machine.Coordinates
) -> None:
    config = line.settings.config
    make_user(line.database, config, "koordination", Role.COORDINATOR, "islamism")
    line.sms(CLIENT, "Hallo, ich brauche Hilfe")
    line.sent(1)
    settled(line, 1)
    (conversation,) = conversations_of(line.database)
    sign_in(browser, "koordination")
    choose(browser, "en")
    names = ("koordination", "Primär Person", "Hallo, ich brauche Hilfe")
    listing = browser.get("/conversations")
    assert "Open (1)" in listing.text
    assert no_german(listing.text, config, names) == []
    url = f"/conversations/{conversation.id}"
    page = browser.get(url)
    assert "Conversation K1" in page.text
    assert "forwarded to Primär Person:" in page.text
    assert no_german(page.text, config, names) == []
    csrf = csrf_of(page.text)
    too_long = browser.post(f"{url}/reply", data={"body": "x" * 1601, "csrf": csrf})
    assert too_long.status_code == 422
    assert "A message has at most 1600 characters." in too_long.text
    browser.post(f"{url}/reply", data={"body": "Antwort", "csrf": csrf})
    line.sent(2)
    browser.post(f"{url}/state", data={"action": "close", "csrf": csrf})
    line.sms(CLIENT, "Hallo nochmal")
    line.sent(3)
    reopen = browser.post(f"{url}/state", data={"action": "reopen", "csrf": csrf})
    assert reopen.status_code == 409
    assert "There is already an open conversation with this person (K2)." in reopen.text
    assert "Reply from koordination" in reopen.text
    assert no_german(reopen.text, config, (*names, "Antwort", "Hallo nochmal")) == []


def test_reopening_takes_a_new_code_if_the_old_one_is_taken(
    line: Line, on_call: OnCall, browser: TestClient, noon: time_machine.Coordinates
) -> None:
    make_user(line.database, line.settings.config, "koordination", Role.COORDINATOR, "islamism")
    line.sms(CLIENT, "A")
    line.sent(1)
    with line.database.write() as session:
        first = session.scalars(select(Conversation)).one()
        first.state, first.closed_at = ConversationState.CLOSED, NOON
        first.last_activity_at = NOON - timedelta(days=8)  # its code has rested
        first_id = first.id
    line.sms(OTHER_CLIENT, "B")
    assert line.sent(2)[1]["Body"] == "[K1] B"
    sign_in(browser, "koordination")
    csrf = csrf_of(browser.get("/conversations").text)
    answer = browser.post(
        f"/conversations/{first_id}/state", data={"action": "reopen", "csrf": csrf}
    )
    assert answer.status_code == 303
    codes = {c.id: (c.code, c.state) for c in conversations_of(line.database)}
    assert codes[first_id] == ("K2", ConversationState.OPEN)


def test_other_teams_and_admins_see_no_content(
    line: Line, on_call: OnCall, browser: TestClient, noon: time_machine.Coordinates
) -> None:
    config = line.settings.config
    make_user(line.database, config, "chef", Role.ADMIN)
    make_user(line.database, config, "rechts", Role.COUNSELLOR, "right-wing")
    line.sms(CLIENT, "Nur fürs Team")
    line.sent(1)
    (conversation,) = conversations_of(line.database)
    url = f"/conversations/{conversation.id}"

    sign_in(browser, "rechts")
    assert "Team Islamismus" not in browser.get("/conversations").text
    assert browser.get(url).status_code == 404  # another team's: as if it did not exist
    csrf = csrf_of(browser.get("/").text)
    assert browser.post(f"{url}/reply", data={"body": "x", "csrf": csrf}).status_code == 404
    assert browser.post(f"{url}/state", data={"action": "close", "csrf": csrf}).status_code == 404

    browser.cookies.clear()
    sign_in(browser, "chef")
    listing = browser.get("/conversations")
    assert "Team Islamismus" in listing.text
    assert "K1" in listing.text
    page = browser.get(url)
    assert page.status_code == 200
    assert "Nur fürs Team" not in page.text
    assert "•••678" not in page.text
    assert "sieht nur das Team" in page.text
    csrf = csrf_of(page.text)
    assert browser.post(f"{url}/reply", data={"body": "x", "csrf": csrf}).status_code == 403
    assert browser.post(f"{url}/state", data={"action": "close", "csrf": csrf}).status_code == 403
    assert len(line.fake.messages) == 1
    assert conversations_of(line.database)[0].state == ConversationState.OPEN
    assert browser.get("/conversations/999").status_code == 404


def test_a_counsellor_replies_from_the_page_in_her_name(
    line: Line, on_call: OnCall, browser: TestClient, noon: time_machine.Coordinates
) -> None:
    make_user(line.database, line.settings.config, "beraterin", Role.COUNSELLOR, "islamism")
    line.sms("whatsapp:" + CLIENT, "Hallo", to="whatsapp:" + ISLAMISM)
    line.sent(1)
    (conversation,) = conversations_of(line.database)
    sign_in(browser, "beraterin")
    url = f"/conversations/{conversation.id}"
    csrf = csrf_of(browser.get(url).text)
    browser.post(f"{url}/reply", data={"body": "Guten Tag", "csrf": csrf})
    sent = line.sent(2)[1]
    assert (sent["To"], sent["From"]) == ("whatsapp:" + CLIENT, "whatsapp:" + ISLAMISM)
    assert "Antwort von Beraterin" in browser.get(url).text


# --- review findings (issue 7 item 1) -----------------------------------------------------------


def _change_state(database: Database, conversation_id: int, action: str) -> None:
    with database.write() as session:
        conversations.change_state(
            session, conversation_id, action, actor="t", by=access.system("t")
        )


def test_a_reopened_conversation_keeps_its_code_only_if_no_other_used_it_within_the_rest(
    line: Line, on_call: OnCall, noon: time_machine.Coordinates
) -> None:
    line.sms(CLIENT, "Ich bin A")
    line.sent(1)
    with line.database.write() as session:
        a = session.scalars(select(Conversation)).one()
        a.state, a.closed_at = ConversationState.CLOSED, NOON - timedelta(days=9)
        a.last_activity_at = NOON - timedelta(days=9)  # K1 has rested: B may have it
        a_id = a.id
    line.sms(OTHER_CLIENT, "Ich bin B, bitte antworten")
    assert line.sent(2)[1]["Body"] == "[K1] Ich bin B, bitte antworten"
    (b_id,) = [c.id for c in conversations_of(line.database) if c.id != a_id]
    _change_state(line.database, b_id, "close")
    # A is reopened: K1 was B's minutes ago, so A takes a fresh code, as a new one would.
    _change_state(line.database, a_id, "reopen")
    codes = {c.id: (c.code, c.state) for c in conversations_of(line.database)}
    assert codes == {
        a_id: ("K2", ConversationState.OPEN),
        b_id: ("K1", ConversationState.CLOSED),
    }
    # A late reply meant for B reaches nobody, and says so.
    answer = line.sms(on_call.primary, "K1 Antwort an B: wir rufen morgen an")
    assert "Gespräch K1 ist geschlossen: nichts gesendet." in answer.text
    # Closed and reopened with nobody else on its code: the code stays.
    _change_state(line.database, a_id, "close")
    _change_state(line.database, a_id, "reopen")
    assert {c.id: c.code for c in conversations_of(line.database)}[a_id] == "K2"
    # Once B's code has rested too, a reopened B keeps it.
    with line.database.write() as session:
        b = session.get_one(Conversation, b_id)
        b.last_activity_at = NOON - timedelta(days=8)
    _change_state(line.database, b_id, "reopen")
    assert {c.id: c.code for c in conversations_of(line.database)}[b_id] == "K1"
    assert len(line.sent(2)) == 2


def test_a_reply_without_code_never_falls_back_to_an_older_client(
    line: Line, on_call: OnCall, noon: time_machine.Coordinates
) -> None:
    line.sms(CLIENT, "Ich bin A")
    line.sms(OTHER_CLIENT, "Ich bin B")
    assert [m["Body"] for m in line.sent(2)] == ["[K1] Ich bin A", "[K2] Ich bin B"]
    (k2,) = [c.id for c in conversations_of(line.database) if c.code == "K2"]
    _change_state(line.database, k2, "close")  # a colleague closes B's conversation
    answer = line.sms(on_call.primary, "Danke B, bis morgen um 10 bei Ihnen zu Hause")
    assert (
        ">Gespräch K2, zuletzt an Sie weitergeleitet, ist geschlossen: nichts gesendet. "
        "Für ein anderes Gespräch den Code voranstellen, z. B. „K3 …“. Offen: K1.</Message>"
    ) in answer.text
    assert [r.direction for r in rows(line.database)] == [Direction.IN, Direction.IN]
    # With the code, A is reached as before.
    assert "<Message" not in line.sms(on_call.primary, "K1 Hallo A").text
    assert line.sent(3)[2]["To"] == CLIENT
    assert len(line.fake.messages) == 3


def test_a_reply_without_code_long_after_the_relay_asks_for_the_code(
    line: Line, on_call: OnCall
) -> None:
    hours = line.settings.config.relay.reply_without_code_hours
    assert hours == 12
    with time_machine.travel(NOON, tick=False):
        line.sms(CLIENT, "Ich bin A")
        line.sent(1)
    with time_machine.travel(NOON + timedelta(hours=11, minutes=59), tick=False):
        assert "Ohne Code an K1 gesendet." in line.sms(on_call.primary, "Noch da?").text
        assert line.sent(2)[1]["To"] == CLIENT
    with time_machine.travel(NOON + timedelta(hours=12, minutes=1), tick=False):
        answer = line.sms(on_call.primary, "Guten Morgen")
        assert (
            ">Die letzte Weiterleitung an Sie (K1) ist über 12 Stunden her: nichts "
            "gesendet. Bitte den Code voranstellen, z. B. „K1 …“.</Message>"
        ) in answer.text
        assert "<Message" not in line.sms(on_call.primary, "K1 Guten Morgen").text
        assert line.sent(3)[2]["Body"] == "Guten Morgen"
    assert len(line.fake.messages) == 3


def test_a_reopening_and_a_message_of_the_same_client_at_once_lose_nothing(
    database: Database, settings: Settings, on_call: OnCall
) -> None:
    """Two real transactions: the reopening holds its locks while the client's message comes
    in; the message waits for the team's row, then joins the reopened conversation."""
    import threading

    with database.write() as session:
        client_message.from_client(
            session,
            settings,
            Incoming("islamism", CLIENT, "1", "SM1"),
            NOON,
            Rota(settings.config),
        )
    with database.write() as session:
        conversation = session.scalars(select(Conversation)).one()
        conversation.state, conversation.closed_at = ConversationState.CLOSED, NOON
        conversation_id = conversation.id
    errors: list[BaseException] = []
    reopened, release = threading.Event(), threading.Event()

    def reopen() -> None:
        with database.write() as session:
            conversations.change_state(
                session, conversation_id, "reopen", actor="t", by=access.system("t"), now=NOON
            )
            session.flush()
            reopened.set()
            release.wait(5)

    def message() -> None:
        try:
            with database.write() as session:
                incoming = Incoming("islamism", CLIENT, "2", "SM2")
                client_message.from_client(session, settings, incoming, NOON, Rota(settings.config))
        except BaseException as exc:
            errors.append(exc)

    first = threading.Thread(target=reopen)
    first.start()
    assert reopened.wait(5)
    second = threading.Thread(target=message)
    second.start()
    second.join(0.5)
    assert second.is_alive()  # waiting for the team's row (SQLite: the write lock)
    release.set()
    first.join()
    second.join()
    assert errors == []
    (conversation,) = conversations_of(database)
    assert conversation.state == ConversationState.OPEN
    assert [r.conversation_id for r in rows(database)] == [conversation_id] * 2


def test_a_collision_on_a_unique_index_is_handled_again_not_lost(
    line: Line, on_call: OnCall, noon: time_machine.Coordinates, caplog: pytest.LogCaptureFixture
) -> None:
    """A writer that does not take the team's lock reopens the client's conversation while the
    webhook handles the client's next message: on PostgreSQL the webhook's new conversation
    waits on the unique index, then breaks; it is handled once more and joins the reopened one."""
    import threading

    line.sms(CLIENT, "Erste")
    line.sent(1)
    (conversation,) = conversations_of(line.database)
    _change_state(line.database, conversation.id, "close")
    reopened, done = threading.Event(), threading.Event()

    def rival() -> None:
        with line.database.write() as session:
            session.get_one(Conversation, conversation.id).state = ConversationState.OPEN
            session.flush()
            reopened.set()
            done.wait(1.0)

    thread = threading.Thread(target=rival)
    thread.start()
    assert reopened.wait(5)
    with caplog.at_level("WARNING"):
        answer = line.sms(CLIENT, "Zweite")
    done.set()
    thread.join()
    assert answer.status_code == 200
    assert line.sent(2)[1]["Body"] == "[K1] Zweite"
    assert [c.id for c in conversations_of(line.database)] == [conversation.id]
    assert [r.conversation_id for r in rows(line.database)] == [conversation.id] * 2
    if line.database.engine.dialect.name == "postgresql":
        assert "collided; handling the message again" in caplog.text


def test_retention_deletes_twilios_copies_and_retries_what_failed(
    line: Line, on_call: OnCall
) -> None:
    client_sid, reply_sid, unknown_sid = ("SM" + c * 32 for c in "123")
    line.fake.received |= {client_sid, reply_sid}  # Twilio keeps incoming messages too
    with time_machine.travel(NOON, tick=False):
        line.sms(CLIENT, "Alt", sid=client_sid)
        line.sms(on_call.primary, "K1 Alte Antwort", sid=reply_sid)
        line.sms(OTHER_CLIENT, "Alt, bei Twilio schon weg", sid=unknown_sid)
        line.sent(3)
        settled(line, 3)
    with line.database.write() as session:
        for row in session.scalars(select(ConversationMessage)):
            row.created_at = NOON - timedelta(days=40)
    with time_machine.travel(NOON, tick=False):
        line.sms(CLIENT, "Neu")
        line.sent(4)
        settled(line, 4)
    relayed, reply, gone, new = (m["Sid"] for m in line.fake.messages)
    line.fake.fail_next = 1  # Twilio fails on the first DELETE: tried again next run
    retention.retention_job(line.database, line.settings, NOON)
    assert line.fake.deleted_messages == [reply_sid, reply, gone]  # unknown_sid: a 404
    assert [r.provider_deleted_at is not None for r in rows(line.database)] == [
        False,
        True,
        True,
        False,
    ]
    retention.retention_job(line.database, line.settings, NOON + timedelta(hours=1))
    retention.retention_job(line.database, line.settings, NOON + timedelta(hours=2))
    assert line.fake.deleted_messages == [reply_sid, reply, gone, client_sid, relayed]
    assert [r.provider_deleted_at is not None for r in rows(line.database)] == [
        True,
        True,
        True,
        False,  # within the retention: stays
    ]
    assert new not in line.fake.deleted_messages


def test_retention_asks_twilio_nothing_in_simulation_mode(
    database: Database, settings: Settings, on_call: OnCall
) -> None:
    assert settings.simulation
    with database.write() as session:
        incoming = Incoming("islamism", CLIENT, "Hallo", "SM" + "f" * 32)
        client_message.from_client(session, settings, incoming, NOON, Rota(settings.config))
    later = NOON + timedelta(days=31)
    assert conversations.delete_provider_copies(database, settings, later) == 0
    retention.retention_job(database, settings, later)
    assert [r.provider_deleted_at for r in rows(database)] == [None]


def test_retention_closes_conversations_idle_longer_than_the_retention(
    database: Database, settings: Settings, on_call: OnCall
) -> None:
    for sender, sid in ((CLIENT, "SM1"), (OTHER_CLIENT, "SM2")):
        with database.write() as session:
            client_message.from_client(
                session,
                settings,
                Incoming("islamism", sender, "x", sid),
                NOON,
                Rota(settings.config),
            )
    with database.write() as session:
        idle = session.scalars(select(Conversation).where(Conversation.code == "K1")).one()
        idle.last_activity_at = NOON - timedelta(days=31)
    retention.retention_job(database, settings, NOON)
    idle, active = conversations_of(database)
    assert (idle.state, idle.closed_at) == (ConversationState.CLOSED, NOON)
    assert idle.client_enc is not None  # the number goes a retention after closing
    assert active.state == ConversationState.OPEN
    with database.read() as session:
        (entry,) = session.scalars(select(AuditEntry).where(AuditEntry.action == "purge"))
    assert entry.after == {"closed": 1, "bodies": 0, "addresses": 0, "outbox": 0}
    retention.retention_job(database, settings, NOON + timedelta(days=31))
    idle, active = conversations_of(database)
    assert (idle.client_enc, idle.client_hash) == (None, None)
    assert active.state == ConversationState.CLOSED


def test_a_flood_from_one_client_is_stored_not_relayed_and_told_once(
    line: Line, on_call: OnCall, browser: TestClient, noon: time_machine.Coordinates
) -> None:
    limit = line.settings.config.relay.client_limit
    assert (limit, line.settings.config.relay.limit_minutes) == (10, 10)
    for number in range(limit + 3):
        assert line.sms(CLIENT, f"Nachricht {number}").status_code == 200
    sent = line.sent(limit + 1)
    assert [m["Body"] for m in sent[:limit]] == [f"[K1] Nachricht {n}" for n in range(limit)]
    notice = sent[limit]
    assert (notice["To"], notice["From"]) == (on_call.primary, ISLAMISM)
    assert notice["Body"] == (
        "[K1] Mehr als 10 Nachrichten in 10 Minuten: weitere werden vorerst nicht "
        "weitergeleitet und stehen nur im Webportal."
    )
    stored = settled(line, limit + 3)
    assert [r.status for r in stored[limit:]] == [flood_limit.CLIENT_LIMITED] * 3
    assert all(r.counsellor_id is None for r in stored[limit:])
    # Told once: nothing more reached her phone.
    assert len(line.fake.messages) == limit + 1
    # Without a code, her reply goes to the conversation last relayed to her, as before.
    assert "Ohne Code an K1 gesendet." in line.sms(on_call.primary, "Bitte langsam").text
    # The team reads them all in the page.
    make_user(line.database, line.settings.config, "koordination", Role.COORDINATOR, "islamism")
    sign_in(browser, "koordination")
    page = browser.get(f"/conversations/{stored[0].conversation_id}").text
    assert page.count("zu viele Nachrichten dieser Person, nicht weitergeleitet") == 3
    assert f"Nachricht {limit + 2}" in page


def test_the_flood_limits_per_client_and_per_team_slide_with_the_window(
    database: Database, settings: Settings, on_call: OnCall
) -> None:
    own = replace(
        settings,
        config=settings.config.model_copy(
            update={"relay": Relay(client_limit=3, team_limit=5, limit_minutes=10)}
        ),
    )
    sids = iter(range(1, 100))

    def write(sender: str, at: datetime) -> Answer:
        with database.write() as session:
            incoming = Incoming("islamism", sender, "Hallo", f"SM{next(sids):032x}")
            return client_message.from_client(session, own, incoming, at, Rota(own.config))

    first = [write(CLIENT, NOON) for _ in range(5)]
    assert [bool(a.deliver) for a in first] == [True, True, True, False, False]
    assert [len(a.outbox) for a in first] == [0, 0, 0, 1, 0]  # told once
    second = [write(OTHER_CLIENT, NOON + timedelta(minutes=1)) for _ in range(4)]
    assert [bool(a.deliver) for a in second] == [True, True, False, False]  # 5 to the team
    assert [len(a.outbox) for a in second] == [0, 0, 1, 0]
    with database.read() as session:
        notices = [(m.to, m.body, m.purpose) for m in reversed(outbox.recent(session, own))]
    assert notices[0][0] == notices[1][0] == on_call.primary
    assert notices[0][1].startswith("[K1] Mehr als 3 Nachrichten in 10 Minuten:")
    assert notices[1][1].startswith("Mehr als 5 Nachrichten in 10 Minuten an das Team:")
    assert {purpose for *_, purpose in notices} == {flood_limit.PURPOSE}
    statuses = [r.status for r in rows(database)]
    assert statuses.count(flood_limit.CLIENT_LIMITED) == 2
    assert statuses.count(flood_limit.TEAM_LIMITED) == 2
    # Ten minutes after the first relays, the window has moved on.
    assert write(CLIENT, NOON + timedelta(minutes=10, seconds=1)).deliver


# --- a reply PIN where the team asks for one -----------------------------------------------------


@contextmanager
def ruled(settings: Settings, database: Database, rule: str) -> Iterator[Line]:
    """The `line` fixture's service, with the islamism team's `sms_replies` set to `rule`."""
    teams = dict(settings.config.teams)
    teams["islamism"] = teams["islamism"].model_copy(update={"sms_replies": rule})
    own = replace(settings, config=settings.config.model_copy(update={"teams": teams}))
    with (
        live_twilio(own) as (live, fake),
        TestClient(create_app(live, database=database)) as client,
    ):
        yield Line(client, live, fake, database)


def _set_pin(database: Database, counsellor_id: int, pin: str) -> None:
    with database.write() as session:
        reply_pin.set_pin(session, counsellor_id, pin, actor="tests")


def _counsellor(database: Database, counsellor_id: int) -> Counsellor:
    with database.read() as session:
        found = session.get(Counsellor, counsellor_id)
        assert found is not None
        return found


def test_with_a_pin_rule_a_reply_needs_the_pin_and_the_client_never_sees_it(
    settings: Settings, database: Database, on_call: OnCall, noon: time_machine.Coordinates
) -> None:
    with ruled(settings, database, "pin") as line:
        line.sms(CLIENT, "Hallo?")
        line.sent(1)
        answer = line.sms(on_call.primary, "K1 Ohne PIN")
        assert reply_pin.NOT_SET.split(":")[0] in answer.text
        _set_pin(line.database, on_call.primary_id, "4711")
        assert "Antwort-PIN voranstellen" in line.sms(on_call.primary, "K1 Ohne PIN").text
        answer = line.sms(on_call.primary, "4711 K1 Mit PIN, hallo.")
        assert "<Message" not in answer.text
        reply = line.sent(2)[1]
        assert (reply["To"], reply["Body"]) == (CLIENT, "Mit PIN, hallo.")
        assert all("4711" not in (r.body_enc or b"").decode("latin-1") for r in rows(line.database))
        assert "4711" not in str(_counsellor(line.database, on_call.primary_id).reply_pin_hash)
        assert len(line.fake.messages) == 2  # the refused ones sent nothing


def test_wrong_pins_send_nothing_and_lock_sms_replies_for_a_while(
    settings: Settings, database: Database, on_call: OnCall, noon: time_machine.Coordinates
) -> None:
    with ruled(settings, database, "pin") as line:
        line.sms(CLIENT, "Hallo?")
        line.sent(1)
        _set_pin(line.database, on_call.primary_id, "4711")
        for left in range(reply_pin.MAX_FAILURES - 1, 0, -1):
            answer = line.sms(on_call.primary, "4712 K1 Geraten")
            assert f"Falsche Antwort-PIN: nichts gesendet. Noch {left} Versuch" in answer.text
        locked = line.sms(on_call.primary, "4713 K1 Geraten")
        assert "gesperrt, nichts gesendet" in locked.text
        assert "bis 12:15 Uhr" in locked.text  # Berlin time
        assert "gesperrt" in line.sms(on_call.primary, "4711 K1 Richtig, aber gesperrt").text
        assert len(line.fake.messages) == 1
        noon.shift(timedelta(minutes=reply_pin.LOCK_MINUTES, seconds=1))
        assert "<Message" not in line.sms(on_call.primary, "4711 K1 Jetzt wieder").text
        assert line.sent(2)[1]["Body"] == "Jetzt wieder"
        assert _counsellor(line.database, on_call.primary_id).reply_pin_failures == 0


def test_wrong_pins_at_once_are_each_counted(
    settings: Settings, database: Database, on_call: OnCall, noon: time_machine.Coordinates
) -> None:
    """A burst of guesses (Twilio calls the webhook for each SMS at once; on PostgreSQL they
    run in parallel) counts every wrong PIN: the lock comes after MAX_FAILURES, not never."""
    with ruled(settings, database, "pin") as line:
        line.sms(CLIENT, "Hallo?")
        line.sent(1)
        _set_pin(line.database, on_call.primary_id, "4711")
        guesses = 2 * reply_pin.MAX_FAILURES
        barrier = threading.Barrier(guesses)

        def guess(n: int) -> int:
            barrier.wait()
            return line.sms(on_call.primary, f"{5000 + n} K1 Geraten").status_code

        with ThreadPoolExecutor(guesses) as pool:
            assert list(pool.map(guess, range(guesses))) == [200] * guesses
        counsellor = _counsellor(line.database, on_call.primary_id)
        assert counsellor.reply_pin_locked_until is not None
        assert "gesperrt" in line.sms(on_call.primary, "4711 K1 Richtig, aber gesperrt").text
        assert len(line.fake.messages) == 1


def test_with_the_web_rule_no_sms_reply_goes_out(
    settings: Settings, database: Database, on_call: OnCall, noon: time_machine.Coordinates
) -> None:
    with ruled(settings, database, "web") as line:
        line.sms(CLIENT, "Hallo?")
        line.sent(1)
        answer = line.sms(on_call.primary, "K1 Per SMS")
        assert "im Webportal schreiben" in answer.text
        assert len(line.fake.messages) == 1
        assert [r.direction for r in rows(line.database)] == [Direction.IN]


@pytest.mark.parametrize(
    ("pin", "refused"),
    [("123", True), ("123456789", True), ("12a4", True), ("١٢٣٤", True), ("0000", True),
     ("1234", True), ("9876", True), ("4711", False), ("80417263", False)],
)  # fmt: skip
def test_which_pins_may_be_set(pin: str, refused: bool) -> None:
    assert (reply_pin.problem(pin) is not None) is refused


def test_the_pin_is_set_and_deleted_on_the_account_page(
    line: Line, on_call: OnCall, config: HotlineConfig
) -> None:
    from foundation import users

    with line.database.write() as session:
        users.create_user(
            session, config,
            users.NewUser("anna", PASSWORD, Role.COUNSELLOR, (), on_call.primary_id),
            actor="tests",
        )  # fmt: skip
    with https_client(line.settings, line.database) as client:
        page = sign_in(client, "anna", PASSWORD).get("/account")
        assert page.status_code == 200
        assert "Sie haben noch keine Antwort-PIN." in page.text
        csrf = csrf_of(page.text)
        for pin, repeat, message in (
            ("4711", "4712", "stimmen nicht überein"),
            ("1234", "1234", "zu leicht zu erraten"),
            ("47", "47", "4 bis 8 Ziffern"),
        ):
            form = {"csrf": csrf, "pin": pin, "pin_repeat": repeat}
            refused = client.post("/account/reply-pin", data=form)
            assert refused.status_code == 422
            assert message in refused.text
        assert _counsellor(line.database, on_call.primary_id).reply_pin_hash is None
        saved = client.post("/account/reply-pin",
                            data={"csrf": csrf, "pin": "4711", "pin_repeat": "4711"})  # fmt: skip
        assert saved.status_code == 303
        stored = _counsellor(line.database, on_call.primary_id).reply_pin_hash
        assert stored is not None
        assert stored.startswith("$argon2id$")
        assert "Sie haben eine Antwort-PIN festgelegt." in client.get("/account").text
        assert client.post("/account/reply-pin/delete", data={"csrf": csrf}).status_code == 303
        assert _counsellor(line.database, on_call.primary_id).reply_pin_hash is None
        forged = client.post("/account/reply-pin",
                             data={"csrf": "x", "pin": "4711", "pin_repeat": "4711"})  # fmt: skip
        assert forged.status_code == 403
        assert _counsellor(line.database, on_call.primary_id).reply_pin_hash is None
