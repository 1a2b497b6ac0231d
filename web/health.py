"""Liveness, readiness and Prometheus metrics (what they show: `web.metrics`)."""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from datetime import timedelta
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from config.settings import Settings
from foundation import heartbeats
from foundation.clock import utcnow
from foundation.db import Database, ping
from web.metrics import Metrics

log = logging.getLogger(__name__)
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
# HTTP's methods; any other a client makes up is counted as OTHER_METHOD (as sent, every new
# one would be a new series, kept in memory and in every scrape).
METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"}
)
OTHER_METHOD = "other"


class Edge:
    """What every response gets on its way out, whichever layer answers it: `extra_headers`
    (the security headers) unless the response set them itself, and a count by method and
    route template (never by raw path: paths can carry tokens; never a made-up method:
    `METHODS`) with its latency. The middleware applies it to everything Starlette answers,
    the voice webhook's fast lane (`web.twilio.fastlane`) to what it answers itself."""

    def __init__(self, metrics: Metrics, extra_headers: Sequence[tuple[bytes, bytes]] = ()) -> None:
        self.metrics = metrics
        self.extra_headers = list(extra_headers)
        self._names = {name for name, _ in self.extra_headers}
        self._counters: dict[tuple[str, str, str], Any] = {}
        self._timers: dict[str, Any] = {}

    def headers(self, headers: Sequence[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
        """`headers` and the extra ones it lacks."""
        extra = self.extra_headers
        if not extra:
            return list(headers)
        present = {name.lower() for name, _ in headers} & self._names
        return [*headers, *(item for item in extra if item[0] not in present)]

    def count(self, method: str, route: str, status: int, started: float) -> None:
        """One request to `route` (a template), answered with `status`, begun at `started`
        (`time.perf_counter()`)."""
        method = method if method in METHODS else OTHER_METHOD
        key = (method, route, str(status))
        counter = self._counters.get(key)
        if counter is None:
            counter = self._counters[key] = self.metrics.requests.labels(*key)
        counter.inc()
        timer = self._timers.get(route)
        if timer is None:
            timer = self._timers[route] = self.metrics.latency.labels(route)
        timer.observe(time.perf_counter() - started)


class MetricsMiddleware:
    """The `Edge` of everything Starlette answers: one layer for the security headers and the
    request metrics, as every request passes through it."""

    def __init__(self, app: ASGIApp, edge: Edge) -> None:
        self.app = app
        self.edge = edge

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        edge = self.edge

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = edge.headers(message.get("headers", ()))
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            edge.count(scope["method"], route, status, started)


async def healthz(_request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    """The database answers, and (unless `?skip=scheduler`, or `[scheduler]
    stale_after_seconds = 0`) some scheduler process runs the jobs: none of them is late by
    more than the allowance, and one has run at all once this process has been up that long."""
    settings: Settings = request.app.state.settings
    allowance = settings.config.scheduler.stale_after_seconds
    judge = allowance > 0 and request.query_params.get("skip") != "scheduler"
    try:
        beats = await run_in_threadpool(_ready, request.app.state.db, judge)
    except SQLAlchemyError as exc:
        log.warning("readiness check failed: %s", type(exc).__name__)
        return JSONResponse({"status": "database unreachable"}, status_code=503)
    if beats is None:
        return JSONResponse({"status": "ok"})
    now, limit = utcnow(), timedelta(seconds=allowance)
    if not beats:
        if now - request.app.state.started_at <= limit:
            return JSONResponse({"status": "ok"})  # a scheduler starting along with us
        return JSONResponse({"status": "scheduler never ran"}, status_code=503)
    late = heartbeats.late(beats, now, limit)
    if late:
        return JSONResponse({"status": "scheduler late", "late": late}, status_code=503)
    return JSONResponse({"status": "ok"})


def _ready(db: Database, judge_scheduler: bool) -> list[heartbeats.Beat] | None:
    ping(db.engine)
    if not judge_scheduler:
        return None
    with db.read() as session:
        return heartbeats.read(session)


async def metrics(request: Request) -> Response:
    """Prometheus text, for the monitoring only: with HOTLINE_METRICS_TOKEN set, to a request
    that presents it as a bearer token; without it, in development to anyone and in
    production to no one (404, as if there were no such page)."""
    settings: Settings = request.app.state.settings
    token = settings.metrics_token
    if token is None:
        if settings.production:
            return PlainTextResponse("Not Found", status_code=404)
    else:
        scheme, _, presented = request.headers.get("authorization", "").partition(" ")
        expected = str(token).encode()
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            presented.strip().encode(), expected
        ):
            return PlainTextResponse(
                "a valid metrics token is required (Authorization: Bearer ...)",
                status_code=401,
                headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
            )
    registry: CollectorRegistry = request.app.state.metrics.registry
    # Off the event loop: the database's figures are read while the text is generated.
    text = await run_in_threadpool(generate_latest, registry)
    return Response(text, media_type=CONTENT_TYPE_LATEST)


routes = [
    Route("/healthz", healthz, methods=["GET"]),
    Route("/readyz", readyz, methods=["GET"]),
    Route("/metrics", metrics, methods=["GET"]),
]
