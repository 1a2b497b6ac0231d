"""The access matrix: every route × who asks × how she relates to the record the request names.

`POLICY` is the policy's table (foundation.access), written down once: for each question, who
may (by relationship). `test_the_policy_answers_as_its_table` checks the policy module against
it; `test_every_route_answers_as_the_policy_says` asks the running app every route of
`ROUTES` (a new route without an entry fails) as each relationship, and derives the expected
answer from the table: allowed, 403 (a refused team in the URL, or a record she sees but may
not change), or 404 (a record she may not see: as if it did not exist). A refused request
changes nothing in the database.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pyotp
import pytest
from sqlalchemy import select
from starlette.routing import Mount, Route
from starlette.testclient import TestClient

from config.model import HotlineConfig
from config.settings import Settings
from foundation import access, apikeys, crypto, users
from foundation.access import FeedOwner, Principal, TeamRef
from foundation.clock import utcnow
from foundation.db import Database
from foundation.models import (
    Absence,
    AbsenceKind,
    Appointment,
    AppointmentMode,
    Base,
    CallbackRequest,
    Channel,
    Client,
    Conversation,
    Counsellor,
    ExternalCalendar,
    FeedToken,
    OutboundCall,
    PlanStep,
    Role,
    SecondFactor,
    Shift,
    ShiftOffer,
    StandIn,
    SwapRequest,
    Team,
    Tier,
    Voicemail,
)
from tests.conftest import add_counsellor
from tests.helpers import https_client, post_signed

PASSWORD = "Bodensee-Fähre-1987"
Y, N = True, False

# --- the policy's table -------------------------------------------------------------------------

# Who asks, and how she relates to the record: (account, the record's team, whose record).
# "colleague": another counsellor of that team; "self": the asker's own counsellor record.
RELATIONSHIPS: dict[str, tuple[str, str, str]] = {
    "admin": ("chef", "islamism", "colleague"),
    "coordinator, own team": ("koord", "islamism", "colleague"),
    "coordinator, other team": ("koord", "right-wing", "colleague"),
    # The bug of issue 13: a coordinator of islamism whose counsellor record is in right-wing.
    "coordinator, her counsellor in that team": ("doppel", "right-wing", "colleague"),
    "counsellor, own team": ("berat", "islamism", "colleague"),
    "counsellor, own record": ("berat", "islamism", "self"),
    "counsellor, other team": ("berat", "right-wing", "colleague"),
}
ROLES = {"chef": Role.ADMIN, "koord": Role.COORDINATOR, "doppel": Role.COORDINATOR}
ROLES["berat"] = Role.COUNSELLOR

# fmt: off
POLICY: dict[str, tuple[bool, ...]] = {
    #                      admin  coord  coord  coord   couns  couns  couns
    #                             own    other  linked  own    self   other
    "see_team":           (Y,     Y,     N,     Y,      Y,     Y,     N),
    "coordinate":         (Y,     Y,     N,     N,      N,     N,     N),
    "staff":              (N,     Y,     N,     Y,      Y,     Y,     N),
    "change_appointment": (Y,     Y,     N,     N,      N,     Y,     N),
    "edit_counsellor":    (Y,     Y,     N,     N,      N,     N,     N),
    "see_absence":        (Y,     Y,     N,     Y,      Y,     Y,     N),
    "change_absence":     (Y,     Y,     N,     N,      N,     N,     N),
    "see_task":           (Y,     Y,     N,     Y,      Y,     Y,     N),
    "work_task":          (N,     Y,     N,     Y,      Y,     Y,     N),
    "see_conversation":   (Y,     Y,     N,     Y,      Y,     Y,     N),
    "see_swap":           (Y,     Y,     N,     N,      N,     Y,     N),
    "decide_swap":        (Y,     Y,     N,     N,      N,     N,     N),
    "offer_shift":        (Y,     Y,     N,     N,      N,     Y,     N),
    "see_offer":          (Y,     Y,     N,     Y,      Y,     Y,     N),
    "decide_offer":       (Y,     Y,     N,     N,      N,     N,     N),
    "revoke_feed":        (Y,     Y,     N,     N,      N,     Y,     N),
    "own_calendar":       (N,     N,     N,     N,      N,     Y,     N),
    "see_report":         (Y,     Y,     N,     N,      N,     N,     N),
    "see_client":         (N,     Y,     N,     Y,      Y,     Y,     N),
    "change_client":      (N,     Y,     N,     Y,      Y,     Y,     N),
}
# fmt: on


def allowed(question: str, relationship: str) -> bool:
    return POLICY[question][list(RELATIONSHIPS).index(relationship)]


# --- the policy module against its table ---------------------------------------------------------

ISLAMISM, RIGHT_WING = TeamRef(1, "islamism"), TeamRef(2, "right-wing")
PURE = {  # the accounts above as principals, counsellor ids 10 (berat), 30 (doppel)
    "chef": Principal("chef", Role.ADMIN, user_id=1),
    "koord": Principal("koord", Role.COORDINATOR, user_id=2, account_teams=frozenset({ISLAMISM})),
    "doppel": Principal(
        "doppel",
        Role.COORDINATOR,
        user_id=3,
        account_teams=frozenset({ISLAMISM}),
        counsellor_id=30,
        member_teams=frozenset({RIGHT_WING}),
    ),
    "berat": Principal(
        "berat", Role.COUNSELLOR, user_id=4, counsellor_id=10, member_teams=frozenset({ISLAMISM})
    ),
}


@dataclass(frozen=True)
class Facts:
    """A record as the policy sees it: its team, its counsellor and her teams, another one."""

    team: int
    owner: int
    owner_teams: tuple[int, ...]
    other: int


QUESTIONS: dict[str, Callable[[Principal, Facts], bool]] = {
    "see_team": lambda p, r: access.may_see_team(p, r.team),
    "coordinate": lambda p, r: access.may_coordinate(p, r.team),
    "staff": lambda p, r: access.is_staff(p, r.team),
    "change_appointment": lambda p, r: access.may_change_appointment(p, r.owner, r.owner_teams),
    "edit_counsellor": lambda p, r: access.may_edit_counsellor(p, r.owner_teams),
    "see_absence": lambda p, r: access.may_see_absence(p, r.owner_teams),
    "change_absence": lambda p, r: access.may_change_absence(p, r.owner_teams),
    "see_task": lambda p, r: access.may_see_task(p, r.team),
    "work_task": lambda p, r: access.may_work_task(p, r.team),
    "see_conversation": lambda p, r: access.may_see_conversation(p, r.team),
    "see_swap": lambda p, r: access.may_see_swap(p, r.owner, r.other, r.team),
    "decide_swap": lambda p, r: access.may_decide_swap(p, r.team),
    "offer_shift": lambda p, r: access.may_offer_shift(p, r.owner, r.team),
    "see_offer": lambda p, r: access.may_see_offer(p, r.owner, None, r.team),
    "decide_offer": lambda p, r: access.may_decide_offer(p, r.team),
    "revoke_feed": lambda p, r: access.may_revoke_feed(
        p, FeedOwner(None, r.owner, r.owner_teams, None)
    ),
    "own_calendar": lambda p, r: access.may_change_own_calendar(p, r.owner),
    "see_report": lambda p, r: access.may_see_report(p, r.team),
    "see_client": lambda p, r: access.may_see_client(p, r.team),
    "change_client": lambda p, r: access.may_change_client(p, r.team),
}


def _pure_facts(team: str, whose: str) -> Facts:
    team_id = ISLAMISM.id if team == "islamism" else RIGHT_WING.id
    owner = 10 if whose == "self" else 11 if team == "islamism" else 21
    return Facts(team_id, owner, (team_id,), owner + 100)


@pytest.mark.parametrize("relationship", list(RELATIONSHIPS))
def test_the_policy_answers_as_its_table(relationship: str) -> None:
    account, team, whose = RELATIONSHIPS[relationship]
    facts = _pure_facts(team, whose)
    answers = {q: ask(PURE[account], facts) for q, ask in QUESTIONS.items()}
    assert answers == {q: allowed(q, relationship) for q in POLICY}


def test_an_api_key_and_the_service_see_everything_but_an_admin_no_client_data() -> None:
    key, system, admin = access.for_api_key(1, "ops"), access.system("cli"), PURE["chef"]
    for who in (key, system):
        assert all(ask(who, _pure_facts("right-wing", "colleague")) for q, ask in QUESTIONS.items()
                   if q != "own_calendar")  # fmt: skip
    assert access.may_see_team(admin, RIGHT_WING.id)
    assert not access.is_staff(admin, RIGHT_WING.id)


def test_a_linked_counsellor_gives_counsellor_rights_never_coordinator_rights() -> None:
    doppel = PURE["doppel"]
    assert access.may_coordinate(doppel, "islamism")
    assert access.may_see_team(doppel, "right-wing")
    assert access.is_staff(doppel, "right-wing")
    assert not access.may_coordinate(doppel, "right-wing")
    assert not access.may_coordinate(doppel, RIGHT_WING.id)
    assert not access.may_change_appointment(doppel, 21, [RIGHT_WING.id])
    assert access.may_change_appointment(doppel, 30, [RIGHT_WING.id])  # her own
    assert access.teams_coordinated(doppel, ["islamism", "right-wing"]) == ["islamism"]


# --- the world the app is asked about ------------------------------------------------------------


class World:
    """Two teams with counsellors and accounts as in RELATIONSHIPS; records made on demand."""

    def __init__(self, database: Database, settings: Settings) -> None:
        self.db, self.settings, self.box = database, settings, crypto.box(settings)
        self._n = itertools.count(1)
        config = settings.config
        with database.write() as session:
            self.team = {t.slug: t.id for t in session.scalars(select(Team))}
            people = {
                "berat": add_counsellor(session, config, "islamism", name="Berat").id,
                ("islamism", "colleague"): add_counsellor(session, config, "islamism").id,
                ("islamism", "second"): add_counsellor(session, config, "islamism").id,
                ("right-wing", "colleague"): add_counsellor(session, config, "right-wing").id,
                ("right-wing", "second"): add_counsellor(session, config, "right-wing").id,
                "doppel": add_counsellor(session, config, "right-wing", name="Doppel").id,
            }
            self.people = people
            for name, role, teams, counsellor in (
                ("chef", Role.ADMIN, (), None),
                ("koord", Role.COORDINATOR, ("islamism",), None),
                ("doppel", Role.COORDINATOR, ("islamism",), people["doppel"]),
                ("berat", Role.COUNSELLOR, (), people["berat"]),
            ):
                new = users.NewUser(name, PASSWORD, role, teams, counsellor)
                users.create_user(session, config, new, actor="tests")

    def owner(self, team: str, whose: str) -> int:
        return self.people["berat"] if whose == "self" else self.people[team, "colleague"]

    def _when(self) -> tuple[datetime, datetime]:
        start = datetime(2030, 1, 7, tzinfo=UTC) + timedelta(hours=3 * next(self._n))
        return start, start + timedelta(hours=2)

    def _add(self, row: Any) -> int:
        with self.db.write() as session:
            session.add(row)
            session.flush()
            return int(row.id)

    # Each factory: the path parameters naming a new record of `team`, whose `whose` says.
    def team_only(self, team: str, _whose: str) -> dict[str, object]:
        return {"team": team}

    def report_table(self, team: str, _whose: str) -> dict[str, object]:
        """A table of the team's report (its CSV): named by the team, not by a record."""
        return {"team": team, "table": "leitungen"}

    def shift(self, team: str, whose: str) -> dict[str, object]:
        start, end = self._when()
        row = Shift(team_id=self.team[team], counsellor_id=self.owner(team, whose),
                    tier=Tier.PRIMARY, start_at=start, end_at=end)  # fmt: skip
        return {"team": team, "shift_id": self._add(row)}

    def stand_in(self, team: str, whose: str) -> dict[str, object]:
        start, end = self._when()
        substitute = self.people[team, "second"]
        row = StandIn(team_id=self.team[team], absent_id=self.owner(team, whose),
                      substitute_id=substitute, start_at=start, end_at=end)  # fmt: skip
        return {"team": team, "stand_in_id": self._add(row)}

    def absence(self, team: str, whose: str) -> dict[str, object]:
        start, end = self._when()
        row = Absence(counsellor_id=self.owner(team, whose), kind=AbsenceKind.HOLIDAY,
                      start_at=start, end_at=end)  # fmt: skip
        return {"team": team, "absence_id": self._add(row)}

    def appointment(self, team: str, whose: str) -> dict[str, object]:
        start, end = self._when()
        row = Appointment(counsellor_id=self.owner(team, whose), client_pseudonym="Falke",
                          client_phone_enc=self.box.seal("+4915123456789"), start_at=start,
                          end_at=end, mode=AppointmentMode.PHONE)  # fmt: skip
        return {"appointment_id": self._add(row)}

    def counsellor(self, team: str, whose: str) -> dict[str, object]:
        return {"counsellor_id": self.owner(team, whose)}

    def callback(self, team: str, _whose: str) -> dict[str, object]:
        row = CallbackRequest(line=team, team_id=self.team[team], phone_hash="p" * 64,
                              phone_enc=self.box.seal("+4915123456789"), client_hash="c" * 64,
                              time_window="morgens")  # fmt: skip
        return {"task_id": self._add(row)}

    def voicemail(self, team: str, _whose: str) -> dict[str, object]:
        row = Voicemail(line=team, team_id=self.team[team], recording_sid=f"RE{next(self._n):032d}",
                        caller_phone_enc=self.box.seal("+4915123456789"))  # fmt: skip
        return {"task_id": self._add(row)}

    def conversation(self, team: str, _whose: str) -> dict[str, object]:
        n = next(self._n)
        client = self.box.seal("+4915123456789")
        row = Conversation(line=team, team_id=self.team[team], code=f"K{n}", channel=Channel.SMS,
                           client_enc=client, client_hash=f"{n:064d}")  # fmt: skip
        return {"conversation_id": self._add(row)}

    def swap(self, team: str, whose: str) -> dict[str, object]:
        row = SwapRequest(team_id=self.team[team], requester_id=self.owner(team, whose),
                          colleague_id=self.people[team, "second"], state="requested")  # fmt: skip
        return {"team": team, "swap_id": self._add(row)}

    def offer(self, team: str, whose: str) -> dict[str, object]:
        shift = self.shift(team, whose)
        row = ShiftOffer(team_id=self.team[team], shift_id=shift["shift_id"],
                         giver_id=self.owner(team, whose), state="open")  # fmt: skip
        return {"team": team, "offer_id": self._add(row)}

    def feed(self, team: str, whose: str) -> dict[str, object]:
        row = FeedToken(token_hash=f"{next(self._n):064d}", counsellor_id=self.owner(team, whose),
                        label="Feed")  # fmt: skip
        return {"token_id": self._add(row)}

    def calendar(self, team: str, whose: str) -> dict[str, object]:
        row = ExternalCalendar(counsellor_id=self.owner(team, whose), label="Privat",
                               url_enc=self.box.seal("https://example.org/cal.ics"),
                               host="example.org")  # fmt: skip
        return {"calendar_id": self._add(row)}

    def outbound_call(self, team: str, whose: str) -> dict[str, object]:
        target = self.appointment(team, whose)["appointment_id"]
        row = OutboundCall(kind="appointment", target_id=target, line=team, actor="tests",
                           counsellor_id=self.owner(team, whose))  # fmt: skip
        return {"call_id": self._add(row)}

    def client(self, team: str, _whose: str) -> dict[str, object]:
        n = next(self._n)
        row = Client(team_id=self.team[team], pseudonym=f"Akte {chr(65 + n % 26)}{n}",
                     phone_enc=self.box.seal("+4915123456789"))  # fmt: skip
        return {"client_id": self._add(row)}

    def plan_step(self, team: str, whose: str) -> dict[str, object]:
        client = self.client(team, whose)
        row = PlanStep(client_id=client["client_id"], title_enc=self.box.seal("Ziel"))
        return {**client, "step_id": self._add(row)}

    def api_key(self, _team: str, _whose: str) -> dict[str, object]:
        with self.db.write() as session:
            key, _ = apikeys.create_api_key(session, f"Schlüssel {next(self._n)}", actor="tests")
            return {"key_id": key.id}

    def account(self, _team: str, _whose: str) -> dict[str, object]:
        """Another account, with a second factor an admin may reset."""
        with self.db.write() as session:
            new = users.NewUser(f"konto{next(self._n)}", PASSWORD, Role.COUNSELLOR)
            user = users.create_user(session, self.settings.config, new, actor="tests")
            secret = self.box.seal(pyotp.random_base32())
            session.add(SecondFactor(user_id=user.id, secret_enc=secret, confirmed_at=utcnow()))
            return {"user_id": user.id}

    def scoped_key(self, teams: list[str], *, read_only: bool = False) -> str:
        with self.db.write() as session:
            name = f"Schlüssel {next(self._n)}"
            _, plain = apikeys.create_api_key(
                session, name, actor="tests", teams=teams, read_only=read_only
            )
        return plain

    def snapshot(self) -> list[tuple[str, list[tuple[Any, ...]]]]:
        """Every row of every table a request may change (sign-in bookkeeping and the access
        log, which a read writes to, aside)."""
        kept = ("web_sessions", "login_attempts", "api_keys", "access_log")
        with self.db.engine.connect() as connection:
            return [
                (table.name, sorted(map(tuple, connection.execute(table.select())), key=repr))
                for table in Base.metadata.sorted_tables
                if table.name not in kept
            ]


