"""Open shifts: a counsellor offers a shift to her team, an eligible colleague takes it, a
coordinator approves (or the team needs no approval, or the coordination offered it); every
refusal changes nothing; an offer expires when its shift starts or changes; two colleagues
taking one offer at once: exactly one wins; feeds and notices follow the hand-over; the pages
walk the same story through the browser (tests.test_offer_pages)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from config.model import HotlineConfig
from config.settings import Settings
from foundation import users
from foundation.db import Database
from foundation.errors import Conflict, Invalid, NotFound
from foundation.models import (
    Absence,
    AbsenceKind,
    AuditEntry,
    NoticeKind,
    OfferState,
    Role,
    Shift,
    ShiftNotice,
    ShiftOffer,
    Tier,
)
from scheduling import shifts
from scheduling.feeds import queries
from scheduling.feeds.events import Owner, window
from scheduling.offers import deciding, expiring, offering, taking
from scheduling.swaps.asking import NewSwap, request_swap
from tests import test_swaps
from tests.conftest import add_counsellor, berlin
from tests.test_auth import PASSWORD
from tests.test_swaps import add_shift, config_without_approval, holders

NOW = berlin(2026, 11, 25, 12)  # a Wednesday, as in tests.test_swaps
MINUTE = timedelta(minutes=1)
TOMORROW = berlin(2026, 11, 26, 9), berlin(2026, 11, 27, 9)

# The swaps' story and its clock.
clock = test_swaps.clock


@dataclass(frozen=True)
class People:
    amira: int  # gives a shift (SMS and e-mail)
    jonas: int  # a colleague (SMS)
    leyla: int  # another colleague
    rico: int  # right-wing team only
    kora: int  # the islamism coordinator's own counsellor record (office team)
    users: dict[str, int]  # user ids by name: amira, jonas, leyla, koordination, rechts, chef


team = test_swaps.team  # the swaps' five counsellors and three accounts


@pytest.fixture
def people(database: Database, config: HotlineConfig, team: test_swaps.Team) -> People:
    """The swaps' team, with accounts for its three islamism counsellors."""
    with database.write() as session:

        def account(name: str, counsellor: int) -> int:
            new = users.NewUser(name, PASSWORD, Role.COUNSELLOR, (), counsellor)
            return users.create_user(session, config, new, actor="tests").id

        ids = {
            "amira": account("amira", team.amira),
            "jonas": account("jonas", team.jonas),
            "leyla": account("leyla", team.leyla),
            "koordination": team.coordinator,
            "rechts": team.other_coordinator,
            "chef": team.admin,
        }
    return People(team.amira, team.jonas, team.leyla, team.rico, team.kora, ids)


def offer(database: Database, config: HotlineConfig, shift_id: int, user: int) -> int:
    with database.write() as session:
        return offering.offer(session, config, shift_id, user, note="Arzttermin", actor="t").id


def amiras_offer(
    database: Database, config: HotlineConfig, people: People, clock: time_machine.Traveller
) -> tuple[int, int]:
    """Amira's shift of tomorrow, offered by her a minute later: (shift id, offer id)."""
    shift = add_shift(database, config, people.amira, *TOMORROW)
    clock.shift(MINUTE)
    return shift, offer(database, config, shift, people.users["amira"])


def take(database: Database, config: HotlineConfig, offer_id: int, who: int) -> taking.Outcome:
    with database.write() as session:
        return taking.take(session, config, offer_id, who, actor="tests")


def approve(database: Database, config: HotlineConfig, offer_id: int, user: int) -> taking.Outcome:
    with database.write() as session:
        return deciding.approve(session, config, offer_id, user, actor="tests")


def row(database: Database, offer_id: int) -> tuple[OfferState, int | None]:
    with database.read() as session:
        found = session.get(ShiftOffer, offer_id)
        assert found is not None
        return OfferState(found.state), found.taker_id


def notices(database: Database) -> dict[str, str]:
    """dedupe key (without the step) -> text of every queued open-shift notice."""
    with database.read() as session:
        rows = session.scalars(
            select(ShiftNotice)
            .where(ShiftNotice.dedupe_key.startswith("offer:"))
            .order_by(ShiftNotice.id)
        ).all()
        assert all(r.kind is NoticeKind.SWAP for r in rows)
        found = {}
        for r in rows:
            _offer, offer_id, _step, rest = r.dedupe_key.split(":", 3)
            found[f"{offer_id}:{rest}"] = r.payload["text"]
        return found


