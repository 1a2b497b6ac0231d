"""Who may see or change what: the one place access is decided.

A `Principal` is who asks: a signed-in account or an API key. Every page, API route and use
case asks the questions below before it touches data, and decides nothing of its own.

Two kinds of team relationship are kept apart on purpose:

* `account_teams` (User.teams, the `user_teams` table): for a coordinator account, the teams
  she coordinates; for any account, teams whose staff she is.
* `member_teams`: the teams the account's linked counsellor record belongs to. They give
  counsellor rights in the team (see its rota, work its tasks and conversations), never
  coordinator rights: a coordinator of one team who is a counsellor in another must not edit
  the other team's rota or read its appointments.

The rules, by question ("coordination": an admin, an API key, or a coordinator account of
the team; "staff": the account or its linked counsellor is in the team):

* `may_see_team` (its rota, its task and conversation lists): admins, API keys, staff.
* `may_coordinate` (its rota, stand-ins, absences, swaps, counsellors, appointments): the
  coordination.
* `is_staff` (see and work what its clients left): staff, API keys.
* `may_change_appointment`: the coordination, and its own counsellor.
* `may_edit_counsellor`: the coordination of one of her teams.
* `may_see_absence` / `may_change_absence` (a person's, in every team): who sees the rota of
  / the coordination of one of her teams.
* `may_call_back_task` / `may_call_back_appointment`: staff / who may change it.
* `may_see_swap` / `may_decide_swap`: its two counsellors and the coordination / the
  coordination.
* `may_offer_shift` (offer a shift to its team): its holder and the coordination;
  `may_see_offer` (an open shift): its giver and taker and whoever sees the team (its
  counsellors may take it); `may_decide_offer`: the coordination.
* `may_see_client` / `may_change_client` (a client record: its timeline, plan and notes;
  link a contact to it): staff and API keys of the team / the same, if they may write. Never
  an admin as such.
* `may_manage_accounts`: admins.
* `may_revoke_feed`: who holds or issued it, the coordination of its team or counsellor.

Admins see every team's lists but not what clients left, unless the account is also staff
of the team. An API key has a scope: every team or some (`key_teams`), read and write or
read-only. Within its teams a key counts as their coordination and their staff; a read-only key
sees what such a key sees and changes nothing (`may_write`); outside its teams it sees nothing.

Pages and the API answer a record the principal may not see exactly like a missing one
(404): a refused id tells nothing about whether it exists. A record the principal sees but
may not change is refused as such (403, or the use case's own message).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from foundation.models import Counsellor, Role, Team, User

TeamKey = int | str  # a team by its row id or by its slug


@dataclass(frozen=True, slots=True)
class TeamRef:
    id: int
    slug: str


@dataclass(frozen=True, slots=True)
class Principal:
    """Who asks. `role` is None for an API key and for the service itself (`system`)."""

    actor: str  # how the audit log names this principal's changes
    role: Role | None = None
    system: bool = False
    user_id: int | None = None
    api_key_id: int | None = None
    account_teams: frozenset[TeamRef] = frozenset()
    counsellor_id: int | None = None
    member_teams: frozenset[TeamRef] = frozenset()
    key_teams: frozenset[TeamRef] | None = None  # an API key's teams; None: every team
    read_only: bool = False

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN

    @property
    def is_key(self) -> bool:
        return self.api_key_id is not None

    @property
    def sees_everything(self) -> bool:
        """Every team's data: admins, the service itself and API keys of every team."""
        return self.is_admin or self.system or (self.is_key and self.key_teams is None)

    @property
    def may_write(self) -> bool:
        """Changes anything at all (a read-only API key does not)."""
        return not self.read_only

    @property
    def changes_everything(self) -> bool:
        """Every team's coordination: admins, the service, API keys of every team that write."""
        return self.sees_everything and self.may_write


def _key_has(p: Principal, team: TeamKey) -> bool:
    """An API key's scope covers the team."""
    return p.is_key and (p.key_teams is None or _among(p.key_teams, team))


def _among(teams: frozenset[TeamRef], team: TeamKey) -> bool:
    return any(ref.id == team or ref.slug == team for ref in teams)


def _refs(teams: Iterable[Team]) -> frozenset[TeamRef]:
    return frozenset(TeamRef(team.id, team.slug) for team in teams)


# --- principals ---------------------------------------------------------------------------------


def for_user(session: Session, user: User) -> Principal:
    """The principal of an account, with the teams of its linked counsellor record."""
    counsellor = session.get(Counsellor, user.counsellor_id) if user.counsellor_id else None
    return Principal(
        actor=f"user:{user.id} {user.username}",
        role=user.role,
        user_id=user.id,
        account_teams=_refs(user.teams),
        counsellor_id=user.counsellor_id,
        member_teams=_refs(counsellor.teams) if counsellor is not None else frozenset(),
    )