Factory = Callable[[World, str, str], dict[str, object]]

# --- every route and what it asks ----------------------------------------------------------------

EVERYONE = frozenset(Role)
STAFF_ROLES = frozenset({Role.ADMIN, Role.COORDINATOR})


@dataclass(frozen=True)
class Page:
    """A page route: the roles it is for, the question that lets a request through (None:
    every account of those roles), the record its URL names, a form to send. A refused request
    answers 403 when its URL names a team, else 404 unless the viewer `see`s the record."""

    roles: frozenset[Role] = EVERYONE
    act: str | None = None
    record: Factory | None = None
    see: str | None = None
    form: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Api:
    """An /api/v1 route: an API key sees and changes its teams' data (every team's, unless it
    names some; a read-only key changes nothing)."""

    record: Factory | None = None
    body: dict[str, Any] | None = None


class Public:
    """No account: the sign-in, health, the public callback form, feeds (the token is the
    credential)."""


class Twilio:
    """Twilio's webhooks: a valid signature is the credential."""


W = World
ROUTES: dict[tuple[str, str], Page | Api | Public | Twilio] = {
    ("GET", "/"): Page(),
    ("POST", "/logout"): Page(),
    ("GET", "/audit"): Page(frozenset({Role.ADMIN})),
    ("GET", "/access-log"): Page(frozenset({Role.ADMIN})),
    ("GET", "/account"): Page(),
    ("POST", "/account/reply-pin"): Page(),
    ("POST", "/account/reply-pin/delete"): Page(),
    ("POST", "/account/password"): Page(),
    ("POST", "/account/sessions/end"): Page(),
    ("POST", "/account/locale"): Page(),
    ("GET", "/accounts"): Page(frozenset({Role.ADMIN})),
    ("POST", "/accounts/new"): Page(frozenset({Role.ADMIN})),
    ("GET", "/accounts/{user_id}"): Page(frozenset({Role.ADMIN}), record=W.account),
    ("POST", "/accounts/{user_id}"): Page(frozenset({Role.ADMIN}), record=W.account),
    ("POST", "/accounts/{user_id}/deactivate"): Page(frozenset({Role.ADMIN}), record=W.account),
    ("POST", "/accounts/{user_id}/reactivate"): Page(frozenset({Role.ADMIN}), record=W.account),
    ("POST", "/accounts/{user_id}/sessions/end"): Page(frozenset({Role.ADMIN}), record=W.account),
    ("POST", "/accounts/{user_id}/invite"): Page(frozenset({Role.ADMIN}), record=W.account),
    ("GET", "/account/second-factor"): Page(),
    ("POST", "/account/second-factor"): Page(),
    ("POST", "/account/second-factor/confirm"): Page(),
    ("POST", "/account/second-factor/recovery-codes"): Page(),
    ("POST", "/account/second-factor/disable"): Page(),
    ("POST", "/accounts/{user_id}/second-factor/reset"): Page(
        frozenset({Role.ADMIN}), record=W.account
    ),
    ("GET", "/apikeys"): Page(frozenset({Role.ADMIN})),
    ("POST", "/apikeys"): Page(frozenset({Role.ADMIN})),
    ("POST", "/apikeys/{key_id}/revoke"): Page(frozenset({Role.ADMIN}), record=W.api_key),
    ("GET", "/counsellors"): Page(STAFF_ROLES),
    ("POST", "/counsellors"): Page(STAFF_ROLES),
    ("GET", "/counsellors/{counsellor_id}"): Page(STAFF_ROLES, "edit_counsellor", W.counsellor),
    ("POST", "/counsellors/{counsellor_id}"): Page(STAFF_ROLES, "edit_counsellor", W.counsellor),
    ("POST", "/counsellors/{counsellor_id}/active"): Page(
        STAFF_ROLES, "edit_counsellor", W.counsellor
    ),
    ("GET", "/reports"): Page(STAFF_ROLES),
    ("GET", "/reports/{team}"): Page(STAFF_ROLES, "see_report", W.team_only),
    ("GET", "/reports/{team}/{table}.csv"): Page(STAFF_ROLES, "see_report", W.report_table),
    ("GET", "/rota"): Page(),
    ("GET", "/rota/{team}"): Page(EVERYONE, "see_team", W.team_only),
    ("POST", "/rota/{team}/shifts"): Page(STAFF_ROLES, "coordinate", W.team_only),
    ("POST", "/rota/{team}/shifts/{shift_id}/delete"): Page(STAFF_ROLES, "coordinate", W.shift),
    ("POST", "/rota/{team}/rotation"): Page(STAFF_ROLES, "coordinate", W.team_only),
    ("POST", "/rota/{team}/standins"): Page(STAFF_ROLES, "coordinate", W.team_only),
    ("POST", "/rota/{team}/standins/{stand_in_id}/delete"): Page(
        STAFF_ROLES, "coordinate", W.stand_in
    ),
    ("POST", "/rota/{team}/absences"): Page(STAFF_ROLES, "coordinate", W.team_only),
    ("POST", "/rota/{team}/absences/{absence_id}/delete"): Page(
        STAFF_ROLES, "coordinate", W.absence
    ),
    ("GET", "/rota/{team}/swaps"): Page(STAFF_ROLES, "decide_swap", W.team_only),
    ("POST", "/rota/{team}/swaps/{swap_id}/approve"): Page(STAFF_ROLES, "decide_swap", W.swap),
    ("POST", "/rota/{team}/swaps/{swap_id}/reject"): Page(STAFF_ROLES, "decide_swap", W.swap),
    ("GET", "/appointments"): Page(),
    ("POST", "/appointments"): Page(),
    ("POST", "/appointments/{appointment_id}/reschedule"): Page(
        EVERYONE,
        "change_appointment",
        W.appointment,
        form={"date": "2031-02-03", "time": "10:00", "duration": "60"},
    ),
    ("POST", "/appointments/{appointment_id}/cancel"): Page(
        EVERYONE, "change_appointment", W.appointment
    ),
    ("POST", "/appointments/{appointment_id}/status"): Page(
        EVERYONE, "change_appointment", W.appointment, form={"status": "done"}
    ),
    ("POST", "/appointments/{appointment_id}/call"): Page(
        EVERYONE, "change_appointment", W.appointment
    ),
    ("GET", "/shifts/mine"): Page(),
    ("POST", "/shifts/mine/swaps"): Page(),
    ("POST", "/shifts/mine/swaps/{swap_id}/withdraw"): Page(EVERYONE, "see_swap", W.swap),
    ("POST", "/shifts/mine/swaps/{swap_id}/accept"): Page(EVERYONE, "see_swap", W.swap),
    ("POST", "/shifts/mine/swaps/{swap_id}/decline"): Page(EVERYONE, "see_swap", W.swap),
    ("POST", "/shifts/mine/offers"): Page(),
    ("POST", "/shifts/mine/offers/{offer_id}/withdraw"): Page(EVERYONE, "see_offer", W.offer),
    ("POST", "/shifts/mine/offers/{offer_id}/take"): Page(EVERYONE, "see_offer", W.offer),
    ("POST", "/rota/{team}/offers"): Page(STAFF_ROLES, "decide_offer", W.team_only),
    ("POST", "/rota/{team}/offers/{offer_id}/approve"): Page(STAFF_ROLES, "decide_offer", W.offer),
    ("POST", "/rota/{team}/offers/{offer_id}/decline"): Page(STAFF_ROLES, "decide_offer", W.offer),
    ("POST", "/rota/{team}/offers/{offer_id}/withdraw"): Page(STAFF_ROLES, "decide_offer", W.offer),
    ("GET", "/tasks"): Page(),
    ("POST", "/tasks/callbacks/{task_id}/status"): Page(
        EVERYONE, "work_task", W.callback, "see_task"
    ),
    ("POST", "/tasks/voicemails/{task_id}/status"): Page(
        EVERYONE, "work_task", W.voicemail, "see_task"
    ),
    ("GET", "/tasks/voicemails/{task_id}/audio"): Page(
        EVERYONE, "work_task", W.voicemail, "see_task"
    ),
    ("POST", "/tasks/voicemails/{task_id}/recording/delete"): Page(
        EVERYONE, "work_task", W.voicemail, "see_task"
    ),
    ("POST", "/tasks/callbacks/{task_id}/call"): Page(
        EVERYONE, "work_task", W.callback, "see_task"
    ),
    ("POST", "/tasks/voicemails/{task_id}/call"): Page(
        EVERYONE, "work_task", W.voicemail, "see_task"
    ),
    ("GET", "/conversations"): Page(),
    ("GET", "/conversations/{conversation_id}"): Page(EVERYONE, "see_conversation", W.conversation),
    ("POST", "/conversations/{conversation_id}/reply"): Page(
        EVERYONE, "staff", W.conversation, "see_conversation"
    ),
    ("POST", "/conversations/{conversation_id}/state"): Page(
        EVERYONE, "staff", W.conversation, "see_conversation"
    ),
    ("GET", "/clients"): Page(),
    ("POST", "/clients"): Page(),
    ("POST", "/clients/link"): Page(),
    ("POST", "/clients/unlink"): Page(),
    ("GET", "/clients/{client_id}"): Page(EVERYONE, "see_client", W.client),
    ("POST", "/clients/{client_id}"): Page(EVERYONE, "change_client", W.client, "see_client"),
    ("POST", "/clients/{client_id}/status"): Page(
        EVERYONE, "change_client", W.client, "see_client", form={"status": "in_counselling"}
    ),
    ("POST", "/clients/{client_id}/review"): Page(
        EVERYONE, "change_client", W.client, "see_client", form={"review_on": "2031-03-01"}
    ),
    ("POST", "/clients/{client_id}/steps"): Page(
        EVERYONE, "change_client", W.client, "see_client", form={"title": "Ziel"}
    ),
    ("POST", "/clients/{client_id}/steps/{step_id}"): Page(
        EVERYONE, "change_client", W.plan_step, "see_client", form={"status": "reached"}
    ),
    ("POST", "/clients/{client_id}/steps/{step_id}/delete"): Page(
        EVERYONE, "change_client", W.plan_step, "see_client"
    ),
    ("POST", "/clients/{client_id}/notes"): Page(
        EVERYONE, "change_client", W.client, "see_client", form={"body": "Notiz"}
    ),
    ("GET", "/clients/{client_id}/export"): Page(EVERYONE, "see_client", W.client),
    ("GET", "/clients/{client_id}/export.json"): Page(EVERYONE, "see_client", W.client),
    ("GET", "/clients/{client_id}/erase"): Page(EVERYONE, "change_client", W.client, "see_client"),
    ("POST", "/clients/{client_id}/erase"): Page(
        EVERYONE, "change_client", W.client, "see_client", form={"confirm": "nicht das Pseudonym"}
    ),
    ("GET", "/calendar"): Page(),
    ("POST", "/calendar/feeds"): Page(),
    ("POST", "/calendar/feeds/{token_id}/revoke"): Page(EVERYONE, "revoke_feed", W.feed),
    ("POST", "/calendar/external"): Page(),
    ("POST", "/calendar/external/{calendar_id}/delete"): Page(EVERYONE, "own_calendar", W.calendar),
    ("GET", "/api/v1/counsellors"): Api(),
    ("POST", "/api/v1/counsellors"): Api(body={}),
    ("GET", "/api/v1/shifts"): Api(),
    ("POST", "/api/v1/shifts"): Api(body={}),
    ("DELETE", "/api/v1/shifts/{shift_id}"): Api(W.shift),
    ("GET", "/api/v1/standins"): Api(),
    ("POST", "/api/v1/standins"): Api(body={}),
    ("GET", "/api/v1/standins/{stand_in_id}"): Api(W.stand_in),
    ("DELETE", "/api/v1/standins/{stand_in_id}"): Api(W.stand_in),
    ("GET", "/api/v1/absences"): Api(),
    ("POST", "/api/v1/absences"): Api(body={}),
    ("GET", "/api/v1/absences/{absence_id}"): Api(W.absence),
    ("DELETE", "/api/v1/absences/{absence_id}"): Api(W.absence),
    ("GET", "/api/v1/oncall"): Api(),
    ("GET", "/api/v1/reports"): Api(),
    ("GET", "/api/v1/appointments"): Api(),
    ("POST", "/api/v1/appointments"): Api(body={}),
    ("GET", "/api/v1/appointments/{appointment_id}"): Api(W.appointment),
    ("POST", "/api/v1/appointments/{appointment_id}/cancel"): Api(W.appointment, {}),
    ("POST", "/api/v1/appointments/{appointment_id}/reschedule"): Api(
        W.appointment, {"start": "2031-02-03T10:00:00+01:00", "end": "2031-02-03T11:00:00+01:00"}
    ),
    ("POST", "/api/v1/appointments/{appointment_id}/status"): Api(
        W.appointment, {"status": "done"}
    ),
    ("POST", "/api/v1/clients"): Api(body={}),
    ("GET", "/api/v1/clients/{client_id}"): Api(W.client),
    ("PATCH", "/api/v1/clients/{client_id}"): Api(W.client, {"status": "paused"}),
    ("GET", "/api/v1/clients/{client_id}/plan"): Api(W.client),
    ("POST", "/api/v1/clients/{client_id}/plan"): Api(W.client, {"title": "Ziel"}),
    ("PATCH", "/api/v1/clients/{client_id}/plan/{step_id}"): Api(
        W.plan_step, {"status": "reached"}
    ),
    ("POST", "/api/v1/callbacks"): Api(body={}),
    ("GET", "/api/v1/callbacks/{call_id}"): Api(W.outbound_call),
    ("GET", "/api/v1/clients/{client_id}/export"): Api(W.client),
    ("DELETE", "/api/v1/clients/{client_id}"): Api(W.client),
    ("GET", "/api/v1/openapi.json"): Public(),
    ("GET", "/login"): Public(),
    ("POST", "/login"): Public(),
    ("GET", "/login/sso"): Public(),
    ("GET", "/login/sso/callback"): Public(),
    ("GET", "/login/second-factor"): Public(),
    ("POST", "/login/second-factor"): Public(),
    ("GET", "/healthz"): Public(),
    ("GET", "/readyz"): Public(),
    ("GET", "/metrics"): Public(),
    ("GET", "/rueckruf/{line}"): Public(),
    ("POST", "/rueckruf/{line}"): Public(),
    ("GET", "/rueckruf/{line}/danke"): Public(),
    ("GET", "/feeds/{token}.ics"): Public(),
    ("GET", "/invite/{token}"): Public(),
    ("POST", "/invite/{token}"): Public(),
    ("GET", "/password/forgot"): Public(),
    ("POST", "/password/forgot"): Public(),
    ("GET", "/password/reset/{token}"): Public(),
    ("POST", "/password/reset/{token}"): Public(),
}
# Public forms signed over the sign-in's nonce: without their CSRF token, a 403.
SIGNED_PUBLIC = {("POST", p) for p in ("/login", "/login/second-factor", "/invite/{token}",
                                       "/password/forgot", "/password/reset/{token}")}  # fmt: skip