def audit_actions(database: Database, offer_id: int) -> list[str]:
    return test_swaps.audit_actions(database, offer_id, entity="shift_offer")


# --- the flows ----------------------------------------------------------------------------------


def test_an_offer_taken_and_approved(
    database: Database, config: HotlineConfig, people: People, clock: time_machine.Traveller
) -> None:
    shift, offered = amiras_offer(database, config, people, clock)
    assert row(database, offered) == (OfferState.OPEN, None)
    # Every colleague who may take it is told; the giver, the other team and the office not.
    told = notices(database)
    assert sorted(told) == [
        f"{offered}:offered:{people.jonas}:sms",
        f"{offered}:offered:{people.leyla}:sms",
    ]
    text = told[f"{offered}:offered:{people.jonas}:sms"]
    assert "Offener Dienst (Team Islamismus): Amira Yilmaz gibt den Dienst" in text
    assert "Do 26.11., 09:00 – Fr 27.11., 09:00" in text  # Berlin time
    assert "Arzttermin" not in text  # the free note never goes out

    clock.shift(MINUTE)
    outcome = take(database, config, offered, people.jonas)
    assert outcome.expired is None
    assert row(database, offered) == (OfferState.TAKEN, people.jonas)
    assert holders(database, shift) == [people.amira]  # nothing changes before approval
    with database.read() as session:
        islamism = session.get(Shift, shift).team_id  # type: ignore[union-attr]
        assert deciding.waiting_for_approval(session, islamism) == 1

    clock.shift(MINUTE)
    assert approve(database, config, offered, people.users["koordination"]).expired is None
    assert holders(database, shift) == [people.jonas]  # the same shift, reassigned in place
    with database.read() as session:
        found = session.get(ShiftOffer, offered)
        assert found is not None
        assert found.decided_by_id == people.users["koordination"]
        assert deciding.waiting_for_approval(session, islamism) == 0
        moved = session.scalars(
            select(AuditEntry).where(AuditEntry.entity == "shift", AuditEntry.action == "offer")
        ).one()
        assert moved.before["counsellor_id"] == people.amira  # type: ignore[index]
        assert moved.after["counsellor_id"] == people.jonas  # type: ignore[index]
        assert moved.after["shift_offer_id"] == offered  # type: ignore[index]
    assert audit_actions(database, offered) == ["offer", "take", "approve"]
    texts = notices(database)
    assert sorted(texts) == sorted(
        f"{offered}:{key}"
        for key in (
            f"offered:{people.jonas}:sms",
            f"offered:{people.leyla}:sms",
            f"taken:{people.amira}:sms",
            f"taken:{people.amira}:email",
            f"approval:{people.kora}:sms",
            f"handed:{people.amira}:sms",
            f"handed:{people.amira}:email",
            f"received:{people.jonas}:sms",
        )
    )
    assert "Die Koordination muss noch zustimmen" in texts[f"{offered}:taken:{people.amira}:sms"]
    assert "Übernahme zur Genehmigung" in texts[f"{offered}:approval:{people.kora}:sms"]
    assert texts[f"{offered}:handed:{people.amira}:sms"] == (
        "Jonas Becker übernimmt den Dienst Do 26.11., 09:00 – Fr 27.11., 09:00 "
        "(Team Islamismus) von Ihnen. Der Dienstplan ist geändert."
    )
    assert "Sie übernehmen den Dienst" in texts[f"{offered}:received:{people.jonas}:sms"]


def test_without_approval_taking_hands_the_shift_over_at_once(
    tmp_path: Path, database: Database, people: People, clock: time_machine.Traveller
) -> None:
    config = config_without_approval(tmp_path)
    shift, offered = amiras_offer(database, config, people, clock)
    outcome = take(database, config, offered, people.leyla)
    assert outcome.offer.state is OfferState.APPROVED
    assert holders(database, shift) == [people.leyla]
    assert audit_actions(database, offered) == ["offer", "take"]
    keys = notices(database)
    assert not any(":approval:" in key or ":taken:" in key for key in keys)
    assert f"{offered}:received:{people.leyla}:sms" in keys
    with pytest.raises(Conflict, match="bereits übergeben"):
        approve(database, config, offered, people.users["koordination"])