def load_user(session: Session, user_id: int | None) -> Principal | None:
    """The principal of an active account, or None."""
    user = session.get(User, user_id) if user_id is not None else None
    if user is None or not user.active:
        return None
    return for_user(session, user)


def for_api_key(
    key_id: int, name: str, teams: Iterable[Team] | None = None, *, read_only: bool = False
) -> Principal:
    """An API key: of every team (`teams` None) or of the given ones; perhaps read-only."""
    return Principal(
        actor=f"api-key:{key_id} {name}",
        api_key_id=key_id,
        key_teams=None if teams is None else _refs(teams),
        read_only=read_only,
    )


def system(actor: str) -> Principal:
    """The service itself (the command line, scheduled jobs): sees and works everything."""
    return Principal(actor=actor, system=True)


# --- teams --------------------------------------------------------------------------------------


def is_staff(p: Principal, team: TeamKey) -> bool:
    """Works in the team: sees what its clients left (tasks, conversations) and acts on it."""
    if p.system or p.is_key:
        return p.system or _key_has(p, team)
    return _among(p.account_teams | p.member_teams, team)


def may_coordinate(p: Principal, team: TeamKey) -> bool:
    """Changes the team: its rota, stand-ins, absences, swaps, counsellors, appointments. A
    linked counsellor's membership never counts here."""
    if not p.may_write:
        return False
    if p.changes_everything or (p.is_key and _key_has(p, team)):
        return True
    return p.role is Role.COORDINATOR and _among(p.account_teams, team)


def may_see_team(p: Principal, team: TeamKey) -> bool:
    """Sees the team's rota and its lists of tasks and conversations (their content only as
    staff)."""
    return p.sees_everything or is_staff(p, team)


def may_see_report(p: Principal, team: TeamKey) -> bool:
    """The team's report (counts only, small ones protected: foundation.reports): admins, the
    team's coordinators, API keys whose scope covers it (read-only ones too); never a
    counsellor's membership."""
    if p.sees_everything or _key_has(p, team):
        return True
    return p.role is Role.COORDINATOR and _among(p.account_teams, team)


def teams_seen(p: Principal, slugs: Iterable[str]) -> list[str]:
    return [slug for slug in slugs if may_see_team(p, slug)]


def teams_coordinated(p: Principal, slugs: Iterable[str]) -> list[str]:
    return [slug for slug in slugs if may_coordinate(p, slug)]


def may_manage_accounts(p: Principal) -> bool:
    """Create, change, deactivate accounts and end their sessions: admins only (not an API key,
    not the service: the command line has its own `hotline user add`)."""
    return p.is_admin


def sees_outbox(p: Principal) -> bool:
    """The simulated outbox on the dashboard (it names counsellors' and clients' messages)."""
    return p.role is not Role.COUNSELLOR


# --- records ------------------------------------------------------------------------------------


def may_change_appointment(
    p: Principal, counsellor_id: int, counsellor_teams: Iterable[TeamKey]
) -> bool:
    """Sees and changes an appointment (pseudonym, location, the client's number masked)."""
    if p.changes_everything or (p.may_write and counsellor_id == p.counsellor_id):
        return True
    return any(may_coordinate(p, team) for team in counsellor_teams)


def may_see_appointment(
    p: Principal, counsellor_id: int, counsellor_teams: Iterable[TeamKey]
) -> bool:
    """Sees an appointment: who may change it, and a read-only API key of one of her teams."""
    teams = list(counsellor_teams)
    if p.read_only:
        return p.sees_everything or any(_key_has(p, team) for team in teams)
    return may_change_appointment(p, counsellor_id, teams)


def may_edit_counsellor(p: Principal, counsellor_teams: Iterable[TeamKey]) -> bool:
    return p.changes_everything or any(may_coordinate(p, team) for team in counsellor_teams)


def may_list_counsellor(p: Principal, counsellor_teams: Iterable[TeamKey]) -> bool:
    """A counsellor in no team yet is listed to every coordinator and to keys of every team
    (only an admin edits her); a read-only key lists the counsellors of its teams."""
    teams = list(counsellor_teams)
    if p.is_key:
        return p.key_teams is None or any(_key_has(p, team) for team in teams)
    return not teams or may_edit_counsellor(p, teams)


