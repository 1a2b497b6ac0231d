"""Client records (scheduling.clients): create, change, status dates; links of every kind of
contact and the timeline in time order across DST; the plan, its notes and the review date;
access (the team's staff only: an admin sees no client, another team's is a 404 that changes
nothing); encryption at rest and `hotline rekey` over the new columns; the review reminder,
sent once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import pytest
from sqlalchemy import select, text
from starlette.datastructures import Secret

from config.model import HotlineConfig
from config.settings import Settings
from foundation import access, crypto
from foundation.access import Principal, TeamRef
from foundation.crypto import Box
from foundation.db import Database, make_engine, upgrade
from foundation.errors import Conflict, Invalid, NotFound
from foundation.models import (
    AppointmentMode,
    AuditEntry,
    CallbackRequest,
    Channel,
    Client,
    ClientStatus,
    Conversation,
    DispatchState,
    NoticeKind,
    OutboundCall,
    PlanNote,
    PlanStep,
    PlanStepStatus,
    Role,
    ShiftNotice,
    Team,
    Voicemail,
)
from foundation.text import pseudonym_digest
from scheduling import appointments, dispatch
from scheduling.clients import links, plan, records, reviews, timeline
from scheduling.clients.records import ClientEdit, NewClient
from scheduling.notices.jobs import NOTICES
from tests.conftest import add_counsellor, berlin
from tests.fakes import RecordingProvider

PHONE = "+4915123456789"
KEY_A = "schluessel-a-7f3c9e1d2b4a6f8e0c1d3b5a7e9f2c4d"
KEY_B = "schluessel-b-0a2c4e6f8b1d3f5a7c9e2b4d6f8a1c3e"


@dataclass(frozen=True)
class World:
    team: dict[str, int]
    amira: int  # counsellor of islamism
    jonas: int  # counsellor of islamism
    rita: int  # counsellor of right-wing

    def counsellor(self, who: int, slug: str = "islamism") -> Principal:
        ref = TeamRef(self.team[slug], slug)
        return Principal(
            f"user:{who} c{who}",
            Role.COUNSELLOR,
            counsellor_id=who,
            member_teams=frozenset({ref}),
        )

    def coordinator(self, slug: str = "islamism") -> Principal:
        ref = TeamRef(self.team[slug], slug)
        return Principal(
            "user:90 koord", Role.COORDINATOR, user_id=90, account_teams=frozenset({ref})
        )

    @property
    def admin(self) -> Principal:
        return Principal("user:91 chef", Role.ADMIN, user_id=91)


@pytest.fixture
def world(database: Database, config: HotlineConfig) -> World:
    with database.write() as session:
        teams = {t.slug: t.id for t in session.scalars(select(Team))}
        amira = add_counsellor(session, config, "islamism", name="Amira Yilmaz").id
        jonas = add_counsellor(session, config, "islamism", name="Jonas Becker").id
        rita = add_counsellor(session, config, "right-wing", name="Rita Roth").id
    return World(teams, amira, jonas, rita)


def _new(database: Database, settings: Settings, by: Principal, **extra: object) -> int:
    values: dict[str, object] = {"team": "islamism", "pseudonym": "Falke", **extra}
    with database.write() as session:
        return records.create(session, settings, NewClient(**values), by=by).id  # type: ignore[arg-type]


# --- the record ---------------------------------------------------------------------------------


def test_create_keeps_the_number_encrypted_and_the_creator_responsible(
    database: Database, settings: Settings, world: World
) -> None:
    by = world.counsellor(world.amira)
    client_id = _new(database, settings, by, phone="0151 23456789", sms_consent=True, relative=True)
    with database.read() as session:
        client = session.get(Client, client_id)
        assert client is not None
        assert client.pseudonym == "Falke"
        assert client.status is ClientStatus.FIRST_CONTACT
        assert client.relative
        assert client.sms_consent
        assert [c.id for c in client.counsellors] == [world.amira]
        assert client.phone_enc is not None
        assert PHONE.encode() not in client.phone_enc
        assert records.phone_of(crypto.box(settings), client) == PHONE
        assert client.phone_hash == crypto.keyed_hash(settings, "caller", PHONE)
        entry = session.scalars(select(AuditEntry).where(AuditEntry.entity == "client")).one()
    assert "Falke" not in repr(entry.after)
    assert PHONE not in repr(entry.after)


@pytest.mark.parametrize(
    ("pseudonym", "field"),
    [("", "pseudonym"), ("0151 2345 6789", "pseudonym"), ("x" * 101, "pseudonym")],
)
def test_bad_pseudonyms_are_refused(
    database: Database, settings: Settings, world: World, pseudonym: str, field: str
) -> None:
    with pytest.raises(Invalid) as refused:
        _new(database, settings, world.counsellor(world.amira), pseudonym=pseudonym)
    assert refused.value.field == field
    with database.read() as session:
        assert session.scalars(select(Client)).all() == []


def test_a_pseudonym_is_unique_in_the_team_not_across_teams(
    database: Database, settings: Settings, world: World
) -> None:
    _new(database, settings, world.counsellor(world.amira))
    with pytest.raises(Conflict):
        _new(database, settings, world.counsellor(world.jonas), pseudonym="falke")
    other = world.counsellor(world.rita, "right-wing")
    assert _new(database, settings, other, team="right-wing")


def test_sms_consent_needs_a_mobile_number(
    database: Database, settings: Settings, world: World
) -> None:
    with pytest.raises(Invalid) as refused:
        _new(database, settings, world.counsellor(world.amira), sms_consent=True)
    assert refused.value.field == "sms_consent"
    with pytest.raises(Invalid):
        _new(
            database,
            settings,
            world.counsellor(world.amira),
            phone="0711 2794555",
            sms_consent=True,
        )


def test_update_changes_details_and_keeps_the_number_unless_told(
    database: Database, settings: Settings, world: World
) -> None:
    by = world.counsellor(world.amira)
    client_id = _new(database, settings, by, phone=PHONE)
    edit = ClientEdit("Adler", sms_consent=True, counsellor_ids=(world.amira, world.jonas))
    with database.write() as session:
        records.update(session, settings, client_id, edit, by=by)
    with database.read() as session:
        client = session.get(Client, client_id)
        assert client is not None
        assert client.pseudonym == "Adler"
        assert client.sms_consent
        assert records.phone_of(crypto.box(settings), client) == PHONE
        assert sorted(c.id for c in client.counsellors) == sorted([world.amira, world.jonas])
    # A counsellor of another team is nobody's responsible here.
    with pytest.raises(Invalid), database.write() as session:
        records.update(
            session,
            settings,
            client_id,
            ClientEdit("Adler", counsellor_ids=(world.rita,)),
            by=by,
        )
    with database.write() as session:
        records.update(session, settings, client_id, ClientEdit("Adler", clear_phone=True), by=by)
    with database.read() as session:
        client = session.get(Client, client_id)
        assert client is not None
        assert client.phone_enc is None
        assert client.phone_hash is None


def test_status_changes_keep_their_dates(
    database: Database, settings: Settings, world: World
) -> None:
    by = world.counsellor(world.amira)
    client_id = _new(database, settings, by)
    moments = [berlin(2027, 1, 5, 10), berlin(2027, 2, 5, 10), berlin(2027, 3, 5, 10)]
    steps = (ClientStatus.IN_COUNSELLING, ClientStatus.PAUSED, ClientStatus.ENDED)
    for status, at in zip(steps, moments, strict=True):
        with database.write() as session:
            records.change_status(session, client_id, status, by=by, now=at)
    with database.read() as session:
        client = session.get(Client, client_id)
        assert client is not None
        assert (client.started_at, client.paused_at, client.ended_at) == tuple(moments)
    with database.write() as session:
        records.change_status(
            session, client_id, ClientStatus.IN_COUNSELLING, by=by, now=berlin(2027, 4, 1)
        )
    with database.read() as session:
        client = session.get(Client, client_id)
        assert client is not None
        assert client.ended_at is None
        assert client.started_at == moments[0]


# --- access -------------------------------------------------------------------------------------


def test_only_the_teams_staff_and_keys_of_its_scope_see_a_client(
    database: Database, settings: Settings, world: World
) -> None:
    client_id = _new(database, settings, world.counsellor(world.amira))
    with database.read() as session:
        team = session.get(Team, world.team["right-wing"])
        islamism = session.get(Team, world.team["islamism"])
        assert team is not None
        assert islamism is not None
        seeing = [
            world.counsellor(world.jonas),
            world.coordinator(),
            access.for_api_key(1, "ops"),
            access.for_api_key(2, "ops", [islamism], read_only=True),
        ]
        for who in seeing:
            assert records.visible(session, client_id, who).id == client_id
        blind = [
            world.admin,
            world.counsellor(world.rita, "right-wing"),
            world.coordinator("right-wing"),
            access.for_api_key(3, "ops", [team]),
        ]
        for who in blind:
            with pytest.raises(NotFound):
                records.visible(session, client_id, who)


def test_another_team_gets_a_404_and_changes_nothing(
    database: Database, settings: Settings, world: World
) -> None:
    client_id = _new(database, settings, world.counsellor(world.amira))
    outsider = world.counsellor(world.rita, "right-wing")
    attempts = [
        lambda s: records.update(s, settings, client_id, ClientEdit("Neu"), by=outsider),
        lambda s: records.change_status(s, client_id, ClientStatus.ENDED, by=outsider),
        lambda s: plan.add_step(s, settings, client_id, "Ziel", by=outsider),
        lambda s: plan.add_note(s, settings, client_id, "Notiz", by=outsider, author="x"),
        lambda s: plan.set_review(s, client_id, date(2027, 1, 1), by=outsider),
        lambda s: records.update(s, settings, client_id, ClientEdit("Neu"), by=world.admin),
    ]
    for attempt in attempts:
        with pytest.raises(NotFound), database.write() as session:
            attempt(session)
    with database.read() as session:
        client = session.get(Client, client_id)
        assert client is not None
        assert client.pseudonym == "Falke"
        assert client.status is ClientStatus.FIRST_CONTACT
        assert client.review_on is None
        assert session.scalars(select(PlanStep)).all() == []


def test_a_read_only_key_sees_and_changes_nothing(
    database: Database, settings: Settings, world: World
) -> None:
    client_id = _new(database, settings, world.counsellor(world.amira))
    reader = access.for_api_key(9, "reader", read_only=True)
    with database.read() as session:
        assert records.visible(session, client_id, reader)
    with pytest.raises(records.ReadOnly), database.write() as session:
        records.change_status(session, client_id, ClientStatus.ENDED, by=reader)
    with pytest.raises(records.ReadOnly), database.write() as session:
        records.create(session, settings, NewClient("islamism", "Neu"), by=reader)


def test_an_admin_creates_no_client(database: Database, settings: Settings, world: World) -> None:
    with pytest.raises(Invalid), database.write() as session:
        records.create(session, settings, NewClient("islamism", "Neu"), by=world.admin)


# --- links and the timeline ---------------------------------------------------------------------


def _contacts(
    database: Database, settings: Settings, world: World, team: str = "islamism"
) -> dict[str, int]:
    """One contact of every kind in `team`, at times across the autumn change of the clocks."""
    box = crypto.box(settings)
    team_id = world.team[team]
    owner = world.amira if team == "islamism" else world.rita
    with database.write() as session:
        # 02:30 MESZ and 02:30 MEZ on 25 October 2026: the second is an hour later.
        first = datetime(2026, 10, 25, 0, 30, tzinfo=berlin(2026, 1, 1).tzinfo).replace(
            hour=2, minute=30, fold=0
        )
        second = first.replace(fold=1)
        voicemail = Voicemail(line=team, team_id=team_id, recording_sid="RE" + "1" * 32,
                              created_at=second)  # fmt: skip
        request = CallbackRequest(line=team, team_id=team_id, phone_enc=box.seal(PHONE),
                                  phone_hash="p" * 64, client_hash="c" * 64,
                                  time_window="morgens", created_at=first)  # fmt: skip
        conversation = Conversation(line=team, team_id=team_id, code="K1", channel=Channel.SMS,
                                    client_enc=box.seal(PHONE), client_hash="h" * 64,
                                    created_at=berlin(2026, 10, 24, 12))  # fmt: skip
        session.add_all([voicemail, request, conversation])
        session.flush()
        appointment = appointments.book(
            session,
            settings,
            appointments.NewAppointment(
                owner,
                appointments.Client("Falke", PHONE),
                berlin(2026, 10, 26, 9),
                berlin(2026, 10, 26, 10),
                AppointmentMode.PHONE,
            ),
            actor="tests",
            now=berlin(2026, 10, 1),
        )
        call = OutboundCall(kind="voicemail", target_id=voicemail.id, line=team, actor="tests",
                            counsellor_id=owner, created_at=berlin(2026, 10, 25, 12))  # fmt: skip
        session.add(call)
        session.flush()
        return {
            "voicemail": voicemail.id,
            "callback_request": request.id,
            "conversation": conversation.id,
            "appointment": appointment.id,
            "outbound_call": call.id,
        }


def test_every_kind_of_contact_links_and_the_timeline_is_in_time_order_across_dst(
    database: Database, settings: Settings, world: World
) -> None:
    by = world.counsellor(world.amira)
    client_id = _new(database, settings, by)
    ids = _contacts(database, settings, world)
    with database.write() as session:
        for kind in ("appointment", "conversation", "callback_request", "voicemail"):
            links.link(session, settings, client_id, kind, ids[kind], by=by)
    with database.read() as session:
        found = timeline.entries(session, client_id)
        call = session.get(OutboundCall, ids["outbound_call"])
        assert call is not None
        assert call.client_id == client_id
    assert [e.kind for e in found] == [
        "conversation",  # 24 Oct 12:00
        "callback_request",  # 25 Oct 02:30 MESZ
        "voicemail",  # 25 Oct 02:30 MEZ, an hour later
        "outbound_call",  # 25 Oct 12:00
        "appointment",  # 26 Oct 09:00
    ]
    assert found[1].at < found[2].at
    assert found[-1].status == "booked"
    assert found[-1].counsellor == "Amira Yilmaz"
    with database.write() as session:
        assert links.unlink(session, settings, "voicemail", ids["voicemail"], by=by) == client_id
    with database.read() as session:
        kinds = [e.kind for e in timeline.entries(session, client_id)]
        assert "voicemail" not in kinds
        assert "outbound_call" not in kinds
        audit = session.scalars(select(AuditEntry.action).where(AuditEntry.entity == "voicemail"))
        assert list(audit) == ["link", "unlink"]


def test_a_contact_of_another_team_is_not_linked(
    database: Database, settings: Settings, world: World
) -> None:
    by = world.counsellor(world.amira)
    client_id = _new(database, settings, by)
    foreign = _contacts(database, settings, world, "right-wing")
    for kind, record_id in foreign.items():
        with pytest.raises(NotFound), database.write() as session:
            links.link(session, settings, client_id, kind, record_id, by=by)
    # A coordinator of both teams' sight still cannot mix them.
    both = Principal(
        "user:92 beide",
        Role.COORDINATOR,
        user_id=92,
        account_teams=frozenset(TeamRef(i, s) for s, i in world.team.items()),
    )
    with pytest.raises(Invalid), database.write() as session:
        links.link(session, settings, client_id, "voicemail", foreign["voicemail"], by=both)
    with database.read() as session:
        assert timeline.entries(session, client_id) == []


def test_booking_with_a_client_takes_its_pseudonym_and_number(
    database: Database, settings: Settings, world: World
) -> None:
    by = world.counsellor(world.amira)
    client_id = _new(database, settings, by, phone=PHONE, sms_consent=True)
    new = appointments.NewAppointment(
        world.amira,
        appointments.Client("ignoriert"),
        berlin(2031, 3, 3, 9),
        berlin(2031, 3, 3, 10),
        AppointmentMode.PHONE,
        client_id=client_id,
    )
    with database.write() as session:
        booked = appointments.book(session, settings, new, actor="tests")
        assert booked.client_id == client_id
        assert booked.client_pseudonym == "Falke"
        assert appointments.client_phone(crypto.box(settings), booked) == PHONE
        assert booked.sms_consent
    with database.read() as session:
        ahead = records.next_appointments(session, [client_id], berlin(2031, 1, 1))
        assert ahead[client_id].id == booked.id
    wrong = appointments.NewAppointment(
        world.rita,
        appointments.Client("x"),
        berlin(2031, 3, 4, 9),
        berlin(2031, 3, 4, 10),
        AppointmentMode.PHONE,
        client_id=client_id,
    )
    with pytest.raises(Invalid), database.write() as session:
        appointments.book(session, settings, wrong, actor="tests")


def test_matching_on_the_keyed_hash_only_when_configured(
    database: Database, settings: Settings, config: HotlineConfig, world: World
) -> None:
    client_id = _new(database, settings, world.counsellor(world.amira), phone=PHONE)
    team = world.team["islamism"]
    with database.read() as session:
        assert records.matching(session, settings, team, PHONE) is None
        on = config.model_copy(
            update={"clients": config.clients.model_copy(update={"match_caller_hash": True})}
        )
        allowed = Settings(config=on, database_url=settings.database_url)
        found = records.matching(session, allowed, team, PHONE)
        assert found is not None
        assert found.id == client_id
        assert records.matching(session, allowed, world.team["right-wing"], PHONE) is None


# --- the plan -----------------------------------------------------------------------------------


def test_plan_steps_and_notes(database: Database, settings: Settings, world: World) -> None:
    by = world.counsellor(world.amira)
    client_id = _new(database, settings, by)
    with database.write() as session:
        first = plan.add_step(session, settings, client_id, "Kontakte zur Szene abbrechen", by=by)
        second = plan.add_step(session, settings, client_id, "Wohnung suchen", "Stadt?", by=by)
        plan.change_step(
            session, settings, client_id, first.id,
            plan.StepEdit(status=PlanStepStatus.REACHED, notes="erledigt"), by=by,
        )  # fmt: skip
        plan.add_note(session, settings, client_id, "Erstes Gespräch\nruhig", by=by, author="Amira")
        plan.add_note(session, settings, client_id, "Zur Wohnung", step_id=second.id, by=by,
                      author="Amira")  # fmt: skip
        plan.set_review(session, client_id, date(2027, 1, 15), by=by)
    with database.read() as session:
        shown = plan.steps(session, settings, client_id)
        assert [(s.title, s.status, s.notes) for s in shown] == [
            ("Kontakte zur Szene abbrechen", PlanStepStatus.REACHED, "erledigt"),
            ("Wohnung suchen", PlanStepStatus.OPEN, "Stadt?"),
        ]
        assert [n.text for n in plan.notes(session, settings, client_id)] == [
            "Zur Wohnung",
            "Erstes Gespräch\nruhig",
        ]
        client = session.get(Client, client_id)
        assert client is not None
        assert client.review_on == date(2027, 1, 15)
    with database.write() as session:
        plan.delete_step(session, client_id, second.id, by=by)
    with database.read() as session:
        assert len(plan.steps(session, settings, client_id)) == 1
        assert len(plan.notes(session, settings, client_id)) == 1
        audited = session.scalars(select(AuditEntry).where(AuditEntry.entity == "plan_step")).all()
    assert all("Wohnung" not in repr((e.before, e.after)) for e in audited)
    with pytest.raises(Invalid), database.write() as session:
        plan.add_step(session, settings, client_id, "   ", by=by)
    with pytest.raises(NotFound), database.write() as session:
        plan.change_step(session, settings, client_id, 999, plan.StepEdit(title="x"), by=by)


def test_the_database_file_holds_no_plan_text_and_no_number(
    database: Database, settings: Settings, world: World, db_url: str
) -> None:
    by = world.counsellor(world.amira)
    client_id = _new(database, settings, by, phone=PHONE)
    secret = "Verlässt die Kameradschaft Nordsturm"
    with database.write() as session:
        step = plan.add_step(session, settings, client_id, secret, "Notiz Nordsturm", by=by)
        plan.add_note(session, settings, client_id, "Sitzung Nordsturm", step_id=step.id,
                      by=by, author="Amira")  # fmt: skip
    with database.read() as session:
        raw = session.execute(text("SELECT title_enc, notes_enc FROM plan_steps")).one()
        note = session.execute(text("SELECT text_enc FROM plan_notes")).scalar_one()
        phone = session.execute(text("SELECT phone_enc FROM clients")).scalar_one()
    for value in (*raw, note, phone):
        assert b"Nordsturm" not in bytes(value)
        assert PHONE.encode() not in bytes(value)
    if db_url.startswith("sqlite"):
        database.dispose()  # the write-ahead log is folded into the file
        path = db_url.removeprefix("sqlite:///")
        with open(path, "rb") as handle:
            contents = handle.read()
        assert b"Nordsturm" not in contents
        assert PHONE.encode() not in contents
        assert "Verlässt".encode() not in contents


def test_rekey_covers_clients_and_plans(
    database: Database, config: HotlineConfig, world: World, db_url: str
) -> None:
    old = Settings(config=config, database_url=db_url, encryption_key=Secret(KEY_A))
    by = world.counsellor(world.amira)
    client_id = _new(database, old, by, phone=PHONE)
    with database.write() as session:
        step = plan.add_step(session, old, client_id, "Ziel", "Notiz", by=by)
        plan.add_note(session, old, client_id, "Sitzung", step_id=step.id, by=by, author="A")
    counts = crypto.rekey(database, Box(f"{KEY_B},{KEY_A}"))
    resealed = {c.table: c.resealed for c in counts}
    assert resealed["clients"] == 1
    assert resealed["plan_steps"] == 2
    assert resealed["plan_notes"] == 1
    new = Settings(config=config, database_url=db_url, encryption_key=Secret(KEY_B))
    with database.read() as session:
        assert [s.title for s in plan.steps(session, new, client_id)] == ["Ziel"]
        assert [n.text for n in plan.notes(session, new, client_id)] == ["Sitzung"]
        client = session.get(Client, client_id)
        assert client is not None
        assert records.phone_of(crypto.box(new), client) == PHONE
        for model in (PlanStep, PlanNote, Client):
            assert session.scalars(select(model)).all()


# --- the review reminder ------------------------------------------------------------------------


def test_the_review_reminder_goes_to_the_responsible_counsellors_once(
    database: Database, settings: Settings, world: World
) -> None:
    by = world.counsellor(world.amira)
    client_id = _new(database, settings, by)
    with database.write() as session:
        records.update(
            session, settings, client_id,
            ClientEdit("Falke", counsellor_ids=(world.amira, world.jonas)), by=by,
        )  # fmt: skip
        plan.set_review(session, client_id, date(2027, 1, 15), by=by)
    day_before = berlin(2027, 1, 14, 20)
    with database.write() as session:
        assert reviews.plan(session, settings, day_before) == 0
    morning = berlin(2027, 1, 15, 0, 5)
    for _ in range(2):  # two planners, or one planning twice: stored once
        with database.write() as session:
            reviews.plan(session, settings, morning)
    with database.read() as session:
        rows = session.scalars(
            select(ShiftNotice).where(ShiftNotice.kind == NoticeKind.REVIEW)
        ).all()
    assert sorted(r.counsellor_id for r in rows) == sorted([world.amira, world.jonas])
    assert {r.due_at for r in rows} == {berlin(2027, 1, 15, 8)}
    provider = RecordingProvider()
    early = dispatch.dispatch(
        database, settings, NOTICES, send=provider.send, clock=lambda: morning
    )
    assert early.sent == 0
    eight = berlin(2027, 1, 15, 8, 1)
    for _ in range(2):
        dispatch.dispatch(database, settings, NOTICES, send=provider.send, clock=lambda: eight)
    assert len(provider.messages) == 2
    assert all(f"Fall Nr. {client_id}" in body and "Falke" not in body for body in provider.sent)
    with database.read() as session:
        states = {r.state for r in session.scalars(select(ShiftNotice))}
    assert states == {DispatchState.SENT}


def test_a_review_moved_or_ended_is_not_reminded(
    database: Database, settings: Settings, world: World
) -> None:
    by = world.counsellor(world.amira)
    client_id = _new(database, settings, by)
    with database.write() as session:
        plan.set_review(session, client_id, date(2027, 1, 15), by=by)
    with database.write() as session:
        reviews.plan(session, settings, berlin(2027, 1, 15, 0, 5))
        plan.set_review(session, client_id, date(2027, 2, 1), by=by)
    provider = RecordingProvider()
    at = berlin(2027, 1, 15, 8, 1)
    dispatch.dispatch(database, settings, NOTICES, send=provider.send, clock=lambda: at)
    assert provider.messages == []
    with database.write() as session:
        records.change_status(session, client_id, ClientStatus.ENDED, by=by)
        assert reviews.plan(session, settings, berlin(2027, 2, 1, 9)) == 0


def test_the_review_time_is_local(settings: Settings) -> None:
    assert settings.config.clients.review_notice_time == time(8, 0)
    assert reviews.key(1, date(2027, 1, 15), 2, "sms") == "review:1:2027-01-15:2:sms"
    assert timedelta(minutes=5) == reviews.EVERY


# --- the demo -----------------------------------------------------------------------------------


def test_the_demo_has_clients_with_plans_and_linked_appointments(
    database: Database, settings: Settings
) -> None:
    from scheduling.demo import load_demo

    with database.write() as session:
        assert load_demo(session, settings.config, date(2031, 3, 3), settings)
    with database.read() as session:
        found = session.scalars(select(Client).order_by(Client.id)).all()
        assert [c.pseudonym for c in found] == ["Falke", "Möwe", "Kranich", "Eule"]
        assert all(c.phone_enc is None for c in found)
        falke = found[0]
        assert falke.status is ClientStatus.IN_COUNSELLING
        assert falke.review_on is not None
        assert len(plan.steps(session, settings, falke.id)) == 3
        (entry,) = timeline.entries(session, falke.id)
        assert entry.kind == "appointment"
        assert [c.name for c in falke.counsellors] == ["Amira Yilmaz"]


def test_the_migration_fills_the_key_and_a_collision_does_not_fail_it(
    db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """0029 fills `pseudonym_key` of existing clients; two of a team that are one pseudonym
    after normalisation ("Ärger", "ÄRGER": the old unique key let them in) do not stop it: the
    later one's key gets "~<id>", and the warning counts them, naming ids, never a pseudonym."""
    upgrade(db_url, "0028")
    engine = make_engine(db_url)
    try:
        with engine.begin() as connection:
            at = berlin(2026, 12, 1, 9)
            teams = [
                connection.execute(
                    text("INSERT INTO teams (slug, name, created_at) VALUES (:s, :s, :at) "
                         "RETURNING id"), {"s": slug, "at": at},
                ).scalar_one()
                for slug in ("t-one", "t-two")
            ]  # fmt: skip
            rows = [(teams[0], "Ärger"), (teams[0], "Falke"), (teams[0], "ÄRGER"),
                    (teams[1], "ärger"), (teams[0], "A\u0308RGER")]  # fmt: skip
            for team_id, pseudonym in rows:
                connection.execute(
                    text("INSERT INTO clients (team_id, pseudonym, sms_consent, relative, status,"
                         " status_changed_at, created_at, updated_at) VALUES (:t, :p, false,"
                         " false, 'first_contact', :at, :at, :at)"),
                    {"t": team_id, "p": pseudonym, "at": at},
                )  # fmt: skip
        with caplog.at_level("WARNING"):
            upgrade(db_url)
        with engine.connect() as connection:
            keys = dict(
                connection.execute(text("SELECT pseudonym, pseudonym_key FROM clients")).all()
            )
            ids = dict(connection.execute(text("SELECT pseudonym, id FROM clients")).all())
    finally:
        engine.dispose()
    ärger = pseudonym_digest("Ärger")
    assert keys["Ärger"] == keys["ärger"] == ärger  # another team's may be the same
    assert keys["Falke"] == pseudonym_digest("falke")
    assert keys["ÄRGER"] == f"{ärger}~{ids['ÄRGER']}"
    decomposed = "A\u0308RGER"
    assert keys[decomposed] == f"{ärger}~{ids[decomposed]}"
    (warning,) = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warning.startswith("2 client(s)")
    assert f"{ids['ÄRGER']}, {ids[decomposed]}" in warning
    assert "rger" not in warning.lower()
    assert "falke" not in warning.lower()


def test_every_create_and_rename_keeps_the_key_in_step(
    database: Database, settings: Settings, world: World
) -> None:
    """Created, renamed (the key follows), and a name freed by a rename can be taken again."""
    amira = world.counsellor(world.amira)
    client_id = _new(database, settings, amira, pseudonym="Ärger")
    with database.write() as session:
        records.update(session, settings, client_id, ClientEdit(pseudonym="Ölzweig"), by=amira)
    with database.read() as session:
        row = session.get(Client, client_id)
        assert row is not None
        assert row.pseudonym_key == pseudonym_digest("ÖLZWEIG")
    assert _new(database, settings, amira, pseudonym="ÄRGER") != client_id