def test_an_offer_of_the_coordination_needs_no_further_approval(
    database: Database, config: HotlineConfig, people: People, clock: time_machine.Traveller
) -> None:
    assert config.teams["islamism"].swap_approval
    shift = add_shift(database, config, people.amira, *TOMORROW)
    clock.shift(MINUTE)
    offered = offer(database, config, shift, people.users["koordination"])
    texts = notices(database)
    assert (
        "Die Koordination hat Ihren Dienst" in texts[f"{offered}:offered_yours:{people.amira}:sms"]
    )
    assert "Die Koordination bietet den Dienst" in texts[f"{offered}:offered:{people.jonas}:sms"]
    assert take(database, config, offered, people.jonas).offer.state is OfferState.APPROVED
    assert holders(database, shift) == [people.jonas]
    # The coordination of another team offers nothing here; an admin does.
    other = add_shift(
        database, config, people.amira, berlin(2026, 12, 1, 9), berlin(2026, 12, 2, 9)
    )
    with pytest.raises(Invalid, match="nur eigene Dienste"):
        offer(database, config, other, people.users["rechts"])
    assert take(
        database, config, offer(database, config, other, people.users["chef"]), people.leyla
    )


# --- refusals -----------------------------------------------------------------------------------


def offer_count(database: Database) -> int:
    with database.read() as session:
        return session.scalar(select(func.count()).select_from(ShiftOffer)) or 0


def test_offers_that_are_refused_change_nothing(
    database: Database, config: HotlineConfig, people: People, clock: time_machine.Traveller
) -> None:
    mine = add_shift(database, config, people.amira, *TOMORROW)
    begun = add_shift(
        database, config, people.amira, berlin(2026, 11, 25, 9), berlin(2026, 11, 25, 20)
    )
    asked = add_shift(
        database, config, people.amira, berlin(2026, 12, 3, 9), berlin(2026, 12, 4, 9)
    )
    with database.write() as session:
        request_swap(session, config, people.amira, NewSwap(asked, people.jonas), actor="tests")
    cases: list[tuple[type[Exception], str, int, str]] = [
        (Invalid, "nur eigene Dienste", mine, "jonas"),
        (Invalid, "bereits begonnen", begun, "amira"),
        (NotFound, "Diesen Dienst gibt es nicht", 999_999, "amira"),
        (Conflict, "offene Tauschanfrage", asked, "amira"),
    ]
    for error, message, shift, who in cases:
        with pytest.raises(error, match=message):
            offer(database, config, shift, people.users[who])
    assert offer_count(database) == 0
    assert notices(database) == {}
    # One live offer per shift; and a shift on offer is not asked for in a swap.
    offer(database, config, mine, people.users["amira"])
    with pytest.raises(Conflict, match="bereits angeboten"):
        offer(database, config, mine, people.users["koordination"])
    with database.write() as session, pytest.raises(Conflict, match="zur Übernahme angeboten"):
        request_swap(session, config, people.amira, NewSwap(mine, people.leyla), actor="tests")
    assert offer_count(database) == 1


