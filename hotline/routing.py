"""Who gets a call or a message: pure functions over the people on call, the line and the
call's context. No database, no clock.

* `team_of` says whose rota answers (a line's relatives may go to another team).
* `plan` returns the steps of a call, in order: one step per tier (sequential) or everyone at
  once (`ring_all`), leaving out whoever is busy in another conversation, and those who speak
  the caller's language before the others; voice rings one step after the other. `wanted` is
  everyone a call would ring if nobody were busy.
* `first_reachable` is the one counsellor a message or a notice goes to: the first primary,
  else the first backup; the text relay's failover asks for the next one after a tier.

Who is on call comes from the rota (`scheduling.shifts.Rota`, handed in by the code that
composes the service as a `Rota`): telephony never reads shifts itself.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from sqlalchemy.orm import Session

from config.model import Line
from foundation.models import Tier

TIERS = (Tier.PRIMARY, Tier.BACKUP)


class Reachable(Protocol):
    """A counsellor as routing needs her: who, and the number to ring."""

    @property
    def id(self) -> int: ...

    @property
    def phone(self) -> str: ...

    @property
    def languages(self) -> Sequence[str]: ...  # ISO 639-1 codes she can counsel in


class OnCall(Protocol):
    """Who is on call for a team at an instant, in calling order per tier."""

    @property
    def primary(self) -> Sequence[Reachable]: ...

    @property
    def backup(self) -> Sequence[Reachable]: ...

    @property
    def next_change(self) -> datetime | None: ...


class Rota(Protocol):
    """Asks the rota who is on call in `team` (a slug) at `at`; with `next_change`, also when
    that changes next (the voice hot path keeps its answer until then)."""

    def __call__(
        self, session: Session, team: str, at: datetime, *, next_change: bool = False
    ) -> OnCall: ...


@dataclass(frozen=True, slots=True)
class Target:
    """A counsellor to ring: who, the number to dial, and the tier she is rung at."""

    counsellor_id: int
    phone: str
    tier: Tier | None = field(default=None, compare=False)  # the whisper passes it on


@dataclass(frozen=True, slots=True)
class Reached:
    """The counsellor a message goes to, and the tier she was found in."""

    counsellor_id: int
    phone: str
    tier: Tier


def team_of(line: Line, *, relative: bool) -> str:
    """The team whose rota answers: the line's, or for relatives its relatives team."""
    return line.relatives_team if relative and line.relatives_team else line.team


def _tier(on_call: OnCall, tier: Tier) -> Sequence[Reachable]:
    return on_call.primary if tier is Tier.PRIMARY else on_call.backup


def _tiers(line: Line, relative: bool) -> list[Tier]:
    return [Tier(name) for name in line.relatives_tiers] if relative else list(TIERS)


def wanted(on_call: OnCall, line: Line, *, relative: bool = False) -> frozenset[int]:
    """Everyone a call would ring if nobody were busy."""
    return frozenset(c.id for tier in _tiers(line, relative) for c in _tier(on_call, tier))


def plan(
    on_call: OnCall,
    line: Line,
    *,
    relative: bool = False,
    busy: Collection[int] = (),
    language: str | None = None,
) -> list[list[Target]]:
    """The steps of a call: the line's tiers in order (for relatives, `relatives_tiers`), each
    counsellor once, in the first tier she is on (however often the rota names her); those in
    `busy` (in another conversation) are not rung, and empty tiers are skipped, so the call goes
    straight to the next person or tier. `ring_all` rings everyone at once: one step.

    With the caller's `language`, those on call who speak it come first, in the same tier
    order, and then the rest of those on call (with `ring_all`: everyone who speaks it at once,
    then everyone else at once)."""
    tiers: list[list[Target]] = []
    seen: set[int] = set(busy)
    for tier in _tiers(line, relative):
        step = []
        for counsellor in _tier(on_call, tier):
            if counsellor.id not in seen:
                seen.add(counsellor.id)
                step.append(Target(counsellor.id, counsellor.phone, tier))
        tiers.append(step)
    if language is None:
        groups = [tiers]
    else:
        speaks = {
            counsellor.id
            for tier in _tiers(line, relative)
            for counsellor in _tier(on_call, tier)
            if language in counsellor.languages
        }
        groups = [
            [[target for target in step if target.counsellor_id in speaks] for step in tiers],
            [[target for target in step if target.counsellor_id not in speaks] for step in tiers],
        ]
    steps: list[list[Target]] = []
    for group in groups:
        if line.strategy == "ring_all":
            group = [[target for step in group for target in step]]
        steps += [step for step in group if step]
    return steps


def first_reachable(
    on_call: OnCall, *, tiers: Sequence[Tier] = TIERS, exclude: Collection[int] = ()
) -> Reached | None:
    """The first counsellor of the first tier (of `tiers`) that has one not in `exclude`."""
    for tier in tiers:
        for counsellor in _tier(on_call, tier):
            if counsellor.id not in exclude:
                return Reached(counsellor.id, counsellor.phone, tier)
    return None