ALLOWED = (200, 303, 409, 422)  # done, or refused by the use case for what the form says
API_ALLOWED = (200, 201, 204, 409, 422)


def app_routes(client: TestClient) -> set[tuple[str, str]]:
    found = set()
    for route in client.app.routes:  # type: ignore[attr-defined]
        if isinstance(route, Mount):
            continue
        assert isinstance(route, Route)
        found.update((m, route.path) for m in route.methods or () if m != "HEAD")
    return found


def entry(method: str, path: str) -> Page | Api | Public | Twilio:
    return Twilio() if path.startswith("/twilio/") else ROUTES[method, path]


def url(path: str, params: dict[str, object]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: str(params[m.group(1)]), path)


def expected(path: str, page: Page, relationship: str) -> int | None:
    """None: let through (what the use case then answers is its own business)."""
    account, _team, _whose = RELATIONSHIPS[relationship]
    if ROLES[account] not in page.roles:
        return 403
    if page.act is None or allowed(page.act, relationship):
        return None
    if "{team}" in path:
        return 403  # team slugs are configuration, not secrets
    return 403 if allowed(page.see or page.act, relationship) else 404


@pytest.fixture
def world(database: Database, settings: Settings) -> World:
    return World(database, settings)


@pytest.fixture
def browser(settings: Settings, database: Database) -> Iterator[TestClient]:
    with https_client(settings, database) as client:
        yield client


