"""The Starlette application. Everything is built here, from settings; nothing at import time."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import anyio
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates
from starlette.types import Receive, Scope, Send

from config.settings import Settings
from foundation import accounts, once, signals, users
from foundation.clock import utcnow
from foundation.db import Database, make_engine
from foundation.jobs import Job
from foundation.outgoing import Provider
from foundation.teams import sync_teams
from hotline import hours, providers
from scheduling.notices import changes
from scheduling.scheduler import Scheduler
from scheduling.shifts import Rota
from web import (
    access_log_pages,
    account_admin_pages,
    account_pages,
    api,
    apikey_pages,
    appointment_actions,
    appointment_booking,
    appointment_pages,
    auth,
    calendar_pages,
    callback_request_pages,
    client_pages,
    client_request_pages,
    conversation_pages,
    counsellor_pages,
    feed,
    health,
    i18n,
    offer_pages,
    pages,
    password_pages,
    report_pages,
    rota_edit_pages,
    rota_pages,
    rotation_pages,
    second_factor_pages,
    sso_pages,
    swap_pages,
    task_pages,
    team_offer_pages,
    team_swap_pages,
)
from web.filters import install as install_filters
from web.headers import security_headers
from web.health import Edge
from web.metrics import Metrics
from web.openapi import document
from web.twilio import fastlane, hotpath, outbound_calls, sms, voice

log = logging.getLogger(__name__)
TEMPLATES = Path(__file__).with_name("templates")
WEBHOOK_THREADS_SQLITE = 2
WEBHOOK_THREADS = 8
STATIC = Path(__file__).with_name("static")
PLAIN_404 = ("/api/", "/twilio/", "/static/")


def app_version() -> str:
    try:
        return version("konex-hotline")
    except PackageNotFoundError:
        return "0+unknown"


Jobs = Callable[[Database, Settings, Provider], Sequence[Job]]


class Service(Starlette):
    """The service's Starlette app, with the voice webhook's fast lane in front of its
    middleware stack: a POST to /twilio/voice is the lane's first (`web.twilio.fastlane`), and
    whatever it does not answer goes the usual way."""

    lane: fastlane.VoiceLane | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.lane is not None and fastlane.takes(scope):
            scope["app"] = self
            await self.lane(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)

    async def route(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Starlette's way: its middleware stack, the router, the route."""
        await super().__call__(scope, receive, send)


