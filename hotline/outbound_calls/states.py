"""The status of a call-back's counsellor leg (`OutboundCall.status`): Twilio's words, in the
order the leg moves, then our own outcomes. Status callbacks come late and twice, so the status
only moves forward."""

from __future__ import annotations

from foundation.models import OutboundCall

QUEUED = "queued"
_RANK = {QUEUED: 0, "initiated": 1, "ringing": 2, "in-progress": 3}
ENDED = frozenset({"completed", "busy", "no-answer", "failed", "canceled"})
SIMULATED = "simulated"  # the outbox took it (simulation mode)
NOT_PLACED = "not_placed"  # certainly not placed
UNCERTAIN = "uncertain"  # Twilio may have placed it: moved on by its reports, if any come
OWN = frozenset({SIMULATED, NOT_PLACED, UNCERTAIN})  # set by us
FINAL = OWN - {UNCERTAIN}  # never moved
TAKES = frozenset({QUEUED, SIMULATED})  # Twilio accepted the call (or the outbox took it)
ACTIVE = frozenset(_RANK)


def advance(call: OutboundCall, status: str) -> None:
    """Move the counsellor leg's status forward only (status callbacks come late and twice).
    Twilio's reports of an `uncertain` call show it was placed after all."""
    if call.status in FINAL or call.status in ENDED:
        return
    if call.status == UNCERTAIN and status in OWN:
        return
    if status in ENDED or status in OWN or _RANK.get(status, -1) > _RANK.get(call.status, -1):
        call.status = status


def reported(status: str) -> bool:
    """A status Twilio reports for the leg (its progress or its end)."""
    return status in ENDED or status in _RANK