def sign_in(client: TestClient, username: str) -> str:
    """Sign in; returns the session's CSRF token."""
    client.cookies.clear()
    form = client.get("/login").text
    token = re.search(r'name="csrf" value="([^"]+)"', form)
    assert token is not None
    data = {"username": username, "password": PASSWORD, "csrf": token.group(1), "next": "/"}
    assert client.post("/login", data=data).status_code == 303
    csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/").text)
    assert csrf is not None
    return csrf.group(1)


def test_every_route_has_an_entry(browser: TestClient) -> None:
    routes = app_routes(browser)
    assert {r for r in routes if not r[1].startswith("/twilio/")} == set(ROUTES)


def test_every_route_answers_as_the_policy_says(browser: TestClient, world: World) -> None:
    """Every page route, as each relationship (one world: each request gets records of its
    own, so what an allowed one changes does not matter to the next)."""
    for relationship, (account, team, whose) in RELATIONSHIPS.items():
        csrf = sign_in(browser, account)
        for (method, path), page in sorted(ROUTES.items()):
            if not isinstance(page, Page) or path == "/logout":
                continue
            params = page.record(world, team, whose) if page.record else {}
            answer = expected(path, page, relationship)
            writes = method == "POST"
            before = world.snapshot() if writes and answer is not None else None
            data = {"csrf": csrf, **page.form} if writes else None
            response = browser.request(method, url(path, params), data=data)
            cell = (relationship, method, path)
            if answer is None:
                assert response.status_code in ALLOWED, (*cell, response.status_code)
                assert not response.headers.get("location", "").startswith("/login"), cell
            else:
                assert response.status_code == answer, (*cell, response.status_code)
                if before is not None:
                    assert world.snapshot() == before, ("a refused write changed something", *cell)
        assert browser.post("/logout", data={"csrf": csrf}).status_code == 303