def may_see_absence(p: Principal, counsellor_teams: Iterable[TeamKey]) -> bool:
    """An absence is a person's, in every team: seen with the rota of one of her teams (one of
    a counsellor in no team only by who sees everything)."""
    return p.sees_everything or any(may_see_team(p, team) for team in counsellor_teams)


def may_change_absence(p: Principal, counsellor_teams: Iterable[TeamKey]) -> bool:
    """Enter or delete an absence: the coordination of one of her teams (as on its rota)."""
    return may_edit_counsellor(p, counsellor_teams)


def may_see_task(p: Principal, team: TeamKey) -> bool:
    """A callback request or a voicemail is listed (what the client left only to staff)."""
    return may_see_team(p, team)


def may_work_task(p: Principal, team: TeamKey) -> bool:
    """A callback request or a voicemail: take it, mark it done, hear and delete the audio."""
    return p.may_write and is_staff(p, team)


def may_see_conversation(p: Principal, team: TeamKey) -> bool:
    """Open a conversation (what was written only as staff: `is_staff`)."""
    return may_see_team(p, team)


def may_see_client(p: Principal, team: TeamKey) -> bool:
    """A client record of the team, its list, timeline, plan and notes: the team's staff
    (coordinators and counsellors) and API keys whose scope covers the team, read-only ones
    too. An admin who is not staff of the team sees no client of it."""
    return is_staff(p, team)


def may_change_client(p: Principal, team: TeamKey) -> bool:
    """Create and change a client of the team, its plan and notes, and link contacts to it."""
    return p.may_write and is_staff(p, team)


def may_call_back_task(p: Principal, team: TeamKey) -> bool:
    return may_work_task(p, team)


def may_call_back_appointment(
    p: Principal, counsellor_id: int, counsellor_teams: Iterable[TeamKey]
) -> bool:
    return may_change_appointment(p, counsellor_id, counsellor_teams)


def may_see_swap(p: Principal, requester_id: int, colleague_id: int, team: TeamKey) -> bool:
    if p.counsellor_id is not None and p.counsellor_id in (requester_id, colleague_id):
        return True
    return may_coordinate(p, team)


def may_decide_swap(p: Principal, team: TeamKey) -> bool:
    return may_coordinate(p, team)


def may_offer_shift(p: Principal, holder_id: int, team: TeamKey) -> bool:
    """Offer a shift to its team (and take the offer back): its holder, or the coordination."""
    if p.counsellor_id is not None and p.counsellor_id == holder_id:
        return True
    return may_coordinate(p, team)


def may_see_offer(p: Principal, giver_id: int, taker_id: int | None, team: TeamKey) -> bool:
    """An open shift: its giver and taker, and whoever sees the team's rota."""
    if p.counsellor_id is not None and p.counsellor_id in (giver_id, taker_id):
        return True
    return may_see_team(p, team)


def may_decide_offer(p: Principal, team: TeamKey) -> bool:
    """Approve or decline a taken open shift, and offer any shift of the team."""
    return may_coordinate(p, team)


@dataclass(frozen=True, slots=True)
class FeedOwner:
    """Whose a calendar feed URL is: a counsellor's own feed or a team's rota feed."""

    issued_by: int | None  # the account that issued it
    counsellor_id: int | None
    counsellor_teams: tuple[int, ...]
    team_id: int | None


def may_revoke_feed(p: Principal, feed: FeedOwner) -> bool:
    """The holder (their own feed, or a feed they issued), an admin, or a coordinator of the
    team (of the rota feed, or of the counsellor whose feed it is)."""
    if p.changes_everything or (p.user_id is not None and feed.issued_by == p.user_id):
        return True
    if feed.counsellor_id is not None and feed.counsellor_id == p.counsellor_id:
        return True
    if feed.team_id is not None:
        return may_coordinate(p, feed.team_id)
    return any(may_coordinate(p, team) for team in feed.counsellor_teams)


def may_subscribe_team(p: Principal, team: TeamKey) -> bool:
    """A team's rota feed: whoever sees the rota."""
    return may_see_team(p, team)


def may_change_own_calendar(p: Principal, counsellor_id: int) -> bool:
    """A counsellor's own calendars (busy times): only her own account."""
    return p.counsellor_id is not None and p.counsellor_id == counsellor_id


# --- facts from the database --------------------------------------------------------------------


def counsellor_team_ids(session: Session, counsellor_id: int) -> list[int]:
    counsellor = session.get(Counsellor, counsellor_id)
    return [team.id for team in counsellor.teams] if counsellor is not None else []


def team_ids(session: Session, slugs: Iterable[str]) -> list[int]:
    wanted = list(slugs)
    if not wanted:
        return []
    return list(session.scalars(select(Team.id).where(Team.slug.in_(wanted))))
