"""The delivery states of a relayed message (`ConversationMessage.status`) and their order.

The flood limit adds two states of its own (`flood_limit.CLIENT_LIMITED`, `TEAM_LIMITED`).
"""

from __future__ import annotations

from foundation.models import ConversationMessage

HELD = "held"  # outside the line's hours: stored, not relayed
UNROUTED = "unrouted"  # nobody on call: stored, not relayed
AUTO = "auto"  # the out-of-hours answer, sent as the webhook's TwiML
QUEUED = "queued"
SENDING = "sending"
SENT = "sent"
DELIVERED = "delivered"
READ = "read"
FAILED = "failed"
UNDELIVERED = "undelivered"
UNCERTAIN = "uncertain"  # may or may not have gone out (Twilio's console knows)

# States only move forward: a status callback that repeats or comes late changes nothing.
_RANK = {
    QUEUED: 0,
    SENDING: 1,
    UNCERTAIN: 1,
    SENT: 2,
    DELIVERED: 3,
    FAILED: 3,
    UNDELIVERED: 3,
    READ: 4,
}


def advance(row: ConversationMessage, status: str) -> bool:
    """Move the row's state forward (never back); True if it moved."""
    if _RANK.get(status, -1) <= _RANK.get(row.status, -1):
        return False
    row.status = status
    return True