def create_app(
    settings: Settings,
    *,
    database: Database | None = None,
    jobs: Jobs | None = None,
    provider: Provider | None = None,
) -> Starlette:
    """The web service. `database` lets tests hand in their own; by default one is built from
    settings (the schema must already be up to date: `hotline db upgrade`, or `hotline serve`).
    `jobs`: also run the scheduler with these jobs (reminders, shift notices) in this process,
    as `hotline serve` does (`app.compose.jobs`). `provider`: the way out for messages and
    calls (default: as the settings say, `hotline.providers.for_settings`)."""
    db = database or Database(make_engine(settings.database_url))
    way_out = provider or providers.for_settings(db, settings)
    rota = Rota(settings.config)
    changes.watch(db, settings)  # shift changes made here queue change notices
    signals.ROTA.watch()  # and drop the first answers kept in memory, in every process
    templates = Jinja2Templates(directory=TEMPLATES)  # autoescapes by default
    catalogues = i18n.load()
    i18n.install(templates.env)
    install_filters(templates.env, settings.config.organisation.zone)
    templates.env.globals.update(settings=settings, config=settings.config)
    openapi = document(app_version(), settings.config)
    metrics = Metrics(db, settings.config.lines)
    edge = Edge(metrics, security_headers(https=settings.public_url.startswith("https")))

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await run_in_threadpool(_sync_teams, db, settings)
        # Call webhooks run in worker threads; more threads than the database can serve at
        # once only hand work back and forth (SQLite: one writer; PostgreSQL: the pool).
        app.state.webhook_limiter = anyio.CapacityLimiter(
            WEBHOOK_THREADS_SQLITE if db.engine.dialect.name == "sqlite" else WEBHOOK_THREADS
        )
        # Incoming calls are answered from memory while the rota stands still (web.twilio.hotpath).
        recorder = hotpath.Recorder(db)
        scheduler = Scheduler(jobs(db, settings, way_out)) if jobs is not None else None
        app.state.scheduler = scheduler
        if scheduler is not None:
            scheduler.start()
        async with anyio.create_task_group() as tasks:
            app.state.snapshots = hotpath.Snapshots()
            app.state.recorder = recorder
            app.state.busy = hotpath.BusyWatch(db)  # who is in a conversation now
            app.state.tasks = tasks
            tasks.start_soon(recorder.run)
            tasks.start_soon(app.state.busy.run)
            if db.engine.dialect.name == "postgresql":  # rota changes other processes commit
                listener = signals.Listener(db.engine, signals.ROTA)
                tasks.start_soon(listener.run)
                with anyio.move_on_after(signals.CONNECT_TIMEOUT):  # serve once it listens
                    await listener.listening.wait()
            tasks.start_soon(_housekeeping, db)
            yield
            app.state.recorder = None
            app.state.busy = None
            app.state.tasks = None
            tasks.cancel_scope.cancel()
        if scheduler is not None:
            await run_in_threadpool(scheduler.shutdown)
        if database is None:
            db.dispose()

    async def openapi_json(_request: Request) -> Response:
        return JSONResponse(openapi)

    async def not_found(request: Request, exc: Exception) -> Response:
        """An unknown page gets the error page (in the account's language); API, webhooks and
        files a plain 404."""
        if request.method in ("GET", "HEAD") and not request.url.path.startswith(PLAIN_404):
            return await auth.unknown_page(request)
        return PlainTextResponse(getattr(exc, "detail", "Not Found"), status_code=404)

    app = Service(
        routes=[
            *voice.routes,  # first: the routes that must answer fastest
            *outbound_calls.routes,
            *sms.routes,
            *pages.routes,
            *sso_pages.routes,
            *access_log_pages.routes,
            *account_pages.routes,
            *account_admin_pages.routes,
            *password_pages.routes,
            *second_factor_pages.routes,
            *counsellor_pages.routes,
            *apikey_pages.routes,
            *rota_pages.routes,
            *report_pages.routes,
            *rota_edit_pages.routes,
            *rotation_pages.routes,
            *appointment_pages.routes,
            *appointment_booking.routes,
            *appointment_actions.routes,
            *swap_pages.routes,
            *team_swap_pages.routes,
            *offer_pages.routes,
            *team_offer_pages.routes,
            *calendar_pages.routes,
            *feed.routes,
            *task_pages.routes,
            *conversation_pages.routes,
            *client_pages.routes,
            *client_request_pages.routes,
            *callback_request_pages.routes,
            Route("/api/v1/openapi.json", openapi_json, methods=["GET"]),
            *api.routes,
            *health.routes,
            Mount("/static", StaticFiles(directory=STATIC), name="static"),
        ],
        middleware=[
            Middleware(health.MetricsMiddleware, edge=edge),
            Middleware(i18n.LanguageMiddleware, catalogues=catalogues),
        ],
        exception_handlers={404: not_found},
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.db = db
    app.state.provider = way_out  # every message and call goes out through it
    app.state.rota = rota  # who is on call, as telephony asks it
    app.state.metrics = metrics
    app.state.closed_reasons = hours.ClosedReasons()  # the hot path asks at every call
    app.state.started_at = utcnow()  # /readyz gives a scheduler this long to show up
    app.state.templates = templates
    app.state.catalogues = catalogues  # the pages' languages (web.i18n)
    app.lane = fastlane.VoiceLane(app.state, app.route, edge)
    return app


HOUSEKEEPING_SECONDS = 3600


async def _housekeeping(db: Database) -> None:
    """Hourly: delete sign-in sessions that have expired and throttling records nobody needs."""
    while True:
        await anyio.sleep(HOUSEKEEPING_SECONDS)
        try:
            await run_in_threadpool(_sweep, db)
        except Exception as exc:
            log.error("housekeeping failed (%s)", type(exc).__name__)


def _sweep(db: Database) -> None:
    auth.sweep(db)
    with db.write() as session:
        users.forget_old_attempts(session)
        accounts.forget_used_tokens(session)
        once.forget_before(session, utcnow() - callback_request_pages.TOKEN_LIFETIME)


def _sync_teams(db: Database, settings: Settings) -> None:
    with db.write() as session:
        sync_teams(session, settings.config)