def test_only_an_eligible_colleague_takes_it(
    database: Database, config: HotlineConfig, people: People, clock: time_machine.Traveller
) -> None:
    shift = add_shift(database, config, people.amira, *TOMORROW)
    # Jonas is on call that night (the backup tier counts too); Leyla is on holiday.
    add_shift(
        database,
        config,
        people.jonas,
        berlin(2026, 11, 26, 20),
        berlin(2026, 11, 27, 6),
        Tier.BACKUP,
    )
    with database.write() as session:
        session.add(
            Absence(counsellor_id=people.leyla, kind=AbsenceKind.HOLIDAY,
                    start_at=berlin(2026, 11, 27, 8), end_at=berlin(2026, 11, 30))
        )  # fmt: skip
        inactive = add_counsellor(session, config, "islamism", name="Ina Aktiv")
        inactive.active = False
    clock.shift(MINUTE)
    offered = offer(database, config, shift, people.users["amira"])
    assert notices(database) == {}  # nobody could take it, nobody is told
    cases: list[tuple[type[Exception], str, int]] = [
        (Invalid, "bereits Ihr Dienst", people.amira),
        (Invalid, "gehört nicht zu Team Islamismus", people.rico),
        (Invalid, "deaktiviert", inactive.id),
        (Conflict, "Jonas Becker hat in Team Islamismus zu dieser Zeit bereits", people.jonas),
        (Conflict, "Leyla Demir ist in dieser Zeit abwesend", people.leyla),
        (NotFound, "Diese Person gibt es nicht", 999_999),
    ]
    for error, message, who in cases:
        with pytest.raises(error, match=message):
            take(database, config, offered, who)
    assert row(database, offered) == (OfferState.OPEN, None)
    assert audit_actions(database, offered) == ["offer"]
    assert holders(database, shift) == [people.amira]


def test_a_declined_taker_puts_the_shift_back_on_offer(
    database: Database, config: HotlineConfig, people: People, clock: time_machine.Traveller
) -> None:
    _shift, offered = amiras_offer(database, config, people, clock)
    take(database, config, offered, people.jonas)
    with pytest.raises(Conflict, match="bereits übernommen, wartet auf Genehmigung"):
        take(database, config, offered, people.leyla)
    with database.write() as session:
        for who in ("jonas", "rechts", "amira"):  # neither colleagues nor another team decide
            with pytest.raises(Invalid, match="Nur die Koordination dieses Teams"):
                deciding.decline(session, config, offered, people.users[who], actor="tests")
        deciding.decline(session, config, offered, people.users["koordination"], actor="tests")
    assert row(database, offered) == (OfferState.OPEN, None)
    texts = notices(database)
    declined = texts[f"{offered}:declined:{people.jonas}:sms"]
    assert "Die Koordination hat abgelehnt, dass Jonas Becker den Dienst" in declined
    assert "ist weiter angeboten" in texts[f"{offered}:declined:{people.amira}:sms"]
    # Taken again, by someone else: told again (each step has its own notices).
    take(database, config, offered, people.leyla)
    with database.read() as session:
        taken = session.scalars(
            select(ShiftNotice.payload).where(
                ShiftNotice.dedupe_key.like(f"offer:{offered}:%:taken:{people.amira}:sms")
            )
        ).all()
    assert [("Jonas" in p["text"], "Leyla" in p["text"]) for p in taken] == [
        (True, False),
        (False, True),
    ]
    assert audit_actions(database, offered) == ["offer", "take", "decline", "take"]
    with database.read() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "decline")).one()
        assert (entry.before["taker_id"], entry.after["taker_id"]) == (people.jonas, None)  # type: ignore[index]


def test_withdrawing_an_offer(
    database: Database, config: HotlineConfig, people: People, clock: time_machine.Traveller
) -> None:
    first = add_shift(database, config, people.amira, *TOMORROW)
    second = add_shift(
        database, config, people.amira, berlin(2026, 12, 1, 9), berlin(2026, 12, 2, 9)
    )
    clock.shift(MINUTE)
    open_one = offer(database, config, first, people.users["amira"])
    taken_one = offer(database, config, second, people.users["amira"])
    take(database, config, taken_one, people.jonas)
    before = set(notices(database))
    with database.write() as session:
        with pytest.raises(Invalid, match="Nur wer den Dienst abgibt"):
            offering.withdraw(session, config, open_one, people.users["jonas"], actor="tests")
        offering.withdraw(session, config, open_one, people.users["amira"], actor="tests")
        offering.withdraw(session, config, taken_one, people.users["koordination"], actor="tests")
    assert row(database, open_one)[0] is OfferState.WITHDRAWN
    assert row(database, taken_one) == (OfferState.WITHDRAWN, people.jonas)
    assert holders(database, first, second) == [people.amira, people.amira]
    # The giver withdrawing her open offer tells nobody; the coordination withdrawing a taken one
    # tells the taker and the giver.
    assert sorted(set(notices(database)) - before) == sorted(
        f"{taken_one}:withdrawn:{who}"
        for who in (f"{people.jonas}:sms", f"{people.amira}:sms", f"{people.amira}:email")
    )
    with pytest.raises(Conflict, match="bereits zurückgezogen"):
        take(database, config, open_one, people.leyla)
    # Withdrawn, the shift may be offered again.
    assert offer(database, config, first, people.users["amira"]) != open_one