def test_a_foreign_or_missing_id_is_a_404_that_changes_nothing(
    browser: TestClient, world: World
) -> None:
    """Under a team the viewer coordinates, another team's record and one that does not exist
    get the same answer; so do the records of every other id route."""
    for account in ("koord", "berat"):
        csrf = sign_in(browser, account)
        for (method, path), page in sorted(ROUTES.items()):
            if not isinstance(page, Page) or page.record in (None, W.team_only, W.report_table):
                continue
            if ROLES[account] not in page.roles:
                continue
            data = {"csrf": csrf, **page.form} if method == "POST" else None
            foreign = page.record(world, "right-wing", "colleague")
            for params in (foreign, {**foreign, **{k: 999_999 for k in foreign if k != "team"}}):
                params = {**params, "team": "islamism"} if "{team}" in path else params
                before = world.snapshot()
                response = browser.request(method, url(path, params), data=data)
                assert response.status_code == 404, (account, method, path, params)
                assert world.snapshot() == before, (account, method, path)


def test_a_shift_of_another_team_is_not_edited_through_ones_own_team(
    browser: TestClient, world: World
) -> None:
    """The shift form of the rota page names the shift to edit in a field: another team's is
    answered like a missing one, and stays as it was."""
    foreign = world.shift("right-wing", "colleague")["shift_id"]
    csrf = sign_in(browser, "koord")
    form = {"csrf": csrf, "counsellor_id": str(world.people["islamism", "colleague"]),
            "tier": "primary", "start_date": "2031-03-02", "start_time": "09:00",
            "end_date": "2031-03-02", "end_time": "17:00"}  # fmt: skip
    before = world.snapshot()
    for shift_id in (foreign, 999_999):
        edited = browser.post("/rota/islamism/shifts", data={**form, "shift_id": str(shift_id)})
        assert edited.status_code == 404
    assert world.snapshot() == before


