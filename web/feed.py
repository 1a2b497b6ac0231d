"""GET /feeds/{token}.ics: a calendar feed, for calendar apps (no session, no cookies).

* Every bad token (malformed, unknown, revoked, deactivated counsellor) gets the same 404.
* The poll itself (token, fingerprint, 304 or body, the body cache) is
  `scheduling.feeds.serving`; this module is HTTP only.
* Rate limited in memory, per client address and per token (token buckets).
* The token is never logged: the access log is off (`hotline serve`), metrics label the route
  template, and errors are logged by exception type only.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from scheduling.feeds import serving, tokens
from scheduling.feeds.serving import Bodies

log = logging.getLogger(__name__)
MEDIA_TYPE = "text/calendar; charset=utf-8"
COMMON = {
    "cache-control": "private, no-cache",
    "referrer-policy": "no-referrer",
    "x-robots-tag": "noindex",
}


@dataclass
class Bucket:
    tokens: float
    at: float


@dataclass
class Limiter:
    """Token buckets: `capacity` requests at once, refilled at `rate` per second."""

    capacity: float
    rate: float
    buckets: dict[str, Bucket] = field(default_factory=dict)

    def allow(self, key: str, now: float) -> bool:
        bucket = self.buckets.get(key)
        if bucket is None:
            if len(self.buckets) > 10_000:
                self._prune(now)
            bucket = self.buckets[key] = Bucket(self.capacity, now)
        bucket.tokens = min(self.capacity, bucket.tokens + (now - bucket.at) * self.rate)
        bucket.at = now
        if bucket.tokens < 1:
            return False
        bucket.tokens -= 1
        return True

    def _prune(self, now: float) -> None:
        """Forget buckets that have filled up again (they would start full anyway)."""
        full = [
            key
            for key, bucket in self.buckets.items()
            if bucket.tokens + (now - bucket.at) * self.rate >= self.capacity
        ]
        for key in full:
            del self.buckets[key]


@dataclass
class FeedState:
    """Per app: the limiters and the rendered-body cache."""

    # Calendar services (Google) fetch many people's feeds from few addresses: be generous.
    by_address: Limiter = field(default_factory=lambda: Limiter(120, 2.0))
    # One subscriber polls every few minutes at most; 20 at once, then one every 30 s.
    by_token: Limiter = field(default_factory=lambda: Limiter(20, 1 / 30))
    bodies: Bodies = field(default_factory=Bodies)


def _state(request: Request) -> FeedState:
    state: FeedState | None = getattr(request.app.state, "feeds", None)
    if state is None:
        state = request.app.state.feeds = FeedState()
    return state


def not_found() -> Response:
    """One answer for every bad token."""
    return Response("Not Found", 404, media_type="text/plain", headers=COMMON)


def too_many() -> Response:
    return Response(
        "Too Many Requests", 429, media_type="text/plain", headers={**COMMON, "retry-after": "60"}
    )


def _http_date(moment: datetime) -> str:
    return format_datetime(moment.astimezone(UTC).replace(microsecond=0), usegmt=True)


async def feed(request: Request) -> Response:
    state = _state(request)
    now = time.monotonic()
    address = request.client.host if request.client else "unknown"
    if not state.by_address.allow(address, now):
        return too_many()
    plain = str(request.path_params.get("token", ""))
    if not tokens.well_formed(plain):
        return not_found()
    if not state.by_token.allow(tokens.digest(plain), now):
        return too_many()
    try:
        result = await run_in_threadpool(
            serving.answer,
            request.app.state.db,
            request.app.state.settings,
            state.bodies,
            plain,
            request.headers.get("if-none-match"),
            request.headers.get("if-modified-since"),
        )
    except Exception as exc:  # logged by type only: the URL holds the token
        log.error("feed failed (%s)", type(exc).__name__)
        return Response("Service Unavailable", 503, media_type="text/plain", headers=COMMON)
    if result.status == 404:
        return not_found()
    assert result.changed is not None
    headers = {**COMMON, "etag": result.etag, "last-modified": _http_date(result.changed)}
    if result.status == 304:
        return Response(status_code=304, headers=headers)
    headers["content-disposition"] = 'inline; filename="kalender.ics"'
    return Response(result.body or b"", 200, media_type=MEDIA_TYPE, headers=headers)


routes = [Route("/feeds/{token}.ics", feed, methods=["GET"])]
