"""One poll of a feed: the token looked up, then 304 or the body, in one read transaction and a
short write only when the ETag changed or last_used_at is stale.

Most polls are answered 304 from the fingerprint (`queries.fingerprint`) without rendering; a
rendered body is kept in memory by its ETag (`Bodies`) for the next subscriber that asks.
Conditional requests follow RFC 9110: If-None-Match (weak comparison) wins over
If-Modified-Since, which only counts while the ETag is the one last served.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parsedate_to_datetime

from config.settings import Settings
from foundation.clock import utcnow
from foundation.db import Database
from scheduling.feeds import queries, tokens
from scheduling.feeds.events import window

BODY_CACHE = 16  # rendered feeds kept in memory, by ETag


@dataclass
class Bodies:
    """Rendered feeds by ETag, the `BODY_CACHE` most recently used (per app)."""

    bodies: OrderedDict[str, bytes] = field(default_factory=OrderedDict)

    def body(self, etag: str) -> bytes | None:
        found = self.bodies.get(etag)
        if found is not None:
            self.bodies.move_to_end(etag)
        return found

    def keep(self, etag: str, body: bytes) -> None:
        self.bodies[etag] = body
        while len(self.bodies) > BODY_CACHE:
            self.bodies.popitem(last=False)


@dataclass(frozen=True, slots=True)
class Answer:
    status: int  # 200, 304 or 404
    etag: str = ""
    changed: datetime | None = None
    body: bytes | None = None


def etag_matches(header: str, etag: str) -> bool:
    """If-None-Match uses the weak comparison (RFC 9110 13.1.2)."""
    if header.strip() == "*":
        return True
    return any(part.strip().removeprefix("W/") == etag for part in header.split(","))


def not_modified_since(header: str, changed: datetime) -> bool:
    try:
        since = parsedate_to_datetime(header)
    except (TypeError, ValueError, IndexError):
        return False
    if since.tzinfo is None:
        return False
    return changed.replace(microsecond=0) <= since


def answer(
    db: Database,
    settings: Settings,
    bodies: Bodies,
    plain: str,
    if_none_match: str | None,
    if_modified_since: str | None,
) -> Answer:
    """The feed for `plain`, or 304 or 404: one read transaction, a short write only when the
    ETag changed or last_used_at is stale."""
    now = utcnow()
    with db.read() as session:
        token = tokens.find_live(session, plain)
        if token is None:
            return Answer(404)
        span = window(now, settings.config.organisation.zone, settings.config.feeds)
        mark = queries.fingerprint(session, settings, token.owner, span)
        values = tokens.served_update(token, mark.etag, now)
        changed = values.get("changed_at", token.changed_at)
        assert isinstance(changed, datetime)
        fresh = "changed_at" not in values
        unchanged = (
            etag_matches(if_none_match, mark.etag)
            if if_none_match is not None
            else fresh
            and if_modified_since is not None
            and not_modified_since(if_modified_since, changed)
        )
        body = None
        if not unchanged:
            body = bodies.body(mark.etag)
            if body is None:
                body = queries.build(session, settings, token.owner, span)
                bodies.keep(mark.etag, body)
    if values:
        with db.write() as session:
            tokens.record_served(session, token.id, values)
    return Answer(304 if unchanged else 200, mark.etag, changed, body)
