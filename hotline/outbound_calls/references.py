"""The reference in a call-back's TwiML URLs: `id.issued.signature`, the call-back's id and when
it was started, signed with HOTLINE_SECRET_KEY. Opaque to Twilio, no number in it, and good only
for as long as the step it serves may take."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from config.settings import Settings
from foundation import crypto

# The webhooks of a call-back (web.twilio.outbound_calls); each URL carries only `ref`.
ANSWER_PATH = "/twilio/call-back/answer"
CONNECT_PATH = "/twilio/call-back/connect"
DIALED_PATH = "/twilio/call-back/dialed"
STATUS_PATH = "/twilio/call-back/status"
REF_PURPOSE = "call-back-ref"
BRIDGE_WITHIN = timedelta(minutes=10)  # to answer and press 1: the client is dialled only then
FOLLOW_UP = timedelta(hours=12)  # the Dial's end and status callbacks, after a long talk
CLOCK_SKEW = timedelta(seconds=5)  # between the processes that issue and read references


def _signature(settings: Settings, call_id: int, issued: int) -> str:
    return crypto.keyed_hash(settings, REF_PURPOSE, f"{call_id}:{issued}")


def make_ref(settings: Settings, call_id: int, issued: datetime) -> str:
    """`id.issued.signature`: opaque to Twilio, no number in it."""
    stamp = int(issued.timestamp())
    return f"{call_id}.{stamp}.{_signature(settings, call_id, stamp)}"


def read_ref(settings: Settings, ref: str, now: datetime, valid_for: timedelta) -> int | None:
    """The call-back id of a genuine reference no older than `valid_for`, else None."""
    parts = ref.split(".")
    if len(parts) != 3 or not all(
        part.isascii() and part.isdigit() and len(part) < 16 for part in parts[:2]
    ):
        return None
    call_id, issued = int(parts[0]), int(parts[1])
    if not crypto.same(parts[2], _signature(settings, call_id, issued)):
        return None
    age = now - datetime.fromtimestamp(issued, UTC)
    return call_id if -CLOCK_SKEW <= age <= valid_for else None


def url(settings: Settings, path: str, ref: str) -> str:
    return f"{settings.public_url}{path}?ref={ref}"