def test_anonymous_visitors_are_sent_to_sign_in_and_machines_need_their_credentials(
    browser: TestClient, settings: Settings, world: World
) -> None:
    for (method, path), route in sorted(ROUTES.items()):
        target = url(
            path, dict.fromkeys(re.findall(r"\{(\w+)\}", path), 999) | {"line": "islamism"}
        )
        response = browser.request(method, target)
        if isinstance(route, Page):
            assert response.status_code == (303 if method == "GET" else 403), (method, path)
            if method == "GET":
                assert response.headers["location"].startswith("/login?next=")
        elif isinstance(route, Api):
            assert response.status_code == 401, (method, path)
        elif (method, path) not in SIGNED_PUBLIC:  # without its CSRF token: a 403
            assert response.status_code not in (401, 403), (method, path)
    # A browser session is no credential for the API or Twilio's webhooks.
    sign_in(browser, "chef")
    for method, path in sorted(app_routes(browser)):
        machine = isinstance(entry(method, path), Api | Twilio)
        if machine:
            ids = ("shift_id", "stand_in_id", "absence_id", "appointment_id", "call_id",
                   "client_id", "step_id")  # fmt: skip
            response = browser.request(method, url(path, dict.fromkeys(ids, 1)))
            assert response.status_code in (401, 403), (method, path)
    browser.cookies.clear()
    for method, path in sorted(app_routes(browser)):
        if isinstance(entry(method, path), Twilio):
            signed = post_signed(browser, settings, f"{settings.public_url}{path}", {})
            assert signed.status_code not in (401, 403), path
            assert signed.status_code < 500, path


