"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from config.settings import Settings
from foundation.db import ping

log = logging.getLogger(__name__)
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class Metrics:
    """The service's own registry (not the global one: every app, and every test, has its own)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "hotline_http_requests",
            "HTTP requests",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "hotline_http_request_duration_seconds",
            "HTTP request latency",
            ["route"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )


class MetricsMiddleware:
    """Counts requests by route template (never by raw path: paths can carry tokens), and
    adds `extra_headers` (the security headers) to every response: one layer for both, as
    every incoming call passes through it."""

    def __init__(
        self, app: ASGIApp, metrics: Metrics, extra_headers: Sequence[tuple[bytes, bytes]] = ()
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.extra_headers = list(extra_headers)
        self._names = {name for name, _ in self.extra_headers}
        self._counters: dict[tuple[str, str, str], Any] = {}
        self._timers: dict[str, Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        extra, names = self.extra_headers, self._names

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = message.get("headers", ())
                if extra:
                    present = {name.lower() for name, _ in headers} & names
                    message["headers"] = [
                        *headers,
                        *(item for item in extra if item[0] not in present),
                    ]
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            key = (scope["method"], route, str(status))
            counter = self._counters.get(key)
            if counter is None:
                counter = self._counters[key] = self.metrics.requests.labels(*key)
            counter.inc()
            timer = self._timers.get(route)
            if timer is None:
                timer = self._timers[route] = self.metrics.latency.labels(route)
            timer.observe(time.perf_counter() - started)


async def healthz(_request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    try:
        await run_in_threadpool(ping, request.app.state.db.engine)
    except SQLAlchemyError as exc:
        log.warning("readiness check failed: %s", type(exc).__name__)
        return JSONResponse({"status": "database unreachable"}, status_code=503)
    return JSONResponse({"status": "ok"})


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
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


routes = [
    Route("/healthz", healthz, methods=["GET"]),
    Route("/readyz", readyz, methods=["GET"]),
    Route("/metrics", metrics, methods=["GET"]),
]
