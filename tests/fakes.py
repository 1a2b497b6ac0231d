"""In-process fakes of the service's ports, honest implementations rather than mocks."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from foundation.outgoing import Outgoing, OutgoingCall


@dataclass
class RecordingProvider:
    """A `foundation.outgoing.Provider` that records what it was asked to send and place;
    `outcomes` scripts failures (an exception is raised instead of sending, None sends)."""

    messages: list[Outgoing] = field(default_factory=list)
    calls: list[OutgoingCall] = field(default_factory=list)
    outcomes: list[Exception | None] = field(default_factory=list)
    simulated: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def sent(self) -> list[str]:
        """The bodies sent, in order."""
        return [message.body for message in self.messages]

    def _outcome(self) -> None:
        outcome = self.outcomes.pop(0) if self.outcomes else None
        if outcome is not None:
            raise outcome

    def send(self, message: Outgoing) -> str:
        with self.lock:
            self._outcome()
            self.messages.append(message)
            return f"ID{len(self.messages)}"

    def call(self, call: OutgoingCall) -> str:
        with self.lock:
            self._outcome()
            self.calls.append(call)
            return f"CA{len(self.calls):032d}"


@dataclass(frozen=True, slots=True)
class Person:
    """A counsellor as routing sees her (`hotline.routing.Reachable`)."""

    id: int
    phone: str
    languages: tuple[str, ...] = ("de",)


@dataclass(frozen=True, slots=True)
class OnCall:
    """Who is on call, as plain data (`hotline.routing.OnCall`)."""

    primary: Sequence[Person] = ()
    backup: Sequence[Person] = ()
    next_change: datetime | None = None


@dataclass
class FixedRota:
    """A `hotline.routing.Rota` that answers from a table (team slug -> who is on call; a team
    not in it has nobody) and records what it was asked: (team, instant, next_change)."""

    teams: dict[str, OnCall] = field(default_factory=dict)
    asked: list[tuple[str, datetime, bool]] = field(default_factory=list)

    def __call__(
        self, session: Session, team: str, at: datetime, *, next_change: bool = False
    ) -> OnCall:
        self.asked.append((team, at, next_change))
        return self.teams.get(team, OnCall())