def test_an_overlap_at_approval_leaves_the_shift_unchanged(
    database: Database, config: HotlineConfig, people: People, clock: time_machine.Traveller
) -> None:
    shift, offered = amiras_offer(database, config, people, clock)
    take(database, config, offered, people.jonas)
    # Meanwhile a coordinator gives Jonas a shift that night.
    add_shift(database, config, people.jonas, berlin(2026, 11, 26, 18), berlin(2026, 11, 27, 6))
    with pytest.raises(Conflict, match="Jonas Becker hat in Team Islamismus"):
        approve(database, config, offered, people.users["koordination"])
    assert holders(database, shift) == [people.amira]
    assert row(database, offered) == (OfferState.TAKEN, people.jonas)
    assert audit_actions(database, offered) == ["offer", "take"]


@pytest.mark.parametrize("how", ["changed", "reassigned", "deleted", "started"])
def test_an_offer_whose_shift_changed_or_began_expires(
    how: str,
    database: Database,
    config: HotlineConfig,
    people: People,
    clock: time_machine.Traveller,
) -> None:
    shift, offered = amiras_offer(database, config, people, clock)
    clock.shift(MINUTE)
    with database.write() as session:
        found = session.get(Shift, shift)
        assert found is not None
        if how == "changed":
            found.end_at = berlin(2026, 11, 27, 12)
        elif how == "reassigned":
            found.counsellor_id = people.leyla
        elif how == "deleted":
            shifts.delete_shift(session, shift, actor="tests")
    if how == "started":
        clock.move_to(berlin(2026, 11, 26, 9))
    outcome = take(database, config, offered, people.jonas)
    reason = "changed" if how == "reassigned" else how
    assert outcome.expired == reason
    assert row(database, offered)[0] is OfferState.EXPIRED
    with database.read() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "expire")).one()
        assert entry.after["reason"] == reason  # type: ignore[index]
        left = session.get(Shift, shift)
    assert left is None or left.counsellor_id != people.jonas  # nothing was handed over
    text = notices(database)[f"{offered}:expired:{people.amira}:sms"]
    assert "ist abgelaufen" in text
    assert "Es wurde nichts übergeben" in text


def test_the_scheduler_closes_offers_that_can_no_longer_be_taken(
    database: Database, config: HotlineConfig, people: People, clock: time_machine.Traveller
) -> None:
    soon = add_shift(
        database, config, people.amira, berlin(2026, 11, 25, 18), berlin(2026, 11, 26, 9)
    )
    later = add_shift(
        database, config, people.amira, berlin(2026, 12, 1, 9), berlin(2026, 12, 2, 9)
    )
    moved = add_shift(
        database, config, people.amira, berlin(2026, 12, 3, 9), berlin(2026, 12, 4, 9)
    )
    clock.shift(MINUTE)
    ids = [offer(database, config, s, people.users["amira"]) for s in (soon, later, moved)]
    take(database, config, ids[0], people.jonas)  # waiting for approval when it begins
    clock.shift(MINUTE)
    with database.write() as session:
        found = session.get(Shift, moved)
        assert found is not None
        found.start_at = berlin(2026, 12, 3, 10)
    clock.move_to(berlin(2026, 11, 25, 18))
    with database.write() as session:
        assert expiring.expire_due(session, config, berlin(2026, 11, 25, 18)) == 2
    assert [row(database, i)[0] for i in ids] == [
        OfferState.EXPIRED, OfferState.OPEN, OfferState.EXPIRED
    ]  # fmt: skip
    with database.write() as session:
        assert expiring.expire_due(session, config, berlin(2026, 11, 25, 18)) == 0
    texts = notices(database)
    assert "Der Dienst hat inzwischen begonnen" in texts[f"{ids[0]}:expired:{people.jonas}:sms"]
    assert "wurde inzwischen geändert" in texts[f"{ids[2]}:expired:{people.amira}:sms"]
    assert holders(database, soon) == [people.amira]