def test_an_api_key_sees_everything_and_a_missing_id_is_a_404(
    client: TestClient, api_key: str, world: World
) -> None:
    client.headers["Authorization"] = f"Bearer {api_key}"
    for (method, path), route in sorted(ROUTES.items()):
        if not isinstance(route, Api):
            continue
        for team in ("islamism", "right-wing"):
            params = route.record(world, team, "colleague") if route.record else {}
            response = client.request(method, url(path, params), json=route.body)
            assert response.status_code in API_ALLOWED, (method, path, response.status_code)
            if route.record:
                missing = {k: 999_999 for k in params if k != "team"}
                response = client.request(method, url(path, missing), json=route.body)
                assert response.status_code == 404, (method, path)


def test_a_key_of_one_team_gets_nothing_of_another_and_changes_nothing(
    client: TestClient, world: World
) -> None:
    """A key of islamism: another team's record is a 404 (as if missing), its own team's record
    is answered; a refused request changes nothing."""
    client.headers["Authorization"] = f"Bearer {world.scoped_key(['islamism'])}"
    for (method, path), route in sorted(ROUTES.items()):
        if not isinstance(route, Api) or route.record is None:
            continue
        own = route.record(world, "islamism", "colleague")
        answered = client.request(method, url(path, own), json=route.body)
        assert answered.status_code in API_ALLOWED, (method, path, answered.status_code)
        foreign = route.record(world, "right-wing", "colleague")
        before = world.snapshot()
        refused = client.request(method, url(path, foreign), json=route.body)
        assert refused.status_code == 404, (method, path, refused.status_code)
        assert world.snapshot() == before, (method, path)


def test_a_read_only_key_reads_and_every_write_is_a_403_that_changes_nothing(
    client: TestClient, world: World
) -> None:
    client.headers["Authorization"] = f"Bearer {world.scoped_key([], read_only=True)}"
    for (method, path), route in sorted(ROUTES.items()):
        if not isinstance(route, Api):
            continue
        params = route.record(world, "right-wing", "colleague") if route.record else {}
        before = world.snapshot()
        response = client.request(method, url(path, params), json=route.body)
        if method == "GET":
            assert response.status_code in API_ALLOWED, (method, path, response.status_code)
        else:
            assert response.status_code == 403, (method, path, response.status_code)
            assert "read-only" in response.json()["message"], (method, path)
        assert world.snapshot() == before, (method, path)


