"""Shift swaps: a counsellor asks, the colleague accepts, a coordinator approves (or the team
switched approval off); every refusal changes nothing; notices are queued once per event and
channel; the pages walk the same story through the browser."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from config.model import SHIPPED, HotlineConfig, load_config
from config.settings import Settings
from foundation import users
from foundation.db import Database
from foundation.errors import Conflict, Invalid, NotFound
from foundation.models import (
    AuditEntry,
    NoticeKind,
    Role,
    Shift,
    ShiftNotice,
    SwapRequest,
    SwapState,
    Tier,
)
from scheduling import shifts
from scheduling.swaps import answering, asking, deciding
from scheduling.swaps.applying import Outcome
from scheduling.swaps.asking import NewSwap
from scheduling.swaps.words import OBSOLETE_REASONS
from tests.conftest import add_counsellor, berlin
from tests.helpers import counsellor_of, https_client
from tests.test_auth import PASSWORD, csrf_of, make_user, sign_in

NOW = berlin(2026, 11, 25, 12)  # a Wednesday
MINUTE = timedelta(minutes=1)


@dataclass(frozen=True)
class Team:
    amira: int  # asks (SMS and e-mail)
    jonas: int  # the colleague (SMS)
    leyla: int  # a third member
    rico: int  # right-wing team only
    kora: int  # the islamism coordinator's own counsellor record (office team)
    coordinator: int  # user id of the islamism coordinator
    other_coordinator: int  # user id of the right-wing coordinator
    admin: int  # user id


@pytest.fixture
def clock() -> Iterator[time_machine.Traveller]:
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def team(database: Database, config: HotlineConfig, clock: time_machine.Traveller) -> Team:
    with database.write() as session:
        amira = add_counsellor(
            session, config, "islamism", name="Amira Yilmaz", email="amira@konex.example"
        )
        amira.notify_email = True
        jonas = add_counsellor(session, config, "islamism", name="Jonas Becker")
        leyla = add_counsellor(session, config, "islamism", name="Leyla Demir")
        rico = add_counsellor(session, config, "right-wing", name="Rico Brandt")
        kora = add_counsellor(session, config, "office", name="Kora Lang")

        def user(name: str, role: Role, teams: tuple[str, ...], counsellor: int | None) -> int:
            new = users.NewUser(name, PASSWORD, role, teams, counsellor)
            return users.create_user(session, config, new, actor="tests").id

        return Team(
            amira=amira.id,
            jonas=jonas.id,
            leyla=leyla.id,
            rico=rico.id,
            kora=kora.id,
            coordinator=user("koordination", Role.COORDINATOR, ("islamism",), kora.id),
            other_coordinator=user("rechts", Role.COORDINATOR, ("right-wing",), None),
            admin=user("chef", Role.ADMIN, (), None),
        )


def add_shift(
    database: Database,
    config: HotlineConfig,
    counsellor_id: int,
    start: datetime,
    end: datetime,
    tier: Tier = Tier.PRIMARY,
    team: str = "islamism",
) -> int:
    with database.write() as session:
        new = shifts.NewShift(team, counsellor_id, tier, start, end)
        return shifts.create_shift(session, config, new, actor="tests").id


def holders(database: Database, *shift_ids: int) -> list[int]:
    with database.read() as session:
        return [session.get(Shift, i).counsellor_id for i in shift_ids]  # type: ignore[union-attr]


def state(database: Database, swap_id: int) -> SwapState:
    with database.read() as session:
        swap = session.get(SwapRequest, swap_id)
        assert swap is not None
        return SwapState(swap.state)


def notices(database: Database) -> dict[str, str]:
    """dedupe key -> text of every queued notice."""
    with database.read() as session:
        rows = session.scalars(select(ShiftNotice).order_by(ShiftNotice.id)).all()
        assert all(row.kind is NoticeKind.SWAP for row in rows)
        return {row.dedupe_key: row.payload["text"] for row in rows}


def audit_actions(database: Database, swap_id: int, entity: str = "swap_request") -> list[str]:
    with database.read() as session:
        return list(
            session.scalars(
                select(AuditEntry.action)
                .where(AuditEntry.entity == entity, AuditEntry.entity_id == swap_id)
                .order_by(AuditEntry.id)
            )
        )


def ask(
    database: Database,
    config: HotlineConfig,
    requester: int,
    shift_id: int,
    colleague: int,
    return_shift_id: int | None = None,
    note: str = "",
) -> int:
    with database.write() as session:
        new = NewSwap(shift_id, colleague, return_shift_id, note)
        return asking.request_swap(session, config, requester, new, actor="tests").id


def accept(database: Database, config: HotlineConfig, swap_id: int, who: int) -> Outcome:
    with database.write() as session:
        return answering.accept(session, config, swap_id, who, actor="tests")


def approve(database: Database, config: HotlineConfig, swap_id: int, user: int) -> Outcome:
    with database.write() as session:
        return deciding.approve(session, config, swap_id, user, actor="tests")


def config_without_approval(tmp_path: Path) -> HotlineConfig:
    text = SHIPPED.read_text(encoding="utf-8")
    assert text.count("swap_approval = true") == 1
    path = tmp_path / "hotline.toml"
    path.write_text(text.replace("swap_approval = true", "swap_approval = false"), "utf-8")
    config = load_config(path)
    assert not config.teams["islamism"].swap_approval
    return config


# --- the flows ----------------------------------------------------------------------------------


def test_swap_with_approval(
    database: Database, config: HotlineConfig, team: Team, clock: time_machine.Traveller
) -> None:
    shift = add_shift(
        database, config, team.amira, berlin(2026, 11, 26, 9), berlin(2026, 11, 27, 9)
    )
    clock.shift(MINUTE)
    swap = ask(database, config, team.amira, shift, team.jonas, note="Arzttermin")
    assert state(database, swap) is SwapState.REQUESTED
    asked = notices(database)
    assert list(asked) == [f"swap:{swap}:requested:{team.jonas}:sms"]
    text = asked[f"swap:{swap}:requested:{team.jonas}:sms"]
    assert "Amira Yilmaz bittet Sie" in text
    assert "Do 26.11., 09:00 – Fr 27.11., 09:00" in text  # Berlin time
    assert "Arzttermin" not in text  # the free note never goes out

    clock.shift(MINUTE)
    outcome = accept(database, config, swap, team.jonas)
    assert outcome.obsolete is None
    assert outcome.swap.state is SwapState.ACCEPTED
    assert holders(database, shift) == [team.amira]  # nothing changes before approval
    with database.read() as session:
        islamism = session.get(Shift, shift).team_id  # type: ignore[union-attr]
        assert deciding.waiting_for_approval(session, islamism) == 1

    clock.shift(MINUTE)
    done = approve(database, config, swap, team.coordinator)
    assert done.obsolete is None
    assert holders(database, shift) == [team.jonas]  # the same shift, reassigned in place
    with database.read() as session:
        row = session.get(SwapRequest, swap)
        assert row is not None
        assert row.decided_by_id == team.coordinator
        assert deciding.waiting_for_approval(session, islamism) == 0
        moved = session.scalars(
            select(AuditEntry).where(AuditEntry.entity == "shift", AuditEntry.action == "swap")
        ).one()
        assert moved.before["counsellor_id"] == team.amira  # type: ignore[index]
        assert moved.after["counsellor_id"] == team.jonas  # type: ignore[index]
    assert audit_actions(database, swap) == ["request", "accept", "approve"]
    # Exactly one notice per event, person and channel: e-mail only for Amira, who asked for it;
    # the coordinator is told through her counsellor record.
    assert sorted(notices(database)) == sorted(
        f"swap:{swap}:{key}"
        for key in (
            f"requested:{team.jonas}:sms",
            f"accepted:{team.amira}:sms",
            f"accepted:{team.amira}:email",
            f"approval:{team.kora}:sms",
            f"approved:{team.amira}:sms",
            f"approved:{team.amira}:email",
            f"approved:{team.jonas}:sms",
        )
    )
    texts = notices(database)
    assert "Die Koordination muss noch zustimmen" in texts[f"swap:{swap}:accepted:{team.amira}:sms"]
    assert "Tausch zur Genehmigung" in texts[f"swap:{swap}:approval:{team.kora}:sms"]
    assert "Tausch genehmigt" in texts[f"swap:{swap}:approved:{team.jonas}:sms"]


def test_without_approval_the_acceptance_applies_an_exchange(
    tmp_path: Path, database: Database, team: Team, clock: time_machine.Traveller
) -> None:
    config = config_without_approval(tmp_path)
    mine = add_shift(database, config, team.amira, berlin(2026, 11, 26, 9), berlin(2026, 11, 27, 9))
    theirs = add_shift(database, config, team.jonas, berlin(2026, 12, 3, 9), berlin(2026, 12, 4, 9))
    clock.shift(MINUTE)
    swap = ask(database, config, team.amira, mine, team.jonas, theirs)
    clock.shift(MINUTE)
    outcome = accept(database, config, swap, team.jonas)
    assert outcome.swap.state is SwapState.APPROVED
    assert holders(database, mine, theirs) == [team.jonas, team.amira]
    assert audit_actions(database, swap) == ["request", "accept"]
    keys = notices(database)
    assert not any(":approval:" in key for key in keys)  # nobody has to approve
    applied = keys[f"swap:{swap}:accepted:{team.amira}:sms"]
    assert "Sie übernehmen Do 03.12., 09:00 – Fr 04.12., 09:00" in applied
    assert "Der Dienstplan ist geändert" in applied
    # Nothing is left for a coordinator to decide.
    with pytest.raises(Conflict, match="bereits eingetragen"):
        approve(database, config, swap, team.coordinator)


def test_exchange_of_overlapping_and_adjacent_shifts(
    database: Database, config: HotlineConfig, team: Team, clock: time_machine.Traveller
) -> None:
    """Checked one at a time, each move would clash with the shift moving the other way."""
    day = berlin(2026, 11, 30, 9), berlin(2026, 11, 30, 17)
    primary = add_shift(database, config, team.amira, *day, Tier.PRIMARY)
    backup = add_shift(database, config, team.jonas, *day, Tier.BACKUP)
    first = add_shift(database, config, team.amira, berlin(2026, 12, 1, 9), berlin(2026, 12, 2, 9))
    second = add_shift(database, config, team.jonas, berlin(2026, 12, 2, 9), berlin(2026, 12, 3, 9))
    clock.shift(MINUTE)
    overlapping = ask(database, config, team.amira, primary, team.jonas, backup)
    adjacent = ask(database, config, team.amira, first, team.jonas, second)
    for swap in (overlapping, adjacent):
        accept(database, config, swap, team.jonas)
        assert approve(database, config, swap, team.admin).obsolete is None
    assert holders(database, primary, backup) == [team.jonas, team.amira]
    assert holders(database, first, second) == [team.jonas, team.amira]
    with database.read() as session:
        assert session.get(Shift, primary).tier is Tier.PRIMARY  # type: ignore[union-attr]


# --- refusals -----------------------------------------------------------------------------------


def swap_count(database: Database) -> int:
    with database.read() as session:
        return session.scalar(select(func.count()).select_from(SwapRequest)) or 0


def test_requests_that_are_refused_change_nothing(
    database: Database, config: HotlineConfig, team: Team, clock: time_machine.Traveller
) -> None:
    mine = add_shift(database, config, team.amira, berlin(2026, 11, 26, 9), berlin(2026, 11, 27, 9))
    past = add_shift(database, config, team.amira, berlin(2026, 11, 23, 9), berlin(2026, 11, 24, 9))
    leylas = add_shift(database, config, team.leyla, berlin(2026, 12, 1, 9), berlin(2026, 12, 2, 9))
    jonas_busy = add_shift(
        database, config, team.jonas, berlin(2026, 11, 26, 12), berlin(2026, 11, 26, 18)
    )
    with database.write() as session:
        inactive = add_counsellor(session, config, "islamism", name="Ina Aktiv")
        inactive.active = False
    cases: list[tuple[type[Exception], str, int, int, int, int | None]] = [
        (Invalid, "nur eigene Dienste", team.jonas, mine, team.leyla, None),
        (Invalid, "bereits vorbei", team.amira, past, team.leyla, None),
        (Invalid, "andere Person", team.amira, mine, team.amira, None),
        (Invalid, "gehört nicht zu Team Islamismus", team.amira, mine, team.rico, None),
        (Invalid, "deaktiviert", team.amira, mine, inactive.id, None),
        (NotFound, "Diese Person gibt es nicht", team.amira, mine, 999_999, None),
        (NotFound, "Diesen Dienst gibt es nicht", team.amira, 999_999, team.leyla, None),
        (Invalid, "Gegendienst muss ein Dienst von Jonas", team.amira, mine, team.jonas, leylas),
        (Conflict, "Jonas Becker hat in Team Islamismus", team.amira, mine, team.jonas, None),
    ]
    for error, message, requester, shift, colleague, back in cases:
        with pytest.raises(error, match=message):
            ask(database, config, requester, shift, colleague, back)
    assert swap_count(database) == 0
    assert notices(database) == {}
    # One open request per shift, whichever side of a swap it is on.
    ask(database, config, team.amira, mine, team.leyla)
    with pytest.raises(Conflict, match="schon eine offene Tauschanfrage"):
        ask(database, config, team.amira, mine, team.leyla)
    with pytest.raises(Conflict, match="schon eine offene Tauschanfrage"):
        ask(database, config, team.leyla, leylas, team.amira, mine)
    assert swap_count(database) == 1
    assert holders(database, jonas_busy) == [team.jonas]


def test_transitions_only_for_the_right_person_in_the_right_state(
    database: Database, config: HotlineConfig, team: Team, clock: time_machine.Traveller
) -> None:
    shift = add_shift(
        database, config, team.amira, berlin(2026, 11, 26, 9), berlin(2026, 11, 27, 9)
    )
    clock.shift(MINUTE)
    swap = ask(database, config, team.amira, shift, team.jonas)
    with database.write() as session:
        with pytest.raises(Invalid, match="Nur die angefragte Person"):
            answering.accept(session, config, swap, team.leyla, actor="tests")
        with pytest.raises(Invalid, match="Nur die angefragte Person"):
            answering.decline(session, config, swap, team.amira, actor="tests")
        with pytest.raises(Invalid, match="Nur wer die Anfrage gestellt hat"):
            asking.withdraw(session, config, swap, team.jonas, actor="tests")
        with pytest.raises(Conflict, match="bereits angefragt"):
            deciding.approve(session, config, swap, team.coordinator, actor="tests")
        with pytest.raises(NotFound):
            answering.accept(session, config, 999_999, team.jonas, actor="tests")
    accept(database, config, swap, team.jonas)
    with database.write() as session:
        with pytest.raises(Conflict, match="bereits angenommen"):
            answering.accept(session, config, swap, team.jonas, actor="tests")
        with pytest.raises(Conflict, match="bereits angenommen"):
            answering.decline(session, config, swap, team.jonas, actor="tests")
        for outsider in (team.other_coordinator, 999_999):
            with pytest.raises(Invalid, match="Nur die Koordination dieses Teams"):
                deciding.approve(session, config, swap, outsider, actor="tests")
            with pytest.raises(Invalid, match="Nur die Koordination dieses Teams"):
                deciding.reject(session, config, swap, outsider, actor="tests")
        # A counsellor's own account decides nothing either, even in her own team.
        leylas = users.NewUser("leyla", PASSWORD, Role.COUNSELLOR, (), team.leyla)
        counsellor_user = users.create_user(session, config, leylas, actor="tests").id
        with pytest.raises(Invalid, match="Nur die Koordination dieses Teams"):
            deciding.approve(session, config, swap, counsellor_user, actor="tests")
    assert state(database, swap) is SwapState.ACCEPTED
    assert audit_actions(database, swap) == ["request", "accept"]
    with database.write() as session:
        deciding.reject(session, config, swap, team.coordinator, actor="tests")
    assert state(database, swap) is SwapState.REJECTED
    assert holders(database, shift) == [team.amira]
    with database.write() as session, pytest.raises(Conflict, match="bereits von der Koord"):
        asking.withdraw(session, config, swap, team.amira, actor="tests")
    assert {key.split(":")[2] for key in notices(database)} == {
        "requested", "accepted", "approval", "rejected"
    }  # fmt: skip


def test_withdraw_and_decline(
    database: Database, config: HotlineConfig, team: Team, clock: time_machine.Traveller
) -> None:
    shift = add_shift(
        database, config, team.amira, berlin(2026, 11, 26, 9), berlin(2026, 11, 27, 9)
    )
    clock.shift(MINUTE)
    first = ask(database, config, team.amira, shift, team.jonas)
    with database.write() as session:
        answering.decline(session, config, first, team.jonas, actor="tests")
    second = ask(database, config, team.amira, shift, team.leyla)  # free again
    accept(database, config, second, team.leyla)
    with database.write() as session:
        asking.withdraw(session, config, second, team.amira, actor="tests")  # before approval
    assert (state(database, first), state(database, second)) == (
        SwapState.DECLINED,
        SwapState.WITHDRAWN,
    )
    assert holders(database, shift) == [team.amira]
    texts = notices(database)
    assert "abgelehnt" in texts[f"swap:{first}:declined:{team.amira}:sms"]
    assert "zurückgezogen" in texts[f"swap:{second}:withdrawn:{team.leyla}:sms"]
    assert audit_actions(database, second) == ["request", "accept", "withdraw"]


def test_an_overlap_at_approval_leaves_both_shifts_unchanged(
    database: Database, config: HotlineConfig, team: Team, clock: time_machine.Traveller
) -> None:
    mine = add_shift(database, config, team.amira, berlin(2026, 11, 26, 9), berlin(2026, 11, 27, 9))
    theirs = add_shift(database, config, team.jonas, berlin(2026, 12, 3, 9), berlin(2026, 12, 4, 9))
    clock.shift(MINUTE)
    swap = ask(database, config, team.amira, mine, team.jonas, theirs)
    accept(database, config, swap, team.jonas)
    # Meanwhile a coordinator gives Amira a shift at the time she would take over Jonas's.
    add_shift(database, config, team.amira, berlin(2026, 12, 3, 18), berlin(2026, 12, 4, 6))
    clock.shift(MINUTE)
    with pytest.raises(Conflict, match="Amira Yilmaz hat in Team Islamismus"):
        approve(database, config, swap, team.coordinator)
    assert holders(database, mine, theirs) == [team.amira, team.jonas]
    assert state(database, swap) is SwapState.ACCEPTED
    assert audit_actions(database, swap) == ["request", "accept"]
    assert not any(":approved:" in key for key in notices(database))


@pytest.mark.parametrize("how", ["changed", "deleted", "return-deleted", "past"])
def test_a_shift_changed_meanwhile_makes_the_request_obsolete(
    how: str,
    database: Database,
    config: HotlineConfig,
    team: Team,
    clock: time_machine.Traveller,
) -> None:
    mine = add_shift(database, config, team.amira, berlin(2026, 11, 26, 9), berlin(2026, 11, 27, 9))
    theirs = add_shift(database, config, team.jonas, berlin(2026, 12, 3, 9), berlin(2026, 12, 4, 9))
    clock.shift(MINUTE)
    swap = ask(database, config, team.amira, mine, team.jonas, theirs)
    clock.shift(MINUTE)
    with database.write() as session:
        if how == "changed":
            row = session.get(Shift, mine)
            assert row is not None
            row.end_at = berlin(2026, 11, 27, 12)
        elif how == "deleted":
            shifts.delete_shift(session, mine, actor="tests")
        elif how == "return-deleted":
            shifts.delete_shift(session, theirs, actor="tests")
    if how == "past":
        clock.move_to(berlin(2026, 11, 27, 10))
    outcome = accept(database, config, swap, team.jonas)
    reason = "deleted" if how.endswith("deleted") else how
    assert outcome.obsolete == reason
    assert state(database, swap) is SwapState.OBSOLETE
    with database.read() as session:
        remaining = {s.id: s.counsellor_id for s in session.scalars(select(Shift))}
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "obsolete")).one()
        assert entry.after is not None
        assert entry.after["reason"] == reason
    # Nothing was swapped: whatever is left still belongs to whom it belonged.
    assert remaining.get(mine, team.amira) == team.amira
    assert remaining.get(theirs, team.jonas) == team.jonas
    keys = notices(database)
    assert f"swap:{swap}:obsolete:{team.amira}:sms" in keys
    assert "hinfällig" in keys[f"swap:{swap}:obsolete:{team.jonas}:sms"]
    assert OBSOLETE_REASONS[reason]


def test_obsolete_also_at_approval(
    database: Database, config: HotlineConfig, team: Team, clock: time_machine.Traveller
) -> None:
    mine = add_shift(database, config, team.amira, berlin(2026, 11, 26, 9), berlin(2026, 11, 27, 9))
    clock.shift(MINUTE)
    swap = ask(database, config, team.amira, mine, team.jonas)
    accept(database, config, swap, team.jonas)
    clock.shift(MINUTE)
    with database.write() as session:
        row = session.get(Shift, mine)
        assert row is not None
        row.start_at = berlin(2026, 11, 26, 10)
    clock.shift(MINUTE)
    assert approve(database, config, swap, team.coordinator).obsolete == "changed"
    assert holders(database, mine) == [team.amira]
    assert audit_actions(database, swap) == ["request", "accept", "obsolete"]


# --- pages --------------------------------------------------------------------------------------


@pytest.fixture
def web(
    settings: Settings, database: Database, config: HotlineConfig, clock: time_machine.Traveller
) -> Iterator[TestClient]:
    make_user(database, config, "amira", Role.COUNSELLOR, "islamism")
    make_user(database, config, "jonas", Role.COUNSELLOR, "islamism")
    make_user(database, config, "koordination", Role.COORDINATOR, "islamism")
    with https_client(settings, database) as client:
        yield client


def as_user(client: TestClient, username: str) -> str:
    """Sign in as someone else; returns the CSRF token of "Meine Dienste"."""
    client.cookies.clear()
    sign_in(client, username)
    return csrf_of(client.get("/shifts/mine").text)


def test_pages_walk_a_swap_through(
    web: TestClient, database: Database, config: HotlineConfig, clock: time_machine.Traveller
) -> None:
    amira, jonas = counsellor_of(database, "amira"), counsellor_of(database, "jonas")
    mine = add_shift(database, config, amira, berlin(2026, 11, 26, 9), berlin(2026, 11, 27, 9))
    add_shift(database, config, jonas, berlin(2026, 11, 26, 20), berlin(2026, 11, 27, 6))
    theirs = add_shift(database, config, jonas, berlin(2026, 12, 3, 9), berlin(2026, 12, 4, 9))
    clock.shift(MINUTE)

    csrf = as_user(web, "amira")
    page = web.get("/shifts/mine")
    assert page.status_code == 200
    assert 'href="/shifts/mine" aria-current="page">Meine Dienste' in page.text
    assert "Team Islamismus: Do 26.11., 09:00 bis Fr 27.11., 09:00 (Erreichbar)" in page.text
    assert f'<label for="c-{mine}">Wer soll den Dienst übernehmen?</label>' in page.text
    assert "Jonas: Do 03.12., 09:00 – Fr 04.12., 09:00 (Erreichbar)" in page.text  # offer
    form = {"csrf": csrf, "shift_id": str(mine), "colleague_id": str(jonas), "note": ""}
    assert web.post("/shifts/mine/swaps", data=form | {"csrf": "forged"}).status_code == 403
    # Jonas is busy that night: a German message in the shift's form, nothing saved.
    clash = web.post("/shifts/mine/swaps", data=form)
    assert clash.status_code == 409
    assert "Jonas hat in Team Islamismus zu dieser Zeit bereits einen Dienst" in clash.text
    assert "Es wurde nichts gespeichert" in clash.text
    assert swap_count(database) == 0
    asked = web.post("/shifts/mine/swaps", data=form | {"return_shift_id": str(theirs)})
    assert asked.status_code == 409  # still the same night
    with database.write() as session:
        night = session.scalars(select(Shift).where(Shift.start_at == berlin(2026, 11, 26, 20)))
        shifts.delete_shift(session, night.one().id, actor="tests")
    clock.shift(MINUTE)
    asked = web.post("/shifts/mine/swaps", data=form | {"return_shift_id": str(theirs)})
    assert asked.status_code == 303
    assert asked.headers["location"] == "/shifts/mine?done=requested"
    page = web.get(asked.headers["location"])
    assert "Ihre Tauschanfrage ist gestellt" in page.text
    assert "Meine offenen Anfragen" in page.text
    assert "Zurückziehen" in page.text
    assert web.get("/rota/islamism/swaps").status_code == 403  # a counsellor decides nothing

    csrf = as_user(web, "jonas")
    page = web.get("/shifts/mine")
    assert "Amira bittet Sie (Team Islamismus)" in page.text
    swap = swap_id(database)
    accepted = web.post(f"/shifts/mine/swaps/{swap}/accept", data={"csrf": csrf})
    assert accepted.headers["location"] == "/shifts/mine?done=accepted"
    assert "Die Koordination muss noch zustimmen" in web.get(accepted.headers["location"]).text
    again = web.post(f"/shifts/mine/swaps/{swap}/accept", data={"csrf": csrf})
    assert again.status_code == 409
    assert "Diese Anfrage ist bereits angenommen" in again.text

    web.cookies.clear()
    sign_in(web, "koordination")
    dashboard = web.get("/").text
    assert "1 Tauschanfrage wartet auf Ihre Genehmigung" in dashboard
    assert "Meine Dienste" not in dashboard  # no counsellor record, no link
    assert "keine Beraterin und kein Berater zugeordnet" in web.get("/shifts/mine").text
    page = web.get("/rota/islamism/swaps")
    assert page.status_code == 200
    assert "Jonas übernimmt den Dienst von Amira" in page.text
    csrf = csrf_of(page.text)
    assert (
        web.post(f"/rota/right-wing/swaps/{swap}/approve", data={"csrf": csrf}).status_code == 403
    )
    told = change_notices(database)
    approved = web.post(f"/rota/islamism/swaps/{swap}/approve", data={"csrf": csrf})
    assert approved.headers["location"] == "/rota/islamism/swaps?done=approved"
    decided = web.get(approved.headers["location"]).text
    assert "Der Tausch ist genehmigt" in decided
    assert '<td data-label="Stand">eingetragen</td>' in decided  # in the history
    assert holders(database, mine, theirs) == [jonas, amira]
    assert "Keine Tauschanfragen warten auf Genehmigung" in web.get("/").text
    # The swap notices tell both; no generic change notice on top.
    assert change_notices(database) == told
    assert {key.split(":")[2] for key in swap_notices(database)} == {
        "requested", "accepted", "approved"
    }  # fmt: skip


def change_notices(database: Database) -> list[tuple[int, str, object]]:
    with database.read() as session:
        rows = session.scalars(
            select(ShiftNotice).where(ShiftNotice.kind == NoticeKind.CHANGED)
        ).all()
        return [(row.counsellor_id, row.channel, row.payload) for row in rows]


def swap_notices(database: Database) -> list[str]:
    with database.read() as session:
        return list(
            session.scalars(
                select(ShiftNotice.dedupe_key).where(ShiftNotice.kind == NoticeKind.SWAP)
            )
        )


def swap_id(database: Database) -> int:
    with database.read() as session:
        return session.scalars(select(SwapRequest.id)).one()


def test_pages_say_when_a_request_became_obsolete(
    web: TestClient, database: Database, config: HotlineConfig, clock: time_machine.Traveller
) -> None:
    amira, jonas = counsellor_of(database, "amira"), counsellor_of(database, "jonas")
    mine = add_shift(database, config, amira, berlin(2026, 11, 26, 9), berlin(2026, 11, 27, 9))
    clock.shift(MINUTE)
    swap = ask(database, config, amira, mine, jonas)
    clock.shift(MINUTE)
    with database.write() as session:
        row = session.get(Shift, mine)
        assert row is not None
        row.end_at = berlin(2026, 11, 27, 12)
    csrf = as_user(web, "jonas")
    assert "wurde inzwischen geändert" in web.get("/shifts/mine").text  # shown before acting
    answer = web.post(f"/shifts/mine/swaps/{swap}/accept", data={"csrf": csrf})
    assert answer.headers["location"] == "/shifts/mine?done=obsolete-changed"
    text = web.get(answer.headers["location"]).text
    assert "Die Anfrage ist hinfällig" in text
    assert "Es wurde nichts getauscht" in text
    assert holders(database, mine) == [amira]
    foreign = {"csrf": csrf, "shift_id": str(mine), "colleague_id": str(amira)}
    refused = web.post("/shifts/mine/swaps", data=foreign)
    assert refused.status_code == 422
    assert "Sie können nur eigene Dienste zum Tausch anbieten" in refused.text
    missing = web.post("/shifts/mine/swaps/999999/decline", data={"csrf": csrf})
    assert missing.status_code == 404


def test_a_change_committed_while_the_approval_waits_is_seen_not_overwritten(
    database: Database, config: HotlineConfig, team: Team, clock: time_machine.Traveller
) -> None:
    """Another transaction holds the shift (reassigned, not yet committed): the approval
    waits for its lock, then judges the row as committed and finds the request obsolete."""
    if database.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer at a time")
    mine = add_shift(database, config, team.amira, berlin(2026, 11, 26, 9), berlin(2026, 11, 27, 9))
    clock.shift(MINUTE)
    swap = ask(database, config, team.amira, mine, team.jonas)
    accept(database, config, swap, team.jonas)
    clock.shift(MINUTE)
    other = Session(database.engine)
    row = other.get(Shift, mine)
    assert row is not None
    row.counsellor_id = team.leyla
    other.flush()  # the row is locked until the commit below
    outcomes: list[Outcome] = []
    worker = threading.Thread(
        target=lambda: outcomes.append(approve(database, config, swap, team.coordinator))
    )
    worker.start()
    time.sleep(0.5)
    other.commit()
    other.close()
    worker.join(10)
    assert [outcome.obsolete for outcome in outcomes] == ["changed"]
    assert holders(database, mine) == [team.leyla]