# --- at the same time ---------------------------------------------------------------------------


def test_two_colleagues_taking_one_offer_at_once_one_wins(
    tmp_path: Path, database: Database, people: People, clock: time_machine.Traveller
) -> None:
    """Both pass every check on their own; the offer row's lock serialises them, and the
    second finds the shift handed over. Never two holders, never two hand-overs."""
    config = config_without_approval(tmp_path)
    shift, offered = amiras_offer(database, config, people, clock)
    barrier = threading.Barrier(2)
    outcomes: dict[int, str] = {}

    def grab(who: int) -> None:
        barrier.wait()
        try:
            take(database, config, offered, who)
            outcomes[who] = "ok"
        except Conflict as exc:
            outcomes[who] = exc.message

    threads = [threading.Thread(target=grab, args=(who,)) for who in (people.jonas, people.leyla)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    winners = [who for who, result in outcomes.items() if result == "ok"]
    assert len(winners) == 1, outcomes
    (loser,) = set(outcomes) - set(winners)
    assert outcomes[loser] == "Dieses Angebot ist bereits übergeben."
    assert holders(database, shift) == winners
    assert row(database, offered) == (OfferState.APPROVED, winners[0])
    assert audit_actions(database, offered) == ["offer", "take"]
    with database.read() as session:
        handed = select(func.count()).where(
            AuditEntry.entity == "shift", AuditEntry.action == "offer"
        )
        assert session.scalar(handed) == 1


def test_a_change_committed_while_the_taker_waits_is_seen_not_overwritten(
    database: Database, config: HotlineConfig, people: People, clock: time_machine.Traveller
) -> None:
    """Another transaction holds the shift (reassigned, not yet committed): taking waits for
    its lock, then judges the row as committed and lets the offer expire."""
    if database.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer at a time")
    shift, offered = amiras_offer(database, config, people, clock)
    clock.shift(MINUTE)
    other = Session(database.engine)
    found = other.get(Shift, shift)
    assert found is not None
    found.counsellor_id = people.leyla
    other.flush()  # the row is locked until the commit below
    outcomes: list[taking.Outcome] = []
    worker = threading.Thread(
        target=lambda: outcomes.append(take(database, config, offered, people.jonas))
    )
    worker.start()
    time.sleep(0.5)
    other.commit()
    other.close()
    worker.join(10)
    assert [outcome.expired for outcome in outcomes] == ["changed"]
    assert holders(database, shift) == [people.leyla]


# --- calendars ----------------------------------------------------------------------------------


def test_both_feeds_follow_the_hand_over(
    tmp_path: Path, database: Database, people: People, clock: time_machine.Traveller
) -> None:
    config = config_without_approval(tmp_path)
    settings = Settings(config=config)
    shift = add_shift(database, config, people.amira, *TOMORROW)
    uid = f"shift-{shift}@".encode()

    def feed(counsellor: int) -> tuple[str, bytes]:
        with database.read() as session:
            span = window(NOW, config.organisation.zone, config.feeds)
            owner = Owner(counsellor)
            etag = queries.fingerprint(session, settings, owner, span).etag
            return etag, queries.build(session, settings, owner, span)

    (giver_tag, giver_body), (taker_tag, taker_body) = feed(people.amira), feed(people.jonas)
    assert uid in giver_body
    assert uid not in taker_body
    clock.shift(timedelta(seconds=5))  # a shift's SEQUENCE counts whole seconds
    offered = offer(database, config, shift, people.users["amira"])
    assert feed(people.amira)[0] == giver_tag  # an offer alone changes no calendar
    take(database, config, offered, people.jonas)
    (giver_after, giver_body_after), (taker_after, taker_body_after) = (
        feed(people.amira),
        feed(people.jonas),
    )
    assert giver_after != giver_tag
    assert taker_after != taker_tag
    assert uid not in giver_body_after
    assert uid in taker_body_after
    sequence = [
        int(line.split(b":")[1])
        for body in (giver_body, taker_body_after)
        for line in body.split(b"\r\n")
        if line.startswith(b"SEQUENCE:")
    ]
    assert sequence[1] > sequence[0]  # the same event (UID), changed