def test_scoped_and_read_only_keys_as_the_policy_sees_them() -> None:
    islamism = access.for_api_key(2, "isl", [Team(id=ISLAMISM.id, slug="islamism")])
    reader = access.for_api_key(3, "reader", read_only=True)
    for team in ("islamism", ISLAMISM.id):
        assert access.may_see_team(islamism, team)
        assert access.may_coordinate(islamism, team)
        assert access.is_staff(islamism, team)
    for team in ("right-wing", RIGHT_WING.id):
        assert not access.may_see_team(islamism, team)
        assert not access.may_coordinate(islamism, team)
        assert not access.is_staff(islamism, team)
    assert not islamism.sees_everything
    assert access.may_change_appointment(islamism, 11, [ISLAMISM.id])
    assert not access.may_change_appointment(islamism, 21, [RIGHT_WING.id])
    assert not access.may_see_appointment(islamism, 21, [RIGHT_WING.id])
    for ask in (access.may_see_absence, access.may_change_absence):
        assert ask(islamism, [RIGHT_WING.id, ISLAMISM.id]), ask  # one of her teams is enough
        assert not ask(islamism, [RIGHT_WING.id]), ask
        assert not ask(islamism, []), ask  # a counsellor in no team
    assert access.may_see_absence(reader, [])
    assert not access.may_change_absence(reader, [RIGHT_WING.id])
    assert access.may_see_team(reader, "right-wing")
    assert reader.sees_everything
    assert access.may_see_appointment(reader, 21, [RIGHT_WING.id])
    for ask in (access.may_coordinate, access.may_work_task, access.may_call_back_task):
        assert not ask(reader, "right-wing"), ask
    assert not access.may_change_appointment(reader, 21, [RIGHT_WING.id])
    assert not access.may_edit_counsellor(reader, [RIGHT_WING.id])
    assert access.may_list_counsellor(reader, [RIGHT_WING.id])
    assert access.may_list_counsellor(islamism, [ISLAMISM.id])
    assert not access.may_list_counsellor(islamism, [RIGHT_WING.id])
    assert not access.may_list_counsellor(islamism, [])


# --- the bug of issue 13, told as a story --------------------------------------------------------


def test_a_coordinator_whose_counsellor_is_in_another_team_does_not_coordinate_it(
    browser: TestClient, world: World, config: HotlineConfig
) -> None:
    """`hotline user add --role coordinator --team islamism --counsellor-id N`, N in right-wing:
    she sees the right-wing rota and works its tasks as a counsellor, but cannot change its
    rota, read or cancel its appointments, or edit its counsellors. Nothing changes."""
    shift = world.shift("right-wing", "colleague")["shift_id"]
    theirs = world.appointment("right-wing", "colleague")["appointment_id"]
    tomorrow = utcnow().replace(microsecond=0) + timedelta(days=1)
    own = world._add(
        Appointment(counsellor_id=world.people["doppel"], client_pseudonym="Eigen",
                    start_at=tomorrow, end_at=tomorrow + timedelta(hours=1),
                    mode=AppointmentMode.PHONE)
    )  # fmt: skip
    colleague = world.people["right-wing", "colleague"]
    csrf = sign_in(browser, "doppel")
    before = world.snapshot()
    refused = {
        ("POST", f"/rota/right-wing/shifts/{shift}/delete"): 403,
        ("POST", "/rota/right-wing/shifts"): 403,
        ("POST", "/rota/right-wing/rotation"): 403,
        ("POST", "/rota/right-wing/standins"): 403,
        ("POST", "/rota/right-wing/absences"): 403,
        ("GET", "/rota/right-wing/swaps"): 403,
        ("GET", "/appointments?team=right-wing"): 403,
        ("POST", f"/appointments/{theirs}/cancel"): 404,
        ("POST", f"/appointments/{theirs}/call"): 404,
        ("GET", f"/counsellors/{colleague}"): 404,
        ("POST", f"/counsellors/{colleague}/active"): 404,
    }
    form = {"csrf": csrf, "counsellor_id": str(colleague), "tier": "primary",
            "start_date": "2031-03-02", "start_time": "09:00", "end_date": "2031-03-02",
            "end_time": "17:00"}  # fmt: skip
    for (method, target), status in refused.items():
        response = browser.request(method, target, data=form if method == "POST" else None)
        assert response.status_code == status, (method, target, response.status_code)
    book = {**form, "team": "right-wing", "pseudonym": "X", "date": "2031-03-03", "time": "10:00",
            "duration": "60", "mode": "phone"}  # fmt: skip
    assert browser.post("/appointments", data=book).status_code == 403
    person = {"csrf": csrf, "name": "Neu", "phone": "0151 77777777", "teams": ["right-wing"]}
    assert browser.post("/counsellors", data=person).status_code == 422  # not her team
    in_both = {**person, "teams": ["islamism", "right-wing"]}
    assert browser.post(f"/counsellors/{colleague}", data=in_both).status_code == 404
    assert world.snapshot() == before
    page = browser.get("/appointments").text
    assert "Eigen" in page
    assert "Falke" not in page
    assert "right-wing" not in re.findall(r'name="team" value="([^"]+)"', page)
    rota = browser.get("/rota/right-wing")
    assert rota.status_code == 200  # a counsellor of the team sees its rota ...
    assert "Rotation" not in rota.text
    assert f"/shifts/{shift}/delete" not in rota.text
    assert browser.get("/rota/islamism").status_code == 200
    assert "/rota/islamism/swaps" in browser.get("/rota/islamism").text
    with world.db.read() as session:
        assert session.get(Shift, shift) is not None
        stored = session.get(Appointment, theirs)
        assert stored is not None
        assert stored.status.value == "booked"
        assert session.get(Appointment, own) is not None
        assert session.get(Counsellor, colleague).active  # type: ignore[union-attr]
